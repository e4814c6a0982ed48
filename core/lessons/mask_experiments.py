"""Masks made measurable: the right way and the wrong way to mask scores, what kind of mask a layer
recorded, and the proof that padding, masked, changes nothing for the real tokens.

The right way adds the mask before the softmax, 0 where a query may look and −∞ where it may not:
e^(−∞) = 0, so a masked key gets exactly zero weight. The wrong way (seed 002) multiplies the scores by
a 0/1 matrix and then takes the softmax: a masked score becomes 0, and e^0 = 1 is still a share of
the row, so every future token keeps some weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import N_, InputError
from core.numeric import softmax

MAX_TOKENS = 512




def additive_mask(allowed) -> np.ndarray:
    """0 where allowed, −∞ where not: what is added to the scores."""
    return np.where(np.asarray(allowed, dtype=bool), 0.0, -np.inf)


@dataclass(frozen=True)
class MaskingWays:
    """One head's scores masked both ways. Arrays are (…, T, S) float64; `leaked` is (…, T)."""

    allowed: np.ndarray
    right: np.ndarray  # softmax(scores + M), M = 0 / −∞
    wrong: np.ndarray  # softmax(scores ⊙ A), A = 1 / 0
    leaked: np.ndarray  # per query: the wrong way's total weight on keys it may not see

    @property
    def total_leaked(self) -> float:
        """The leaked weight summed over every query (each row is one query's 100%)."""
        return float(self.leaked.sum())

    @property
    def worst_row(self) -> int:
        return int(np.argmax(self.leaked.reshape(-1)))

    @property
    def right_leak(self) -> float:
        """The right way's weight on masked keys: exactly 0."""
        return float(np.where(self.allowed, 0.0, self.right).sum())


def two_ways(scores, allowed) -> MaskingWays:
    """Mask `scores` (…, T, S) both ways with `allowed` (T, S or broadcastable), True = may look."""
    scores = np.asarray(scores, dtype=np.float64)
    allowed = np.broadcast_to(np.asarray(allowed, dtype=bool), scores.shape)
    right = softmax(scores + additive_mask(allowed))
    wrong = softmax(scores * allowed)
    leaked = np.where(allowed, 0.0, wrong).sum(axis=-1)
    return MaskingWays(allowed.copy(), right, wrong, leaked)


@dataclass(frozen=True)
class MaskShape:
    kind: str  # "full", "causal", "sliding", "padding" or "other"
    window: int | None = None  # the sliding window, counting the query itself


KIND_NAMES = {
    "full": N_("full (bidirectional): every token sees every token"),
    "causal": N_("causal: each token sees itself and the tokens before it"),
    "sliding": N_("sliding window: each token sees itself and the {window} tokens before it"),
    "padding": N_("padding: no token looks at the padding"),
    "other": N_("another pattern"),
}


def mask_shape(mask) -> MaskShape:
    """What kind of (T, S) mask a layer recorded."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask is (T, S), got shape {mask.shape}")
    t, s = mask.shape
    if mask.all():
        return MaskShape("full")
    causal = np.tril(np.ones((t, s), dtype=bool), k=s - t)
    if np.array_equal(mask, causal):
        return MaskShape("causal")
    window = int(mask.sum(axis=1).max())
    rows, cols = np.indices((t, s))
    if window and np.array_equal(mask, causal & (rows + s - t - cols < window)):
        return MaskShape("sliding", window)
    if (mask == mask[:1]).all():
        return MaskShape("padding")
    return MaskShape("other")


@dataclass(frozen=True)
class MaskGroup:
    shape: MaskShape
    layers: list[int]  # the layers that recorded this very mask
    mask: np.ndarray  # (T, S) bool


def group_masks(masks: Sequence) -> list[MaskGroup]:
    """Layers that recorded the same mask, grouped, in order of first appearance: a model whose layers
    alternate between a sliding window and full causal attention gives two groups."""
    groups: list[MaskGroup] = []
    for layer, mask in enumerate(masks):
        mask = np.asarray(mask, dtype=bool)
        same = next((g for g in groups if g.mask.shape == mask.shape and np.array_equal(g.mask, mask)), None)
        if same is None:
            groups.append(MaskGroup(mask_shape(mask), [layer], mask))
        else:
            same.layers.append(layer)
    return groups


# ---------------------------------------------------------------- padding


def pad_id(tokenizer) -> int:
    """The tokenizer's padding token ([PAD], <pad>), else its first special token, else 0: any id will do
    where the mask hides it, which is the point."""
    specials = sorted(tokenizer.special_ids)
    named = [i for i in specials if "pad" in tokenizer.id_to_token(i).lower()]
    return (named or specials or [0])[0]


@dataclass(frozen=True)
class PaddingCheck:
    """Texts of different lengths in one batch, padded on the right to the longest."""

    model: str
    causal: bool
    ids: list[list[int]]  # each text's own ids
    batch: np.ndarray  # (B, T) int, padded
    key_is_real: np.ndarray  # (B, T) bool
    pad_id: int
    allowed: np.ndarray  # (B, T, T) bool: the mask each text's attention used in the batch
    masked: np.ndarray  # (B,) max |real tokens' outputs in the batch, padding masked − alone|
    unmasked: np.ndarray  # (B,) the same with the padding left visible

    @property
    def max_masked(self) -> float:
        return float(self.masked.max())

    @property
    def max_unmasked(self) -> float:
        return float(self.unmasked.max())


def _hidden(lm, batch: torch.Tensor, key_is_real: torch.Tensor | None) -> np.ndarray:
    return lm.run(batch, key_is_real=key_is_real, logits_for="none").hidden.float().cpu().numpy()


def padding_check(lm, texts: Sequence[str]) -> PaddingCheck:
    """Run `lm` on `texts` as one padded batch (padding masked, then not) and each text alone, and compare
    the real tokens' outputs (the stack's output, after its final norm)."""
    if lm.config.architecture == "encoder-decoder":
        raise InputError(N_("{model} is an encoder–decoder; this experiment runs an encoder or a decoder"),
                         model=lm.name)
    ids = [lm.encode(text)[0].ids[:MAX_TOKENS] for text in texts]
    longest, padding = max(len(row) for row in ids), pad_id(lm.tokenizer)
    batch = np.array([row + [padding] * (longest - len(row)) for row in ids])
    real = np.array([[True] * len(row) + [False] * (longest - len(row)) for row in ids])
    with torch.inference_mode():
        device = lm.device
        batch_t, real_t = torch.as_tensor(batch, device=device), torch.as_tensor(real, device=device)
        masked, unmasked = _hidden(lm, batch_t, real_t), _hidden(lm, batch_t, None)
        alone = [_hidden(lm, torch.as_tensor([row], device=device), None)[0] for row in ids]
    causal = lm.config.is_causal
    allowed = real[:, None, :] & (np.tril(np.ones((longest, longest), dtype=bool)) if causal else True)
    return PaddingCheck(
        lm.name, causal, ids, batch, real, padding, np.broadcast_to(allowed, (len(ids), longest, longest)).copy(),
        np.array([np.abs(masked[b, : len(row)] - alone[b]).max() for b, row in enumerate(ids)]),
        np.array([np.abs(unmasked[b, : len(row)] - alone[b]).max() for b, row in enumerate(ids)]),
    )
