"""Minimal pairs: two texts through the same model, and what differs between them.

- `align`: which tokens the two texts share, by their ids (difflib's longest matching blocks), and
  which differ;
- `counterpart`: the token of text 2 that stands where a token of text 1 stands (equal tokens align;
  inside a replaced stretch the n-th token faces the n-th);
- `aligned_difference`: for aligned query/key pairs, attention weight in text 2 minus weight in text 1;
- `distribution_shift`: the most likely next tokens of either text, with both probabilities and the change;
- `last_position_lens`: the top prediction at every layer for the last position of a text.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from core.numeric import softmax


@dataclass(frozen=True)
class Alignment:
    pairs: tuple[tuple[int, int], ...]  # (i, j): token i of text 1 is token j of text 2 (equal ids, matched)
    changed1: np.ndarray  # (T1,) bool: token of text 1 that has no equal partner in text 2
    changed2: np.ndarray  # (T2,) bool
    opcodes: tuple[tuple[str, int, int, int, int], ...]  # difflib's: ("equal"/"replace"/"delete"/"insert", i1, i2, j1, j2)

    @property
    def same(self) -> bool:
        return not self.changed1.any() and not self.changed2.any()


def align(ids1, ids2) -> Alignment:
    """Align two token-id sequences. No junk heuristic: a repeated token (a space, "the") is matched like any."""
    a, b = [int(i) for i in ids1], [int(i) for i in ids2]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    pairs = []
    changed1, changed2 = np.ones(len(a), dtype=bool), np.ones(len(b), dtype=bool)
    for block in matcher.get_matching_blocks():
        for n in range(block.size):
            pairs.append((block.a + n, block.b + n))
            changed1[block.a + n] = changed2[block.b + n] = False
    return Alignment(tuple(pairs), changed1, changed2, tuple(matcher.get_opcodes()))


def counterpart(alignment: Alignment, i: int) -> int | None:
    """The position in text 2 facing position `i` of text 1: its aligned token, or inside a replaced
    stretch the token at the same offset (the last one of a shorter stretch); None where text 2 has none."""
    for tag, i1, i2, j1, j2 in alignment.opcodes:
        if i1 <= i < i2:
            if tag == "equal":
                return j1 + (i - i1)
            if tag == "replace":
                return j1 + min(i - i1, j2 - j1 - 1)
            return None  # deleted: text 2 has nothing here
    return None


@dataclass(frozen=True)
class AlignedDifference:
    rows1: np.ndarray  # (A,) positions in text 1 of the aligned queries
    rows2: np.ndarray  # (A,) their partners in text 2
    cols1: np.ndarray  # (B,) positions in text 1 of the aligned keys
    cols2: np.ndarray  # (B,)
    weights1: np.ndarray  # (A, B) float32 weights of text 1 at those pairs, NaN where either text masks the pair
    weights2: np.ndarray  # (A, B) float32
    difference: np.ndarray  # (A, B) float32 weights2 − weights1, NaN where either text masks the pair


def aligned_difference(w1: np.ndarray, w2: np.ndarray, alignment: Alignment,
                       mask1: np.ndarray | None = None, mask2: np.ndarray | None = None,
                       query_pairs=None, key_pairs=None) -> AlignedDifference:
    """Attention weights (T1, S1) and (T2, S2) compared where the tokens align: D[a, b] = w2[q2_a, k2_b] −
    w1[q1_a, k1_b] over aligned queries a and aligned keys b (the same pairs for both, in self-attention;
    cross-attention passes the decoder's pairs as `query_pairs` and the encoder's as `key_pairs`)."""
    queries = np.array(query_pairs if query_pairs is not None else alignment.pairs, dtype=np.int64).reshape(-1, 2)
    keys = np.array(key_pairs if key_pairs is not None else alignment.pairs, dtype=np.int64).reshape(-1, 2)
    w1, w2 = np.asarray(w1, dtype=np.float32), np.asarray(w2, dtype=np.float32)
    a = w1[np.ix_(queries[:, 0], keys[:, 0])]
    b = w2[np.ix_(queries[:, 1], keys[:, 1])]
    allowed = np.ones(a.shape, dtype=bool)
    if mask1 is not None:
        allowed &= np.asarray(mask1, dtype=bool)[np.ix_(queries[:, 0], keys[:, 0])]
    if mask2 is not None:
        allowed &= np.asarray(mask2, dtype=bool)[np.ix_(queries[:, 1], keys[:, 1])]
    a, b = np.where(allowed, a, np.nan), np.where(allowed, b, np.nan)
    return AlignedDifference(queries[:, 0], queries[:, 1], keys[:, 0], keys[:, 1], a, b, b - a)



@dataclass(frozen=True)
class DistributionShift:
    ids: np.ndarray  # (K,) token ids: the top k of either text, most likely (in either) first
    p1: np.ndarray  # (K,) float64 probability after text 1
    p2: np.ndarray  # (K,) after text 2
    rank1: np.ndarray  # (K,) 0-based rank in text 1's distribution
    rank2: np.ndarray  # (K,)
    total_variation: float  # ½ Σ |p2 − p1| over the whole vocabulary

    @property
    def change(self) -> np.ndarray:
        return self.p2 - self.p1


def distribution_shift(logits1: np.ndarray, logits2: np.ndarray, k: int = 10) -> DistributionShift:
    """How the next-token distribution moved from text 1 to text 2 (both softmax at temperature 1)."""
    p1, p2 = softmax(logits1), softmax(logits2)
    if p1.shape != p2.shape:
        raise ValueError("the two distributions must share one vocabulary")
    order1, order2 = np.argsort(-p1, kind="stable"), np.argsort(-p2, kind="stable")
    top = np.unique(np.concatenate([order1[:k], order2[:k]]))
    top = top[np.argsort(-np.maximum(p1[top], p2[top]), kind="stable")]
    rank1, rank2 = np.empty_like(order1), np.empty_like(order2)
    rank1[order1], rank2[order2] = np.arange(p1.size), np.arange(p2.size)
    return DistributionShift(top, p1[top], p2[top], rank1[top], rank2[top], float(0.5 * np.abs(p2 - p1).sum()))


@dataclass(frozen=True)
class LastLens:
    top_ids: np.ndarray  # (L + 1,) the most likely next token at every layer, for the last position
    top_probs: np.ndarray  # (L + 1,) its probability


def last_position_lens(trace) -> LastLens:
    """The logit lens's top prediction at every layer (h_0 … h_L) for the last position of the text."""
    from core.lessons.logit_lens import lens_grid

    grid = lens_grid(trace, start=len(trace.token_ids) - 1, width=1, k=1)
    return LastLens(grid.top_ids[:, 0, 0].copy(), grid.top_probs[:, 0, 0].copy())
