"""The logit lens and direct logit attribution (core/lessons/logit_lens.py), against independent numpy computations on
small random models of each kind of norm (RMSNorm, Gemma's offset RMSNorm with sandwich norms and a soft-cap,
LayerNorm with biases) and on SmolLM2: the lens at the last layer is the model's own prediction, and the
contributions sum to the logit exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.lessons import logit_lens
from tests.support.models import loaded
from tests.support.small_models import SMALL, V, small_lm

TEXT = "The highest mountain in the world is"
@pytest.fixture(scope="module")
def smollm():
    return loaded("smollm2-135m")


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def numpy_norm(norm, x: np.ndarray) -> np.ndarray:
    """The final norm written out in float64 from its parameters."""
    w = norm.weight.detach().double().numpy()
    if isinstance(norm, torch.nn.LayerNorm):
        centred = x - x.mean(-1, keepdims=True)
        return centred / np.sqrt(x.var(-1, keepdims=True) + norm.eps) * w + norm.bias.detach().double().numpy()
    gain = 1.0 + w if norm.unit_offset else w
    return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + norm.eps) * gain


def numpy_lens(lm, h: np.ndarray) -> np.ndarray:
    """(T, vocab) float64 logits of the residual stream h (T, d) read through the final norm and W_U."""
    config = lm.config
    logits = numpy_norm(lm.module.stack.norm, h) @ lm.module.lm_head.weight.detach().double().numpy().T
    if config.final_logit_softcap is not None:
        logits = np.tanh(logits / config.final_logit_softcap) * config.final_logit_softcap
    return logits


@pytest.mark.parametrize("kind", list(SMALL))
def test_the_lens_equals_an_independent_computation_at_every_layer(kind):
    lm = small_lm(kind)
    tr = lm.trace(TEXT, dtype=np.float32)
    grid = logit_lens.lens_grid(tr, 0, width=100, k=3)
    hidden = np.asarray(tr.hidden_states, dtype=np.float64)  # (L + 1, T, d)
    assert grid.top_ids.shape == (lm.config.n_layers + 1, len(tr.token_ids), 3)
    for layer in range(hidden.shape[0]):
        probs = softmax(numpy_lens(lm, hidden[layer]))
        expected = np.sort(probs, axis=-1)[:, ::-1][:, :3]
        np.testing.assert_allclose(grid.top_probs[layer], expected, rtol=1e-4, atol=1e-6)
        top = probs.argmax(-1)
        np.testing.assert_allclose(grid.final_probs[layer], probs[np.arange(len(top)), grid.final_ids], rtol=1e-4,
                                   atol=1e-7)
    # the last layer is the model's own prediction
    own = softmax(np.asarray(tr.logits, dtype=np.float64))
    np.testing.assert_array_equal(grid.final_ids, own.argmax(-1))
    np.testing.assert_allclose(grid.top_probs[-1, :, 0], own.max(-1), rtol=1e-5)


def test_the_lens_at_the_last_layer_is_the_models_own_prediction(smollm):
    tr = smollm.trace(TEXT)  # float16, as on the page: the lens reads the stream the model computed with
    last = len(tr.token_ids) - 1
    grid = logit_lens.lens_grid(tr, 0)
    own = softmax(tr.last_logits.astype(np.float64))
    assert grid.final_ids[-1] == own.argmax()
    np.testing.assert_allclose(grid.top_probs[-1, -1], np.sort(own)[::-1][: logit_lens.TOP_K], rtol=1e-4)
    one = logit_lens.position_lens(tr, last)
    assert one.candidates[0] == own.argmax()
    np.testing.assert_allclose(one.probs[-1], own[one.candidates], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(one.logits[-1], tr.last_logits[one.candidates], rtol=1e-5, atol=1e-4)


def test_rows_computed_a_few_at_a_time_give_the_same_grid(monkeypatch):
    lm = small_lm("llama")
    tr = lm.trace(TEXT, dtype=np.float32)
    whole = logit_lens.lens_grid(tr, 3, width=20)
    monkeypatch.setattr(logit_lens, "ROW_BUDGET", V * 2)  # two rows at a time
    parts = logit_lens.lens_grid(tr, 3, width=20)
    np.testing.assert_array_equal(whole.top_ids, parts.top_ids)
    np.testing.assert_allclose(whole.top_probs, parts.top_probs, rtol=1e-6)
    assert whole.start == 3 and whole.top_ids.shape[1] == min(20, len(tr.token_ids) - 3)


def test_decided_is_the_first_layer_of_the_last_run_of_agreement():
    top1 = np.array([[5, 1, 2, 7], [5, 9, 2, 7], [3, 9, 2, 8], [5, 9, 2, 7]])  # (layers, positions)
    np.testing.assert_array_equal(logit_lens.decided_layers(top1), [3, 1, 0, 3])


@pytest.mark.parametrize("kind", list(SMALL))
def test_the_contributions_sum_to_the_logit_and_equal_an_independent_computation(kind):
    lm = small_lm(kind)
    tr = lm.trace(TEXT, dtype=np.float32)
    t = 6
    a = logit_lens.attribute(tr, t)
    config, module = lm.config, lm.module
    h_final = np.asarray(tr.stack.layers[-1].resid_post[t], dtype=np.float64)
    raw = numpy_norm(module.stack.norm, h_final) @ module.lm_head.weight.detach().double().numpy().T
    assert a.token_id == raw.argmax()
    np.testing.assert_allclose(a.logit, raw[a.token_id], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.total, a.logit, rtol=1e-5, atol=1e-5)  # the sum identity
    if config.final_logit_softcap is None:
        np.testing.assert_allclose(a.logit, tr.logits[t, a.token_id], rtol=1e-5, atol=1e-5)

    # w, written out: the final norm held linear at its scale for h_L[t]
    u = module.lm_head.weight[a.token_id].detach().double().numpy()
    norm = module.stack.norm
    gain = norm.weight.detach().double().numpy() + (1.0 if getattr(norm, "unit_offset", False) else 0.0)
    if isinstance(norm, torch.nn.LayerNorm):
        s = 1 / np.sqrt(h_final.var() + norm.eps)
        w = s * (gain * u - (gain * u).mean())
        assert a.norm_bias == pytest.approx(float(norm.bias.detach().double().numpy() @ u), rel=1e-6)
    else:
        s = 1 / np.sqrt(np.mean(h_final**2) + norm.eps)
        w = s * gain * u
    assert a.scale == pytest.approx(s, rel=1e-5)
    assert a.embedding == pytest.approx(float(np.asarray(tr.stack.embed_out[t], dtype=np.float64) @ w), rel=1e-4, abs=1e-5)
    for i, layer in enumerate(tr.layers):
        block = module.stack.layers[i]
        w_sub = w
        if block.attn_post_norm is not None:  # Gemma: its sandwich norm, held linear at its own scale
            out = np.asarray(layer.self_attn.out[t], dtype=np.float64)
            g = block.attn_post_norm.weight.detach().double().numpy() + 1.0
            w_sub = w * g / np.sqrt(np.mean(out**2) + block.attn_post_norm.eps)
        z = np.asarray(layer.self_attn.z[:, t], dtype=np.float64)  # (nh, hs)
        w_o = block.self_attn.o_proj.weight.detach().double().numpy()  # (d, nh * hs)
        heads = [z[h] @ w_o[:, h * z.shape[1] : (h + 1) * z.shape[1]].T @ w_sub for h in range(z.shape[0])]
        np.testing.assert_allclose(a.heads[i], heads, rtol=1e-4, atol=1e-5)
        added = np.asarray(layer.resid_post[t], dtype=np.float64) - np.asarray(layer.resid_mid[t], dtype=np.float64)
        assert a.feed_forward[i] == pytest.approx(float(added @ w), rel=1e-4, abs=1e-4)
    for unit in a.units:
        block = module.stack.layers[unit.layer]
        act = float(tr.layers[unit.layer].mlp.act[t, unit.unit])
        assert unit.act == pytest.approx(act, rel=1e-5, abs=1e-6)
        assert unit.contribution == pytest.approx(unit.act * unit.direction, rel=1e-6)
    ranked = [abs(unit.contribution) for unit in a.units]
    assert ranked == sorted(ranked, reverse=True)


def test_the_real_models_contributions_sum_to_its_logit(smollm):
    tr = smollm.trace(TEXT)
    a = logit_lens.attribute(tr, len(tr.token_ids) - 1)
    assert a.token_id == int(np.argmax(tr.last_logits))
    assert a.logit == pytest.approx(float(tr.last_logits[a.token_id]), rel=1e-5)
    assert a.total == pytest.approx(a.logit, rel=1e-4)


@pytest.mark.long
def test_a_long_text_is_read_a_window_at_a_time(smollm):
    words = ("The quick brown fox jumps over the lazy dog while the cat sleeps. " * 200).split(" ")
    tr = smollm.trace(" ".join(words), max_tokens=2048)
    t = len(tr.token_ids)
    assert t == 2048
    start = (t - 1) // logit_lens.WINDOW * logit_lens.WINDOW
    grid = logit_lens.lens_grid(tr, start)
    assert grid.top_ids.shape == (smollm.config.n_layers + 1, t - start, logit_lens.TOP_K)
    assert grid.final_ids[-1] == int(np.argmax(tr.last_logits))
    a = logit_lens.attribute(tr, t - 1)
    assert a.total == pytest.approx(a.logit, rel=1e-4)
