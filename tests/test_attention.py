"""core.engine.attention against PyTorch's scaled_dot_product_attention, plus its teaching claims."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

from core.engine.attention import attention, repeat_kv
from core.engine.masks import additive, causal_allowed, padding_allowed

B, NH, T, S, HS = 2, 4, 5, 7, 8
ATOL = 1e-6  # float32


def _qkv(t: int = T, s: int = S, heads: int = NH, kv_heads: int | None = None, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    kv_heads = heads if kv_heads is None else kv_heads
    q = torch.randn(B, heads, t, HS, generator=g, dtype=torch.float64).to(dtype)
    k = torch.randn(B, kv_heads, s, HS, generator=g, dtype=torch.float64).to(dtype)
    v = torch.randn(B, kv_heads, s, HS, generator=g, dtype=torch.float64).to(dtype)
    return q, k, v


def _key_is_real() -> torch.Tensor:
    """(B, S): the first sequence is all real, the second has its last three keys padded."""
    real = torch.ones(B, S, dtype=torch.bool)
    real[1, -3:] = False
    return real


def _check_result(result, q, v):
    # probs @ v is the output, every probability row is a distribution.
    torch.testing.assert_close(result.probs @ v, result.out, rtol=0, atol=ATOL)
    torch.testing.assert_close(result.probs.sum(-1), torch.ones(result.probs.shape[:-1], dtype=q.dtype), rtol=0, atol=ATOL)
    assert (result.probs >= 0).all()
    # scores are Q K^T / sqrt(d_k), before any mask.
    assert result.scores.shape == result.probs.shape


def test_no_mask_matches_sdpa():
    q, k, v = _qkv()
    result = attention(q, k, v)
    torch.testing.assert_close(result.out, F.scaled_dot_product_attention(q, k, v), rtol=0, atol=ATOL)
    torch.testing.assert_close(result.scores, q @ k.transpose(-2, -1) / math.sqrt(HS), rtol=0, atol=ATOL)
    _check_result(result, q, v)


def test_causal_square_matches_sdpa_is_causal():
    q, k, v = _qkv(t=6, s=6)
    result = attention(q, k, v, causal_allowed(6))
    torch.testing.assert_close(result.out, F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=0, atol=ATOL)
    _check_result(result, q, v)


def test_causal_rectangular_is_lower_right_aligned():
    """With fewer queries than keys (a continuation), query i sees keys up to i + S - T: PyTorch's causal_lower_right."""
    q, k, v = _qkv(t=3, s=7)
    result = attention(q, k, v, causal_allowed(3, 7))
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(3, 7))
    torch.testing.assert_close(result.out, expected, rtol=0, atol=ATOL)
    _check_result(result, q, v)


def test_causal_probs_are_exactly_zero_above_the_diagonal():
    q, k, v = _qkv(t=6, s=6)
    probs = attention(q, k, v, causal_allowed(6)).probs
    above = torch.ones(6, 6, dtype=torch.bool).triu(diagonal=1)
    assert torch.equal(probs[..., above], torch.zeros_like(probs[..., above]))
    assert (probs[..., ~above] > 0).all()


def test_padding_mask_matches_sdpa():
    q, k, v = _qkv()
    real = _key_is_real()
    allowed = padding_allowed(real)  # (B, 1, 1, S)
    assert allowed.shape == (B, 1, 1, S)
    result = attention(q, k, v, allowed)
    torch.testing.assert_close(result.out, F.scaled_dot_product_attention(q, k, v, attn_mask=allowed), rtol=0, atol=ATOL)
    _check_result(result, q, v)
    assert torch.equal(result.probs[1, :, :, -3:], torch.zeros(NH, T, 3, dtype=q.dtype))
    # The padded keys are really ignored: changing their values and keys changes nothing.
    k2, v2 = k.clone(), v.clone()
    k2[1, :, -3:] = 100.0
    v2[1, :, -3:] = -100.0
    torch.testing.assert_close(attention(q, k2, v2, allowed).out, result.out, rtol=0, atol=ATOL)


