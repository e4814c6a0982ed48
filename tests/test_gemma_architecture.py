"""Gemma 3's knobs on a tiny random model, against transformers' Gemma3ForCausalLM with the same weights.

No weight package is needed: the model is small enough (4 layers, width 32) to build in milliseconds,
and its sliding window (4) is shorter than the text (12 tokens), so local and global layers differ.
Every knob is set off its default where transformers allows it: head_dim * n_heads != d_model,
query_pre_attn_scalar != head_dim, a final logit soft-cap, random (1 + w) norm weights.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may reach a model hub

import numpy as np
import pytest
import torch

from core.engine.config import ModelConfig
from core.engine.masks import causal_allowed, sliding_window_allowed
from core.loaders.gguf_gemma import layer_types
from tests.support.tiny_gemma import GLOBAL_BASE, HS, KINDS, LOCAL_BASE, OURS, SOFTCAP, WINDOW, T, V, pair

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def models():
    return pair()


@pytest.fixture(scope="module")
def runs(models):
    ours, hf = models
    ids = torch.randint(0, V, (1, T), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        mine = ours(ids, capture=True)
        theirs = hf(input_ids=ids, output_attentions=True, output_hidden_states=True, use_cache=False)
    return mine, theirs


@pytest.mark.parity
def test_logits_match_transformers(runs):
    mine, theirs = runs
    torch.testing.assert_close(mine.logits, theirs.logits, rtol=0, atol=1e-5)
    assert mine.logits.abs().max() < SOFTCAP  # the soft-cap is in place


@pytest.mark.parity
def test_attention_probabilities_match_in_local_and_global_layers(runs):
    mine, theirs = runs
    for i, (layer, probs) in enumerate(zip(mine.stack.layers, theirs.attentions)):
        torch.testing.assert_close(layer.self_attn.probs, probs, rtol=0, atol=1e-6, msg=f"layer {i}")


@pytest.mark.parity
def test_hidden_states_match(runs):
    mine, theirs = runs
    # transformers lists the embeddings and every block's input; its last entry is after the final norm.
    ours = list(mine.stack.hidden_states[0, : len(KINDS)]) + [mine.stack.final_norm[0]]
    for i, (a, b) in enumerate(zip(ours, theirs.hidden_states)):
        torch.testing.assert_close(a, b[0], rtol=0, atol=1e-5, msg=f"hidden state {i}")


@pytest.mark.parity
def test_trace_records_each_layers_own_mask(runs):
    """The sliding layers' mask is the band of the last WINDOW keys; the global layer's is causal."""
    mine, theirs = runs
    band, causal = sliding_window_allowed(T, WINDOW), causal_allowed(T)
    for kind, layer, probs in zip(KINDS, mine.stack.layers, theirs.attentions):
        mask = layer.self_attn.mask[0]
        assert torch.equal(mask, band if kind == "sliding" else causal)
        assert (probs[0][:, ~mask] == 0).all() and (layer.self_attn.probs[0][:, ~mask] == 0).all()
    assert not torch.equal(band, causal)  # the text is longer than the window: the layers really differ


def test_sliding_window_mask_formula():
    """Key j is visible from query i when 0 <= i - j < window, offsets shifted when keys outnumber queries."""
    for t, s, w in [(6, 6, 1), (6, 6, 3), (6, 6, 10), (3, 7, 2)]:
        expected = torch.tensor([[0 <= (i + s - t) - j < w for j in range(s)] for i in range(t)])
        assert torch.equal(sliding_window_allowed(t, w, s), expected)


def test_local_layers_rotate_with_their_own_base(runs):
    mine, _ = runs
    positions = mine.stack.positions
    assert positions.values.shape == positions.local_values.shape == (1, T, HS // 2)
    # At frequency pair 1 the angle per position is base^(-2/HS).
    np.testing.assert_allclose(positions.values[0, 1, 1].item(), GLOBAL_BASE ** (-2 / HS), rtol=1e-6)
    np.testing.assert_allclose(positions.local_values[0, 1, 1].item(), LOCAL_BASE ** (-2 / HS), rtol=1e-6)


def test_gemma_layer_pattern():
    """Every sixth layer global, as llama.cpp and transformers build Gemma 3 (layers 5, 11, 17 of 18)."""
    kinds = layer_types(18, 6)
    assert [i for i, k in enumerate(kinds) if k == "global"] == [5, 11, 17]
    assert layer_types(3, [True, False, True]) == ("sliding", "global", "sliding")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(layer_types=("sliding",) * 3), "entries"),
        (dict(layer_types=("sliding", "local", "global", "sliding")), "unknown layer types"),
        (dict(sliding_window=None), "sliding_window is needed"),
        (dict(layer_types=None), "sliding_window is needed"),
        (dict(sliding_window=0), "positive"),
        (dict(head_dim=0), "positive"),
        (dict(head_dim=None, n_heads=3), "give head_dim"),
        (dict(attn_scale=-1.0), "attn_scale"),
        (dict(final_logit_softcap=float("nan")), "final_logit_softcap"),
        (dict(norm="layernorm"), "norm_unit_offset"),
        (dict(norm_placement="post"), "sandwich_norm"),
        (dict(positional="learned"), "rope_local_base"),
    ],
)
def test_config_rejects_inconsistent_knobs(change, message):
    fields = {f: getattr(OURS, f) for f in OURS.__dataclass_fields__}
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**fields, **change})


def test_head_dim_defaults_to_d_model_over_heads():
    config = ModelConfig(vocab_size=8, d_model=32, n_layers=1, n_heads=4, d_ff=8, max_positions=8)
    assert config.head_dim == 8 and config.layer_kinds == ("global",) and not config.is_gated
