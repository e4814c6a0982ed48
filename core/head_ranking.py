"""Which heads are worth a look for one query token: a teacher should not have to step through 270 heads.

A head is interesting for a token when it looks somewhere a trivial head would not: not at the token
itself, not at its left neighbour, and not at an attention sink (the first token or a special token,
where heads with nothing to find park their weight). The score is the largest weight such a head gives
one of the remaining keys, so a head that points sharply at one earlier word ("it" → "animal") ranks
above one that spreads its weight thinly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeadScore:
    layer: int
    head: int
    score: float  # the largest weight on a key that is not the query, its left neighbour or a sink
    key: int  # that key's position
    share: float  # all the weight on such keys together


def rank_heads(probs_per_layer: Sequence[np.ndarray], query: int, sinks: np.ndarray, top: int = 5) -> list[HeadScore]:
    """The `top` heads by score for query position `query`.

    probs_per_layer: one (heads, T, S) array per layer; sinks: (S,) bool, the keys to ignore besides
    the query itself and its left neighbour (for self-attention, where keys are the same tokens)."""
    rows = [np.asarray(probs[:, query, :]) for probs in probs_per_layer]
    self_attention = bool(probs_per_layer) and probs_per_layer[0].shape[1] == probs_per_layer[0].shape[2]
    return rank_query_rows(rows, query, sinks, self_attention, top)


def rank_query_rows(rows_per_layer: Sequence[np.ndarray], query: int, sinks: np.ndarray,
                    self_attention: bool = True, top: int = 5) -> list[HeadScore]:
    """rank_heads from each layer's (heads, S) row of the query alone, as `AttentionRecord.query_rows(query)`
    gives it: ranking the heads of a long text never needs every head's T x S matrix."""
    sinks = np.asarray(sinks, dtype=bool)
    scores = []
    for layer, rows in enumerate(rows_per_layer):
        rows = np.asarray(rows, dtype=np.float32)  # (heads, S)
        if rows.shape[1] != sinks.shape[0]:
            raise ValueError(f"sinks must have one entry per key ({rows.shape[1]}), got {sinks.shape[0]}")
        ignored = sinks.copy()
        if self_attention:  # the query and its neighbour are keys too
            ignored[query] = True
            ignored[max(query - 1, 0)] = True
        kept = np.where(ignored, 0.0, np.nan_to_num(rows))  # (heads, S)
        for head, row in enumerate(kept):
            key = int(row.argmax())
            scores.append(HeadScore(layer, head, float(row[key]), key, float(row.sum())))
    scores.sort(key=lambda s: (-s.score, s.layer, s.head))
    return scores[:top]
