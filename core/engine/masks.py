"""Attention masks.

A mask is applied by *adding* it to the scores: 0 where a query may look,
-inf where it may not, so that softmax gives exactly zero weight there.
Multiplying the scores by a 0/1 matrix instead would leave e^0 = 1 of
unnormalised weight on every "masked" key.

A trace keeps a mask's definition (`MaskRule`: causal? a sliding window? which keys are
padding?), not its (T, S) matrix, and builds the matrix when a page asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class MaskRule:
    """Which keys each query may see, as a definition: the last T of S positions look back (causal),
    perhaps only `window` keys far, never at padding. Queries are the last T positions, so the same
    rule serves a whole text (T = S) and a step that reads T new tokens after S - T cached ones."""

    causal: bool = False
    window: int | None = None  # a sliding-window layer's reach, the query itself included
    key_is_real: torch.Tensor | None = None  # (B, S) False at padding

    def allowed(self, t: int, s: int, device: torch.device | str | None = None) -> torch.Tensor | None:
        """(T, S) bool, or (B, 1, T, S) / (B, 1, 1, S) with padding; None where every query sees every key."""
        allowed = None
        if self.window is not None and self.window < s:
            allowed = sliding_window_allowed(t, self.window, s, device)
        elif (self.causal or self.window is not None) and t > 1:  # one query, the last, sees every key
            allowed = causal_allowed(t, s, device)
        if self.key_is_real is not None:
            padding = padding_allowed(self.key_is_real)  # (B, 1, 1, S)
            allowed = padding if allowed is None else allowed & padding
        return allowed
