"""Which earlier tokens fed a prediction: attention rollout, and a direct measure by removing one token.

Attention rollout (Abnar & Zuidema, 2020): each layer's attention averaged over heads, A; the residual
connection added as the identity, Â = ½A + ½I, rows renormalised to sum to 1; then multiplied through the
layers, R = Â_L ⋯ Â_2 Â_1. Row p of R says how much of position p's final state "came from" each input
token, if information flowed only along attention weights (it ignores the values, W_O and the feed-forward).

The removal measure runs the model again with one earlier token j made invisible: in every layer no other
position may attend to it (its key is masked out for every query but its own), so nothing of it can reach
position p, whose own residual stream never held it. The measure is the change in the log-probability of the
token the full run predicts at p: log P(y | text without j) − log P(y | text). It is causal for that
intervention, and costs one forward pass per removed token (batched), so a long text measures only the
tokens nearest to p.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import N_, InputError
from core.record.trace import Trace

MAX_REMOVED = 64  # tokens measured by removal at most (the nearest before the position)
TOKEN_BUDGET = 8192  # removal runs read at most this many token positions in all (removed tokens × context)
BATCH_POSITIONS = 4096  # token positions run together in one batch


def add_residual(attention: np.ndarray) -> np.ndarray:
    """Â = ½A + ½I with rows renormalised, float64 (T, S=T)."""
    a = np.asarray(attention, dtype=np.float64)
    mixed = 0.5 * a + 0.5 * np.eye(a.shape[0], a.shape[1])
    return mixed / mixed.sum(axis=-1, keepdims=True)


def rollout(attentions: Sequence[np.ndarray]) -> np.ndarray:
    """(T, T) float64 R = Â_L ⋯ Â_1 from each layer's head-averaged (T, T) attention, first layer first.
    Every row sums to 1."""
    if not attentions:
        raise ValueError("rollout needs at least one layer")
    joint = np.eye(np.asarray(attentions[0]).shape[0])
    for attention in attentions:
        joint = add_residual(attention) @ joint
    return joint


def rollout_row(attentions: Sequence[np.ndarray], position: int) -> np.ndarray:
    """(T,) float64 row `position` of `rollout(attentions)`, by vector-matrix products from the last layer
    down: O(L·T²), never a T × T × T product."""
    t = np.asarray(attentions[0]).shape[0]
    row = np.zeros(t)
    row[position] = 1.0
    for attention in reversed(attentions):
        row = row @ add_residual(attention)
    return row


def trace_rollout(trace: Trace, position: int) -> np.ndarray:
    """(T,) float64 the rollout row of `position` through the main stack's self-attention, from each layer's
    mean over heads as the trace computes it. A causal model's row needs only the first position + 1 tokens."""
    t = len(trace.token_ids)
    if not 0 <= position < t:
        raise IndexError(f"position {position} is outside the text")
    causal = trace.architecture != "encoder"
    keep = position + 1 if causal else t
    attentions = [layer.self_attn.mean_probs()[:keep, :keep] for layer in trace.layers]
    row = np.zeros(t)
    row[:keep] = rollout_row(attentions, position)
    return row


@dataclass(frozen=True)
class TokenRemoval:
    position: int  # the position whose next-token prediction is measured
    target: int  # the token id the full run predicts there (its top token)
    log_prob: float  # log P(target) of the full run
    removed: np.ndarray  # (n,) int positions j < position made invisible, one at a time
    delta: np.ndarray  # (n,) float log P(target | j removed) − log P(target), one per removed position
    skipped: int  # earlier positions not measured (beyond the budget)


def _removal_masks(t: int, removed: Sequence[int], device) -> torch.Tensor:
    """(n, 1, T, T) bool: in row b, no query but removed[b] itself may attend to key removed[b]."""
    allowed = torch.ones(len(removed), 1, t, t, dtype=torch.bool, device=device)
    for b, j in enumerate(removed):
        allowed[b, 0, :, j] = False
        allowed[b, 0, j, j] = True
    return allowed


def removable(position: int, max_removed: int = MAX_REMOVED, budget: int = TOKEN_BUDGET) -> list[int]:
    """The earlier positions measured for `position`: the nearest ones, at most max_removed and at most
    budget // (position + 1) of them (each removal reads position + 1 tokens)."""
    count = max(1, min(max_removed, budget // (position + 1), position))
    return list(range(max(position - count, 0), position))


@torch.inference_mode()
def token_removal(lm, token_ids: Sequence[int], position: int, max_removed: int = MAX_REMOVED,
                  budget: int = TOKEN_BUDGET) -> TokenRemoval:
    """The change in the log-probability of the token predicted after `position` when each earlier token is
    made invisible to every other position (see the module's docstring). Decoder-only models."""
    config = lm.config
    if not config.lm_head or config.architecture == "encoder-decoder" or not config.is_causal:
        raise InputError(N_("Token removal needs a decoder-only model that predicts next tokens."))
    if not 0 < position < len(token_ids):
        raise InputError(N_("The position must have at least one token before it."))
    ids = torch.tensor([list(token_ids[: position + 1])], device=lm.device)  # later tokens cannot matter
    base = torch.log_softmax(lm.run(ids, logits_for="last").logits[0, -1].float(), dim=-1)
    target = int(base.argmax())
    removed = removable(position, max_removed, budget)
    rows = max(1, BATCH_POSITIONS // (position + 1))
    deltas = []
    for start in range(0, len(removed), rows):
        part = removed[start : start + rows]
        allowed = _removal_masks(position + 1, part, lm.device)
        logits = lm.run(ids.expand(len(part), -1), logits_for="last", also_allowed=allowed).logits[:, -1].float()
        deltas.append((torch.log_softmax(logits, dim=-1)[:, target] - base[target]).cpu().numpy())
    return TokenRemoval(position, target, float(base[target]), np.array(removed, dtype=int),
                        np.concatenate(deltas).astype(np.float64), position - len(removed))
