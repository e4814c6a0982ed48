"""Which earlier tokens fed a prediction: attention rollout, and a direct measure by removing one token.

Attention rollout (Abnar & Zuidema, 2020): each layer's attention averaged over heads, A; the residual
connection added as the identity, Â = ½A + ½I, rows renormalised to sum to 1; then multiplied through the
layers, R = Â_L ⋯ Â_2 Â_1. Row p of R says how much of position p's final state "came from" each input
token, if information flowed only along attention weights (it ignores the values, W_O and the feed-forward).

The removal measure runs the model again with one earlier token j made invisible: in every layer no other
position may attend to it (its key is masked out for every query but its own), so nothing of it can reach
position p, whose own residual stream never held it. The measure is the change in the log-probability of the
token the full run predicts at p: log P(y | text without j) − log P(y | text). It is causal for that
intervention. Removing j changes nothing at j or before it, so each run starts from the keys and values of
positions 0 … j as the full run computed them (a decoder's key/value cache) and computes only positions
j + 1 … p: measuring the k nearest tokens reads k (k + 1) / 2 positions, not k whole prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import N_, InputError
from core.record.trace import AttentionRecord, Trace

MAX_REMOVED = 64  # tokens measured by removal at most (the nearest before the position): 2,080 positions run
ROLLOUT_ROWS = 256  # query rows of every head computed together for the rollout (9 heads × 256 × 2,048: 19 MB)


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
    return roll_down(_unit(np.asarray(attentions[0]).shape[0], position), reversed(attentions))


def roll_down(row: np.ndarray, attentions_last_first: Iterable[np.ndarray]) -> np.ndarray:
    """row Â_L ⋯ Â_1 from the layers' (T, T) attention given last layer first (each may be computed when
    the row reaches it). Â is never formed: with s_i the sum of A's row i, row Â = ½ (w A) + ½ w where
    w_i = row_i / (½ s_i + ½), one vector-matrix product a layer and no T × T temporaries."""
    for attention in attentions_last_first:
        a = np.asarray(attention)
        w = row / (0.5 * a.sum(axis=-1, dtype=np.float64) + 0.5)
        row = 0.5 * (w @ a) + 0.5 * w
    return row


def _unit(t: int, position: int) -> np.ndarray:
    row = np.zeros(t)
    row[position] = 1.0
    return row


def trace_rollout(trace: Trace, position: int) -> np.ndarray:
    """(T,) float64 the rollout row of `position` through the main stack's self-attention, from each layer's
    mean over heads as the trace computes it. A causal model's row needs only the first position + 1 tokens.
    Each layer's mean is computed when the row reaches it and let go after: one (T, T) matrix in memory at a
    time, none kept in the trace."""
    t = len(trace.token_ids)
    if not 0 <= position < t:
        raise IndexError(f"position {position} is outside the text")
    causal = trace.architecture != "encoder"
    keep = position + 1 if causal else t
    layers = (head_mean(layer.self_attn, keep, causal) for layer in reversed(trace.layers))
    return np.pad(roll_down(_unit(keep, position), layers), (0, t - keep))


def head_mean(attention: AttentionRecord, keep: int, causal: bool = True) -> np.ndarray:
    """(keep, keep) float32 the mean over heads of the probabilities of the first `keep` queries and keys,
    ROLLOUT_ROWS queries at a time, a causal block only up to its last query's key: never every head's (T, T),
    and half the products of the whole square."""
    mean = np.zeros((keep, keep), dtype=np.float32)
    for start in range(0, keep, ROLLOUT_ROWS):
        stop = min(start + ROLLOUT_ROWS, keep)
        block = attention.mean_probs_block(start, stop, stop if causal else keep)
        mean[start:stop, : block.shape[-1]] = block
    return mean


@dataclass(frozen=True)
class TokenRemoval:
    position: int  # the position whose next-token prediction is measured
    target: int  # the token id the full run predicts there (its top token)
    log_prob: float  # log P(target) of the full run
    removed: np.ndarray  # (n,) int positions j < position made invisible, one at a time
    delta: np.ndarray  # (n,) float log P(target | j removed) − log P(target), one per removed position
    skipped: int  # earlier positions not measured (beyond the budget)


def removable(position: int, max_removed: int = MAX_REMOVED) -> list[int]:
    """The earlier positions measured for `position`: the nearest ones, at most max_removed."""
    count = max(1, min(max_removed, position))
    return list(range(position - count, position))


@torch.inference_mode()
def token_removal(lm, token_ids: Sequence[int], position: int, max_removed: int = MAX_REMOVED,
                  trace: Trace | None = None) -> TokenRemoval:
    """The change in the log-probability of the token predicted after `position` when each earlier token is
    made invisible to every other position (see the module's docstring). Decoder-only models. With the
    `trace` of these tokens, the full run's keys, values and prediction are read from it, not run again."""
    config = lm.config
    if not config.lm_head or config.architecture == "encoder-decoder" or not config.is_causal:
        raise InputError(N_("Token removal needs a decoder-only model that predicts next tokens."))
    if not 0 < position < len(token_ids):
        raise InputError(N_("The position must have at least one token before it."))
    ids = torch.tensor([list(token_ids[: position + 1])], device=lm.device)  # later tokens cannot matter
    cache, logits = lm.prefix_run(ids[0].tolist(), trace)
    base = torch.log_softmax(logits.float(), dim=-1)
    target = int(base.argmax())
    removed = removable(position, max_removed)
    deltas = np.empty(len(removed))
    # The latest j first: its run rewrites the cache only after j, where no later run (an earlier j) reads it.
    for index in reversed(range(len(removed))):
        j = removed[index]
        cache.truncate(j + 1)
        allowed = torch.ones(1, 1, position - j, position + 1, dtype=torch.bool, device=lm.device)
        allowed[..., j] = False  # every query here comes after j
        logits = lm.run(ids[:, j + 1 :], cache=cache, logits_for="last", also_allowed=allowed).logits[0, -1]
        deltas[index] = float(torch.log_softmax(logits.float(), dim=-1)[target] - base[target])
    return TokenRemoval(position, target, float(base[target]), np.array(removed, dtype=int), deltas,
                        position - len(removed))
