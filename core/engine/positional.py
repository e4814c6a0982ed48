"""Where a token's position enters the model.

- sinusoidal ("Attention Is All You Need"): PE(pos, 2i) = sin(pos / 10000^(2i/d)),
  PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), added to the token embeddings;
- learned (BERT, GPT-2): one trained row per position, added;
- rotary (RoPE, Llama): no vector is added; q and k are rotated by an angle
  proportional to their position, so q·k depends only on the offset between them.
"""

from __future__ import annotations

import torch


def sinusoidal_table(n_positions: int, d_model: int) -> torch.Tensor:
    """(n_positions, d_model) table of the paper's formula."""
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]  # (P, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d/2,)
    angle = position / torch.pow(10000.0, two_i / d_model)  # (P, d/2)
    table = torch.zeros(n_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table.float()


def rope_angles(positions: torch.Tensor, head_dim: int, base: float) -> torch.Tensor:
    """(T, head_dim/2) rotation angle of each position for each frequency pair."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    return (positions.to(torch.float64)[:, None] * inv_freq[None, :]).float()  # (T, hs/2)


class Rotary:
    """Rotates q or k (B, h, T, hs) by precomputed angles.

    Pairs are (j, j + hs/2), the "half-split" layout of the Hugging Face Llama
    code; GGUF files store Q and K rows permuted for adjacent pairs, and the
    loader undoes that permutation so one rotation serves every source.
    """

    def __init__(self, angles: torch.Tensor, dtype: torch.dtype):
        self.angles = angles  # (T, hs/2)
        full = torch.cat([angles, angles], dim=-1)  # (T, hs)
        self.cos, self.sin = full.cos().to(dtype), full.sin().to(dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        half = x.size(-1) // 2
        rotated_half = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos + rotated_half * self.sin
