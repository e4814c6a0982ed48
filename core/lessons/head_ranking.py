"""Which heads are worth a look for one query token: a teacher should not have to step through 270 heads.

A head is interesting for a token when it looks somewhere a trivial head would not: not at the token
itself, not at its left neighbour, and not at an attention sink (the first token or a special token,
where heads with nothing to find park their weight). The score is the largest weight such a head gives
one of the remaining keys, so a head that points sharply at one earlier word ("it" → "animal") ranks
above one that spreads its weight thinly.

Two more things keep the list about the text's words (`worth_a_look`):
- a model may grow sinks of its own inside the text (SmolLM2 parks weight on a "the" from every later
  token): `parking_keys` finds them from what each head gives each key on average over the queries;
- many heads often point at one word: the list names each target once, with its best head, so that five
  entries show five different words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PARK_WEIGHT = 0.3  # a head "parks" on a key when it gives it this much on average over the queries ...
PARK_HEADS = 0.2  # ... and a key where this share of all heads park is a sink the model made itself


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
                    self_attention: bool = True, top: int | None = 5) -> list[HeadScore]:
    """rank_heads from each layer's (heads, S) row of the query alone, as `AttentionRecord.query_rows(query)`
    gives it: ranking the heads of a long text never needs every head's T x S matrix. `top=None`: every head."""
    ignored = ignored_keys(np.asarray(sinks, dtype=bool), query, self_attention)
    scores = []
    for layer, rows in enumerate(rows_per_layer):
        rows = np.asarray(rows, dtype=np.float32)  # (heads, S)
        if rows.shape[1] != ignored.shape[0]:
            raise ValueError(f"sinks must have one entry per key ({rows.shape[1]}), got {ignored.shape[0]}")
        kept = np.where(ignored, 0.0, np.nan_to_num(rows))  # (heads, S)
        for head, row in enumerate(kept):
            key = int(row.argmax())
            scores.append(HeadScore(layer, head, float(row[key]), key, float(row.sum())))
    scores.sort(key=lambda s: (-s.score, s.layer, s.head))
    return scores[:top]


def ignored_keys(sinks: np.ndarray, query: int, self_attention: bool) -> np.ndarray:
    """(S,) bool: the sinks, and for self-attention the query and its left neighbour (keys too)."""
    ignored = np.asarray(sinks, dtype=bool).copy()
    if self_attention:
        ignored[query] = True
        ignored[max(query - 1, 0)] = True
    return ignored


def parking_keys(key_means_per_layer: Sequence[np.ndarray], weight: float = PARK_WEIGHT,
                 heads: float = PARK_HEADS) -> np.ndarray:
    """(S,) bool: keys where at least a `heads` share of all heads put at least `weight` of their attention on
    average over the queries (`AttentionRecord.key_means`): sinks the model made of ordinary tokens."""
    means = np.concatenate([np.asarray(m, dtype=np.float32) for m in key_means_per_layer])  # (layers × heads, S)
    return (np.nan_to_num(means) >= weight).mean(axis=0) >= heads


def worth_a_look(rows_per_layer: Sequence[np.ndarray], query: int, ignored: np.ndarray,
                 self_attention: bool = True, top: int = 5) -> list[HeadScore]:
    """Up to `top` heads, each pointing at a different key: for each target, the head that gives it the most
    weight, targets in order of that weight. `ignored` (S,) marks keys that are no target (sinks, parking
    keys, punctuation); heads with nothing left to point at are left out."""
    best: dict[int, HeadScore] = {}
    for score in rank_query_rows(rows_per_layer, query, ignored, self_attention, top=None):
        if score.score <= 0 or len(best) == top:
            break
        best.setdefault(score.key, score)
    return list(best.values())


def alignment_head(probs_per_layer: Sequence[np.ndarray], sinks: np.ndarray) -> tuple[int, int]:
    """(layer, head) of the cross-attention that best aligns target and source: each decoder row looks
    sharply at one source word, and the rows look at different words. Score: the rows' mean largest weight
    on a word (sinks such as `<s>` left out) times the share of the words some row looks at most. The last
    row, which predicts `</s>`, has no word to translate and is left out."""
    kept = ~np.asarray(sinks, dtype=bool)
    best, where = -1.0, (0, 0)
    for layer, probs in enumerate(probs_per_layer):
        probs = np.asarray(probs, dtype=np.float32)  # (heads, T, S)
        rows = probs[:, :-1] if probs.shape[1] > 1 else probs
        words = np.nan_to_num(rows[..., kept])  # (heads, rows, words)
        for head, matrix in enumerate(words):
            if not matrix.size:
                continue
            covered = len(set(matrix.argmax(axis=1).tolist())) / min(matrix.shape)
            score = float(matrix.max(axis=1).mean()) * covered
            if score > best:
                best, where = score, (layer, head)
    return where
