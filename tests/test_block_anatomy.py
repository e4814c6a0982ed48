"""Inside a block (core/lessons/block_anatomy.py): residual norms, the two norms on one vector, and the feed-forward's
units, against independent computations (numpy, and the models' own torch norm modules)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.lessons import block_anatomy as ba
from tests.support.models import loaded

TEXT = "The highest mountain in the world is"


@pytest.fixture(scope="module", params=["smollm2-135m", "classic"])
def model_and_trace(request):
    lm = loaded(request.param)
    target = TEXT if lm.config.architecture == "encoder-decoder" else None
    return lm, lm.trace(TEXT, target=target, dtype=np.float32)


def test_residual_norms_are_the_lengths_of_the_recorded_vectors(model_and_trace):
    lm, tr = model_and_trace
    numbers = ba.residual_norms(tr, lm.config.norm_placement == "post")
    hidden = np.asarray(tr.hidden_states, dtype=np.float64)  # (L + 1, T, d)
    np.testing.assert_allclose(numbers.stream, np.sqrt((hidden**2).sum(-1)), rtol=1e-5)
    for i, layer in enumerate(tr.layers):
        np.testing.assert_allclose(numbers.attention[i], np.linalg.norm(layer.self_attn.out, axis=-1), rtol=1e-5)
        np.testing.assert_allclose(numbers.feed_forward[i], np.linalg.norm(layer.mlp.out, axis=-1), rtol=1e-5)
        if lm.config.norm_placement == "pre":  # what was added is exactly the difference of the stream
            added = np.asarray(layer.resid_mid, np.float64) - np.asarray(layer.resid_pre, np.float64)
            np.testing.assert_allclose(numbers.attention[i], np.linalg.norm(added, axis=-1), rtol=1e-4)
    assert (numbers.cross is not None) == (lm.config.architecture == "encoder-decoder")


@pytest.mark.parametrize("where", ba.WHERE)
def test_the_models_norm_of_the_vector_is_what_the_model_computed(model_and_trace, where):
    lm, tr = model_and_trace
    layer, token = len(tr.layers) - 1, 2
    c = ba.compare_norms(lm, tr, layer, token, where)
    recorded = tr.layers[layer].attn_norm if where == "attn" else tr.layers[layer].mlp_norm
    np.testing.assert_allclose(c.out, np.asarray(recorded[token], dtype=np.float64), rtol=1e-4, atol=1e-5)
    block = lm.module.stack.layers[layer]
    module = block.attn_norm if where == "attn" else block.mlp_norm
    with torch.no_grad():
        by_torch = module(torch.tensor(c.x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(c.out, by_torch, rtol=1e-4, atol=1e-5)


def test_layernorm_and_rmsnorm_have_their_defining_moments():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=64)
    ln, rms = ba.layer_norm(x, 1e-6), ba.rms_norm(x, 1e-6)
    assert abs(ln.mean()) < 1e-12 and ln.var() == pytest.approx(1.0, rel=1e-5)
    assert np.mean(rms**2) == pytest.approx(1.0, rel=1e-5)
    assert rms.mean() == pytest.approx(x.mean() / np.sqrt(np.mean(x**2)), rel=1e-5)
    with torch.no_grad():
        expected = torch.nn.functional.layer_norm(torch.tensor(x), (64,), eps=1e-6).numpy()
    np.testing.assert_allclose(ln, expected, rtol=1e-10)


def test_the_other_kind_is_computed_beside_with_the_same_gain(model_and_trace):
    lm, tr = model_and_trace
    c = ba.compare_norms(lm, tr, 0, 1, "attn")
    assert {c.kind, c.other_kind} == {"layernorm", "rmsnorm"}
    assert c.kind == lm.config.norm
    other = ba.layer_norm(c.x, c.eps) if c.other_kind == "layernorm" else ba.rms_norm(c.x, c.eps)
    np.testing.assert_allclose(c.other, other)
    np.testing.assert_allclose(c.other_out, other * c.gain + (0 if c.bias is None else c.bias))


def test_feed_forward_units_and_sparsity(model_and_trace):
    lm, tr = model_and_trace
    a = ba.feed_forward_activity(tr, lm.config, 1, 3)
    act = np.asarray(tr.layers[1].mlp.act[3], dtype=np.float32)
    np.testing.assert_array_equal(a.act, act)
    assert np.all(np.abs(act[a.top]) >= np.sort(np.abs(act))[-len(a.top)])
    assert a.sparsity.zero == pytest.approx(float(np.mean(act == 0)))
    assert a.sparsity.near_zero == pytest.approx(float(np.mean(np.abs(act) <= 0.01 * np.abs(act).max())))
    whole = ba.text_sparsity(tr)
    assert 0 <= whole.zero <= whole.near_zero <= 1
    if lm.config.activation == "relu":  # ReLU: every negative input gives exactly 0
        pre = np.asarray(tr.layers[1].mlp.pre[3])
        assert a.sparsity.zero == pytest.approx(float(np.mean(pre <= 0)))
        assert whole.zero > 0.2
    else:
        assert whole.zero < 0.01
