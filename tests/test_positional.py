"""Sinusoidal tables and rotary embeddings against the formulas of the papers and of the reference code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.engine.config import ModelConfig
from core.engine.model import Embedding
from core.engine.positional import Rotary, rope_angles, sinusoidal_table
from core.loaders.gguf_llama import unpermute_rotary_rows

HS, BASE = 16, 10000.0


@pytest.mark.parametrize("n_positions, d_model", [(50, 16), (9, 7), (1, 2)])
def test_sinusoidal_table_is_the_papers_formula(n_positions, d_model):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), one number at a time."""
    expected = np.zeros((n_positions, d_model))
    for pos in range(n_positions):
        for j in range(d_model):
            i = j // 2
            angle = pos / 10000 ** (2 * i / d_model)
            expected[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    table = sinusoidal_table(n_positions, d_model)
    assert table.shape == (n_positions, d_model) and table.dtype == torch.float32
    np.testing.assert_allclose(table.numpy(), expected, rtol=0, atol=1e-6)


def test_sinusoidal_embedding_adds_the_table_to_scaled_embeddings():
    config = ModelConfig(vocab_size=11, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_positions=32,
                         positional="sinusoidal", scale_embeddings=True)
    torch.manual_seed(0)
    embed = Embedding(config)
    ids = torch.tensor([[3, 1, 4, 1, 5, 9]])
    out = embed(ids)
    tokens = embed.tokens.weight[ids] * math.sqrt(16)
    torch.testing.assert_close(out.embeddings, tokens, rtol=0, atol=0)
    torch.testing.assert_close(out.x, tokens + sinusoidal_table(6, 16)[None], rtol=0, atol=1e-6)
    assert out.rotary is None and out.positions.kind == "sinusoidal"


def _rotary(positions: torch.Tensor, dtype=torch.float32) -> Rotary:
    return Rotary(rope_angles(positions, HS, BASE), dtype)


def _same_vector_at_every_position(vector: torch.Tensor, t: int) -> torch.Tensor:
    return vector.expand(1, 1, t, HS).clone()  # (B=1, h=1, T, hs)


def test_rope_angles_are_position_times_inverse_frequency():
    positions = torch.tensor([0, 1, 5, 100])
    angles = rope_angles(positions, HS, BASE)
    assert angles.shape == (4, HS // 2)
    for a, pos in enumerate(positions.tolist()):
        for j in range(HS // 2):
            assert angles[a, j].item() == pytest.approx(pos / BASE ** (2 * j / HS), rel=1e-6)


def test_rope_preserves_norms():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 20, HS)
    rotated = _rotary(torch.arange(20))(x)
    assert not torch.allclose(rotated, x)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=1e-5)
    # Position 0 is not rotated at all.
    torch.testing.assert_close(rotated[..., 0, :], x[..., 0, :], rtol=0, atol=0)


def test_rope_dot_product_depends_only_on_the_offset():
    torch.manual_seed(0)
    t = 12
    q0, k0 = torch.randn(HS), torch.randn(HS)
    rotary = _rotary(torch.arange(t))
    q = rotary(_same_vector_at_every_position(q0, t))[0, 0]  # (T, hs): q0 placed at m = 0..T-1
    k = rotary(_same_vector_at_every_position(k0, t))[0, 0]
    dots = q @ k.T  # dots[m, n] = q_m . k_n
    by_offset = {}
    for m in range(t):
        for n in range(t):
            by_offset.setdefault(m - n, []).append(dots[m, n])
    for offset, values in by_offset.items():
        values = torch.stack(values)
        torch.testing.assert_close(values, values[0].expand_as(values), rtol=0, atol=1e-4, msg=f"offset {offset}")
    # ... and it does depend on the offset: the property is not vacuous.
    firsts = torch.stack([v[0] for v in by_offset.values()])
    assert (firsts.max() - firsts.min()) > 0.1

    # The same holds far from the start: (m, n) = (100 + i, 100 + j) behaves like (i, j).
    far = _rotary(torch.arange(100, 100 + t))
    q_far = far(_same_vector_at_every_position(q0, t))[0, 0]
    k_far = far(_same_vector_at_every_position(k0, t))[0, 0]
    torch.testing.assert_close(q_far @ k_far.T, dots, rtol=0, atol=1e-3)


def _hf_rotate_half_formula(q, k, cos, sin):
    """Hugging Face Llama's apply_rotary_pos_emb (transcribed), cos/sin (B, T, hs) unsqueezed at dim 1."""

    def rotate_half(x):
        x1 = x[..., : x.shape[-1] // 2]
        x2 = x[..., x.shape[-1] // 2 :]
        return torch.cat((-x2, x1), dim=-1)

    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def _hf_cos_sin(t: int):
    """LlamaRotaryEmbedding's default (unscaled) cos and sin, (1, T, hs)."""
    inv_freq = 1.0 / (BASE ** (torch.arange(0, HS, 2, dtype=torch.int64).to(torch.float64) / HS))
    freqs = torch.arange(t, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)[None]
    return emb.cos().float(), emb.sin().float()


def _transformers_apply_rotary_pos_emb(q, k, cos, sin):
    """Hugging Face's own function (transformers is a dev dependency, see requirements-dev.txt)."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    return apply_rotary_pos_emb(q, k, cos, sin)


@pytest.mark.parity
@pytest.mark.parametrize("reference", [_hf_rotate_half_formula, _transformers_apply_rotary_pos_emb],
                         ids=["transcribed", "transformers"])
def test_rope_matches_hugging_face_rotate_half(reference):
    torch.manual_seed(1)
    t = 9
    q, k = torch.randn(2, 4, t, HS), torch.randn(2, 2, t, HS)
    cos, sin = _hf_cos_sin(t)
    q_ref, k_ref = reference(q, k, cos, sin)
    rotary = _rotary(torch.arange(t))
    torch.testing.assert_close(rotary(q), q_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(rotary(k), k_ref, rtol=0, atol=1e-5)


def test_rope_matches_complex_multiplication():
    """Pair j with j + hs/2 as the complex number x_j + i x_{j+hs/2}; RoPE multiplies it by e^(i pos theta_j)."""
    torch.manual_seed(2)
    t = 7
    x = torch.randn(1, 3, t, HS, dtype=torch.float64)
    theta = torch.tensor([BASE ** (-2 * j / HS) for j in range(HS // 2)], dtype=torch.float64)
    turn = torch.polar(torch.ones(t, HS // 2, dtype=torch.float64), torch.arange(t, dtype=torch.float64)[:, None] * theta)
    z = torch.complex(x[..., : HS // 2], x[..., HS // 2 :]) * turn
    expected = torch.cat([z.real, z.imag], dim=-1)
    torch.testing.assert_close(_rotary(torch.arange(t), torch.float64)(x), expected, rtol=0, atol=1e-6)


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute: Hugging Face's half-split rows -> GGUF's adjacent pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _rotate_adjacent_pairs(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """llama.cpp's "normal" RoPE: rotates (x_{2j}, x_{2j+1}) by pos * theta_j."""
    theta = BASE ** (-torch.arange(0, HS, 2, dtype=torch.float64) / HS)
    angle = positions.to(torch.float64)[:, None] * theta  # (T, hs/2)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = even * angle.cos() - odd * angle.sin()
    out[..., 1::2] = even * angle.sin() + odd * angle.cos()
    return out


def test_gguf_row_permutation_is_undone_and_one_rotation_serves_both_layouts():
    rng = np.random.default_rng(0)
    n_heads, d, t = 3, 10, 6
    w_hf = rng.standard_normal((n_heads * HS, d))
    w_gguf = _llama_cpp_permute(w_hf, n_heads)
    assert not np.array_equal(w_gguf, w_hf)
    np.testing.assert_array_equal(unpermute_rotary_rows(w_gguf, n_heads), w_hf)

    # llama.cpp rotates adjacent pairs of the permuted projection; we rotate half-split pairs of the
    # unpermuted one. The rotated queries must be the same numbers, up to that row order.
    x = torch.from_numpy(rng.standard_normal((t, d)))
    positions = torch.arange(t)

    def heads(q):  # (T, nh*hs) -> (1, nh, T, hs)
        return q.reshape(t, n_heads, HS).transpose(0, 1)[None]

    ours = _rotary(positions, torch.float64)(heads(x @ torch.from_numpy(w_hf).T))
    theirs = _rotate_adjacent_pairs(heads(x @ torch.from_numpy(w_gguf).T), positions)
    theirs_rows = theirs[0].transpose(0, 1).reshape(t, n_heads * HS)  # (T, nh*hs) in GGUF row order
    back = torch.from_numpy(unpermute_rotary_rows(theirs_rows.T.numpy(), n_heads).T.copy())
    torch.testing.assert_close(heads(back), ours, rtol=0, atol=1e-5)


def test_rope_embedding_adds_nothing_and_records_angles():
    config = ModelConfig(vocab_size=11, d_model=32, n_layers=1, n_heads=2, d_ff=32, max_positions=32, positional="rope")
    torch.manual_seed(0)
    embed = Embedding(config)
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    out = embed(ids)
    torch.testing.assert_close(out.x, embed.tokens.weight[ids], rtol=0, atol=0)
    assert out.positions.kind == "rope" and out.positions.values.shape == (1, 5, HS // 2)
    torch.testing.assert_close(out.positions.values[0], rope_angles(torch.arange(5), HS, BASE), rtol=0, atol=0)
    torch.testing.assert_close(out.rotary.angles, rope_angles(torch.arange(5), HS, BASE), rtol=0, atol=0)
