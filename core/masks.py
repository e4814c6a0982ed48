"""Attention masks.

A mask is applied by *adding* it to the scores: 0 where a query may look,
-inf where it may not, so that softmax gives exactly zero weight there.
Multiplying the scores by a 0/1 matrix instead would leave e^0 = 1 of
unnormalised weight on every "masked" key.
"""

from __future__ import annotations

import torch


def causal_allowed(t: int, s: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, S) bool, True where query i may attend to key j (j <= i + S - T)."""
    s = t if s is None else s
    return torch.ones(t, s, dtype=torch.bool, device=device).tril(diagonal=s - t)


def padding_allowed(key_is_real: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, S) bool from a (B, S) bool of keys that are real tokens, not padding."""
    return key_is_real[:, None, None, :]


def additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where allowed, -inf where not, in the dtype of the scores it is added to."""
    zeros = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return zeros.masked_fill(~allowed, float("-inf"))


def sliding_window_allowed(
    t: int, window: int, s: int | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """(T, S) bool, True where key j is one of the last `window` keys up to query i, itself included:
    0 <= (i + S - T) - j < window. Gemma 3's local layers (and llama.cpp's, and transformers') use this."""
    s = t if s is None else s
    causal = causal_allowed(t, s, device)
    too_far = torch.ones(t, s, dtype=torch.bool, device=device).tril(diagonal=s - t - window)  # (T, S)
    return causal & ~too_far