def test_causal_and_padding_combined_match_sdpa():
    q, k, v = _qkv(t=S, s=S)
    real = _key_is_real()
    allowed = causal_allowed(S) & padding_allowed(real)  # (B, 1, S, S); key 0 is real, so no row is empty
    result = attention(q, k, v, allowed)
    torch.testing.assert_close(result.out, F.scaled_dot_product_attention(q, k, v, attn_mask=allowed), rtol=0, atol=ATOL)
    _check_result(result, q, v)


def test_grouped_query_attention_matches_sdpa_enable_gqa():
    q, k, v = _qkv(heads=8, kv_heads=2)
    groups = 4
    result = attention(q, repeat_kv(k, groups), repeat_kv(v, groups), causal_allowed(T, S))
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(T, S), enable_gqa=True)
    torch.testing.assert_close(result.out, expected, rtol=0, atol=ATOL)
    # Query head h reads key/value head h // groups.
    expanded = repeat_kv(k, groups)
    for h in range(8):
        assert torch.equal(expanded[:, h], k[:, h // groups])
    assert repeat_kv(k, 1) is k


def test_float64_inputs_keep_float64_precision():
    """The softmax runs in float32 *at least*: float64 inputs must not be rounded down to float32."""
    q, k, v = _qkv(dtype=torch.float64)
    allowed = causal_allowed(T, S) & padding_allowed(_key_is_real())
    result = attention(q, k, v, allowed)
    assert result.out.dtype == result.probs.dtype == torch.float64
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    torch.testing.assert_close(result.out, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype, atol", [(torch.float16, 5e-3), (torch.bfloat16, 3e-2)])
def test_half_precision_inputs(dtype, atol):
    q, k, v = _qkv(dtype=dtype)
    allowed = causal_allowed(T, S) & padding_allowed(_key_is_real())
    result = attention(q, k, v, allowed)
    assert result.out.dtype == result.probs.dtype == dtype
    assert torch.isfinite(result.out).all()
    # Reference: exact attention on the same (already rounded) inputs.
    reference = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=allowed)
    torch.testing.assert_close(result.out.double(), reference, rtol=0, atol=atol)
    torch.testing.assert_close(result.probs.double().sum(-1), torch.ones(B, NH, T, dtype=torch.float64), rtol=0, atol=atol)
    assert torch.equal(result.probs[1, ..., -3:], torch.zeros_like(result.probs[1, ..., -3:]))


def test_additive_mask_gives_exactly_zero_weight_but_multiplying_does_not():
    q, k, v = _qkv(t=4, s=4)
    allowed = causal_allowed(4)
    mask = additive(allowed, torch.float32)
    assert torch.equal(mask[allowed], torch.zeros(int(allowed.sum()), dtype=torch.float32))
    assert torch.isneginf(mask[~allowed]).all()

    scores = q @ k.transpose(-2, -1) / math.sqrt(HS)
    added = torch.softmax(scores + mask, dim=-1)
    multiplied = torch.softmax(scores * allowed, dim=-1)  # the tempting mistake: "masked" scores become 0, not -inf
    assert torch.equal(added[..., ~allowed], torch.zeros_like(added[..., ~allowed]))
    assert (multiplied[..., ~allowed] > 0).all()
    # A masked score of 0 still carries e^0 = 1 of unnormalised weight: the first query, which may only
    # see key 0, puts 3 / (e^score00 + 3) of its attention on the three future keys.
    leaked = multiplied[..., 0, 1:].sum(-1)
    torch.testing.assert_close(leaked, 3 / (scores[..., 0, 0].exp() + 3), rtol=0, atol=ATOL)
    # Ours is the additive version.
    torch.testing.assert_close(attention(q, k, v, allowed).probs, added, rtol=0, atol=ATOL)


def test_masks_shapes_and_semantics():
    for t, s in [(3, 3), (2, 4), (5, 7)]:
        allowed = causal_allowed(t, s)
        assert allowed.shape == (t, s) and allowed.dtype == torch.bool
        for i in range(t):
            for j in range(s):
                assert bool(allowed[i, j]) == (j <= i + s - t)
    real = _key_is_real()
    allowed = padding_allowed(real).expand(B, NH, T, S)
    for b in range(B):
        for j in range(S):
            assert bool(allowed[b, :, :, j].all()) == bool(allowed[b, :, :, j].any()) == bool(real[b, j])
