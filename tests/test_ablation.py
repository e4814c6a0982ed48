"""Switching heads off (the `head_ablation` knob of the one Transformer), attention rollout and token removal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.lessons.ablation import HeadAblation, ablation_of, run_ablated
from core.lessons.attribution import (
    MAX_REMOVED,
    add_residual,
    removable,
    rollout,
    rollout_row,
    token_removal,
    trace_rollout,
)
from tests.support.models import loaded
from tests.support.small_models import small_lm

TEXT = "The animal didn't cross the street because it was too tired"
LAYER, HEADS = 3, (1, 4)


@pytest.fixture(scope="module")
def smollm():
    lm = loaded("smollm2-135m")
    return lm, lm.trace(TEXT, dtype=np.float32)


def _capture(lm, ids, ablation=None):
    with torch.inference_mode():
        return lm.module(torch.tensor([ids]), capture=True, head_ablation=ablation)


def test_ablating_no_head_is_the_plain_run_exactly(smollm):
    lm, trace = smollm
    plain = _capture(lm, trace.token_ids)
    for nothing in ({}, {LAYER: HeadAblation(())}, ablation_of({LAYER: []})):
        same = _capture(lm, trace.token_ids, nothing)
        assert torch.equal(plain.logits, same.logits)
        assert torch.equal(plain.stack.hidden_states, same.stack.hidden_states)
    run = run_ablated(lm, trace, {})
    np.testing.assert_array_equal(run.last_logits, trace.last_logits)
    for layer in (0, 15, 29):
        np.testing.assert_array_equal(run.query_rows(layer, 7), trace.layers[layer].self_attn.query_rows(7))


def test_ablating_a_head_changes_only_what_follows_it(smollm):
    lm, trace = smollm
    ids = trace.token_ids
    plain, ablated = _capture(lm, ids), _capture(lm, ids, ablation_of({LAYER: HEADS}))
    for layer in range(LAYER):
        assert torch.equal(plain.stack.hidden_states[:, layer + 1], ablated.stack.hidden_states[:, layer + 1])
    before, after = plain.stack.layers[LAYER], ablated.stack.layers[LAYER]
    assert torch.equal(before.resid_pre, after.resid_pre)
    assert torch.equal(before.self_attn.probs, after.self_attn.probs)
    kept = [h for h in range(lm.config.n_heads) if h not in HEADS]
    assert torch.equal(before.self_attn.z[:, kept], after.self_attn.z[:, kept])
    assert torch.all(after.self_attn.z[:, list(HEADS)] == 0)
    assert not torch.equal(before.self_attn.out, after.self_attn.out)
    assert not torch.equal(before.resid_mid, after.resid_mid)
    for layer in range(LAYER + 1, lm.config.n_layers):
        assert not torch.equal(plain.stack.layers[layer].self_attn.probs, ablated.stack.layers[layer].self_attn.probs)
    assert not torch.equal(plain.logits, ablated.logits)
    run = run_ablated(lm, trace, ablation_of({LAYER: HEADS}))
    np.testing.assert_allclose(run.last_logits, ablated.logits[0, -1].numpy(), rtol=0, atol=1e-4)
    for layer in range(LAYER + 1):
        np.testing.assert_array_equal(run.query_rows(layer, 9), trace.layers[layer].self_attn.query_rows(9))
    assert not np.array_equal(run.query_rows(LAYER + 1, 9), trace.layers[LAYER + 1].self_attn.query_rows(9))


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_zero_and_mean_equal_an_independent_computation_on_one_layer(smollm, mode):
    lm, trace = smollm
    plain = _capture(lm, trace.token_ids)
    ablated = _capture(lm, trace.token_ids, ablation_of({LAYER: HEADS}, mode))
    z = plain.stack.layers[LAYER].self_attn.z[0].numpy().astype(np.float64)  # (nh, T, hs)
    for head in HEADS:
        z[head] = 0.0 if mode == "zero" else z[head].mean(axis=0, keepdims=True)
    attn = lm.module.stack.layers[LAYER].self_attn
    w_o = attn.o_proj.weight.detach().numpy().astype(np.float64)
    bias = 0.0 if attn.o_proj.bias is None else attn.o_proj.bias.detach().numpy()
    out = z.transpose(1, 0, 2).reshape(z.shape[1], -1) @ w_o.T + bias  # concatenate heads, then W_O
    np.testing.assert_allclose(ablated.stack.layers[LAYER].self_attn.out[0].numpy(), out, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ablated.stack.layers[LAYER].self_attn.z[0].numpy(), z, rtol=1e-6, atol=1e-6)


def test_an_encoder_decoder_ablates_its_decoder():
    lm = loaded("classic")
    trace = lm.trace("a cat", target="a cat", dtype=np.float32)
    np.testing.assert_array_equal(run_ablated(lm, trace, {}).last_logits, trace.last_logits)
    assert not np.array_equal(run_ablated(lm, trace, ablation_of({0: [0, 1]})).last_logits, trace.last_logits)


def test_a_head_outside_the_model_is_refused(smollm):
    lm, trace = smollm
    with pytest.raises(ValueError):
        run_ablated(lm, trace, ablation_of({LAYER: [99]}))
    with pytest.raises(ValueError):
        HeadAblation((0,), "half")


# ---------------------------------------------------------------- rollout


def test_rollout_rows_sum_to_one_and_the_row_equals_the_matrix():
    rng = np.random.default_rng(0)
    layers = []
    for _ in range(5):
        a = np.tril(rng.random((7, 7)))
        layers.append(a / a.sum(axis=1, keepdims=True))
    joint = rollout(layers)
    np.testing.assert_allclose(joint.sum(axis=1), 1.0, rtol=1e-12)
    expected = np.eye(7)
    for a in layers:  # Abnar & Zuidema, written out
        mixed = 0.5 * a + 0.5 * np.eye(7)
        expected = (mixed / mixed.sum(axis=1, keepdims=True)) @ expected
    np.testing.assert_allclose(joint, expected, rtol=1e-12)
    for p in range(7):
        np.testing.assert_allclose(rollout_row(layers, p), joint[p], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(add_residual(layers[0]).sum(axis=1), 1.0)


def test_the_trace_rollout_uses_the_heads_mean(smollm):
    _, trace = smollm
    position = 9
    row = trace_rollout(trace, position)
    assert row.sum() == pytest.approx(1.0, abs=1e-9) and np.all(row[position + 1:] == 0)
    mean = [layer.self_attn.probs.astype(np.float64).mean(axis=0) for layer in trace.layers]
    np.testing.assert_allclose(row, rollout(mean)[position], atol=1e-5)


@pytest.mark.parametrize("kind", ["llama", "gemma"])
def test_the_rollout_computed_in_blocks_of_queries_equals_the_whole_matrices(kind, monkeypatch):
    """Blocks of 5 queries (each only up to its last query's key), on a sliding-window model too."""
    import core.lessons.attribution

    monkeypatch.setattr(core.lessons.attribution, "ROLLOUT_ROWS", 5)
    lm = small_lm(kind)
    trace = lm.trace("Which tokens fed the prediction?", dtype=np.float32)
    mean = [layer.self_attn.probs.astype(np.float64).mean(axis=0) for layer in trace.layers]
    for position in (0, 4, 5, 17, len(trace.token_ids) - 1):
        np.testing.assert_allclose(trace_rollout(trace, position), rollout(mean)[position], atol=1e-6)


# ---------------------------------------------------------------- token removal


def _removal_masks(t: int, removed, device) -> torch.Tensor:
    """(n, 1, T, T) bool: in row b, no query but removed[b] itself may attend to key removed[b] (the whole
    prefix run again: the reference the cached removal runs are held to)."""
    allowed = torch.ones(len(removed), 1, t, t, dtype=torch.bool, device=device)
    for b, j in enumerate(removed):
        allowed[b, 0, :, j] = False
        allowed[b, 0, j, j] = True
    return allowed


def _recomputed(lm, ids, position: int, removed, target: int) -> np.ndarray:
    """log P(target | j removed) − log P(target) for each j, each by the whole prefix run again, float64."""
    prefix = torch.tensor([ids[: position + 1]])
    with torch.inference_mode():
        base = torch.log_softmax(lm.module(prefix).logits[0, -1].double(), -1)[target]
        out = lm.module(prefix.expand(len(removed), -1), also_allowed=_removal_masks(position + 1, removed, "cpu"))
        return (torch.log_softmax(out.logits[:, -1].double(), -1)[:, target] - base).numpy()


def test_removal_masks_hide_one_key_from_every_other_query():
    masks = _removal_masks(4, [0, 2], "cpu")[:, 0]
    assert masks[0, :, 0].tolist() == [True, False, False, False]
    assert masks[1, :, 2].tolist() == [False, False, True, False]
    assert masks[0, :, 1:].all() and masks[1, :, [0, 1, 3]].all()


def test_removal_is_bounded():
    assert removable(10) == list(range(10))
    assert removable(200) == list(range(200 - MAX_REMOVED, 200)) and MAX_REMOVED == 64
    assert removable(2047) == list(range(2047 - 64, 2047))  # the end of a 2,048-token text: the nearest 64
    assert len(removable(100, max_removed=5)) == 5 and removable(1) == [0]


def test_token_removal_equals_separate_runs(smollm):
    lm, trace = smollm
    position = 8
    result = token_removal(lm, trace.token_ids, position)
    assert list(result.removed) == list(range(position)) and result.skipped == 0
    ids = torch.tensor([trace.token_ids[: position + 1]])
    with torch.inference_mode():
        base = torch.log_softmax(lm.module(ids).logits[0, -1].double(), -1)
        assert result.target == int(base.argmax())
        for j in (0, 3, position - 1):
            out = lm.module(ids, also_allowed=_removal_masks(position + 1, [j], "cpu"), capture=True)
            probs = out.stack.layers[0].self_attn.probs[0]  # (nh, T, T)
            assert torch.all(probs[:, j + 1:, j] == 0) and torch.all(probs[:, j, j] > 0)
            delta = torch.log_softmax(out.logits[0, -1].double(), -1)[result.target] - base[result.target]
            assert result.delta[j] == pytest.approx(float(delta), abs=2e-4)
    assert np.abs(result.delta).max() > 0.01
    from_trace = token_removal(lm, trace.token_ids, position, trace=trace)
    assert from_trace.target == result.target
    np.testing.assert_allclose(from_trace.delta, result.delta, atol=1e-5)
    assert from_trace.log_prob == pytest.approx(result.log_prob, abs=1e-5)


@pytest.mark.parametrize("kind", ["llama", "gemma"])
def test_cached_removal_runs_equal_the_whole_prefix_run_again(kind):
    """Every one of the 64 nearest tokens, on a text longer than them, and for Gemma's layout past its sliding
    window (5 positions here): the runs that start from the cache give the full recomputation's numbers."""
    lm = small_lm(kind)
    ids = lm.tokenizer.encode("Removing a token changes nothing before it, only after it. " * 2).ids
    position = len(ids) - 3
    trace = lm.trace(ids, dtype=np.float32)
    for source in (None, trace):
        result = token_removal(lm, ids, position, trace=source)
        assert list(result.removed) == list(range(position - 64, position)) and result.skipped == position - 64
        expected = _recomputed(lm, ids, position, list(result.removed), result.target)
        np.testing.assert_allclose(result.delta, expected, rtol=1e-4, atol=1e-5)
        assert np.abs(expected).max() > 1e-3  # the tokens matter: equal numbers are not both zero
    with pytest.raises(ValueError):
        token_removal(lm, ids[1:], position, trace=trace)


def test_each_heads_share_of_the_output_sums_to_the_traces_output(smollm):
    from core.lessons.ablation import head_contributions

    lm, trace = smollm
    parts = head_contributions(lm, trace, 5, 8)
    assert parts.shape == (lm.config.n_heads, lm.config.d_model)
    bias = lm.module.stack.layers[5].self_attn.o_proj.bias
    total = parts.sum(axis=0) + (0 if bias is None else bias.detach().numpy())
    np.testing.assert_allclose(total, trace.layers[5].self_attn.out[8], rtol=1e-4, atol=1e-4)
