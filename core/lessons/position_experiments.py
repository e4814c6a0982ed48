"""Positional encoding made runnable: the tables, their dot products, RoPE on a real head, and a model
run with its positional information switched off.

Everything here returns numpy. Nothing mutates a loaded model: pages share one model object between
sessions (and threads), so a run "without positions" is a knob of the forward pass (`positions=False`),
not a position table swapped inside the shared module under every other thread's feet.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.engine.positional import Rotary, rope_angles, sinusoidal_table
from core.errors import N_, InputError

MAX_TOKENS = 512  # a comparison runs the model four times; pages study sentences
ORDERS = ("reversed", "shuffled")
SAME_TOLERANCE = 1e-4  # relative to the outputs' size: float32 rounding of a 6-layer encoder is about 1e-6


# ---------------------------------------------------------------- tables and their dot products


def sinusoid(n_positions: int, d_model: int) -> np.ndarray:
    """(n_positions, d_model) float64: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(…)."""
    if n_positions < 1 or d_model < 2:
        raise ValueError(f"need at least one position and two dimensions, got {n_positions} × {d_model}")
    return sinusoidal_table(n_positions, d_model).numpy().astype(np.float64)


def wavelengths(d_model: int) -> np.ndarray:
    """(d_model,) the period in positions of each dimension: 2π · 10000^(2i/d)."""
    two_i = np.arange(d_model) // 2 * 2
    return 2 * np.pi * 10000.0 ** (two_i / d_model)


def dot_matrix(table) -> np.ndarray:
    """(P, P) every position's vector dotted with every other's."""
    table = np.asarray(table, dtype=np.float64)
    return table @ table.T


def cosine_matrix(table) -> np.ndarray:
    """(P, P) cosine similarity between the positions' vectors."""
    table = np.asarray(table, dtype=np.float64)
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    unit = table / np.maximum(norms, np.finfo(np.float64).tiny)
    return unit @ unit.T


def offset_curves(matrix, starts: Sequence[int]) -> np.ndarray:
    """(len(starts), P) row p of a (P, P) matrix read from the diagonal on: out[s, k] = M[p, p + k], NaN past the end.

    For the sinusoid's dot matrix every row gives the same curve: PE(p)·PE(p+k) = Σ cos(k ω_i) depends on k only."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = matrix.shape[0]
    out = np.full((len(starts), n), np.nan)
    for row, p in enumerate(starts):
        if not 0 <= p < n:
            raise ValueError(f"start {p} is outside 0..{n - 1}")
        out[row, : n - p] = matrix[p, p:]
    return out


def diagonal_spread(matrix) -> np.ndarray:
    """(P,) for each offset k, max − min of M[p, p + k] over p: all zeros when the matrix depends only on
    the distance between two positions (a Toeplitz matrix)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return np.array([np.ptp(np.diagonal(matrix, k)) for k in range(matrix.shape[0])])


def learned_position_table(lm, n_positions: int | None = None) -> np.ndarray | None:
    """The first `n_positions` rows of a model's learned position table (float32 numpy, a copy), or None
    when its positions are not learned."""
    weight = lm.weights.W_pos()
    if weight is None:
        return None
    n = weight.shape[0] if n_positions is None else min(n_positions, weight.shape[0])
    with torch.inference_mode():
        return weight[:n].float().cpu().numpy().copy()


# ---------------------------------------------------------------- RoPE on recorded vectors


def unrotate(x, base: float, start: int = 0) -> np.ndarray:
    """(…, T, hs) vectors that RoPE rotated at positions start…start+T-1, rotated back (float64): the query
    or key a head computed before its position was applied."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    positions = -torch.arange(start, start + x.shape[-2])
    return Rotary(rope_angles(positions, x.shape[-1], base), torch.float64)(x).numpy()


def rope_scores_by_offset(q, k, offsets: Sequence[int], base: float) -> np.ndarray:
    """(len(offsets),) the score q·k/√hs of one unrotated query and key when the query sits `offset`
    positions after the key: RoPE makes it the same wherever the pair is."""
    q, k = (torch.as_tensor(np.asarray(v, dtype=np.float64)) for v in (q, k))
    if q.shape != k.shape or q.ndim != 1:
        raise ValueError(f"q and k must be two (hs,) vectors, got {tuple(q.shape)} and {tuple(k.shape)}")
    rotary = Rotary(rope_angles(torch.as_tensor(list(offsets)), q.shape[0], base), torch.float64)
    rotated = rotary(q.expand(len(offsets), -1))  # query at position `offset`, key at position 0 (unrotated)
    return (rotated @ k / math.sqrt(q.shape[0])).numpy()


def rope_pair_path(vector, pair: int, positions: Sequence[int], base: float) -> np.ndarray:
    """(len(positions), 2) the 2-D part (x_j, x_{j+hs/2}) of a vector rotated to each position: a point
    turning on a circle by θ_j = base^(-2j/hs) per position."""
    vector = torch.as_tensor(np.asarray(vector, dtype=np.float64))
    hs = vector.shape[0]
    if not 0 <= pair < hs // 2:
        raise ValueError(f"pair {pair} is outside 0..{hs // 2 - 1}")
    rotated = Rotary(rope_angles(torch.as_tensor(list(positions)), hs, base), torch.float64)(vector.expand(len(positions), -1))
    return rotated[:, [pair, pair + hs // 2]].numpy()


def rope_frequencies(head_dim: int, base: float) -> np.ndarray:
    """(hs/2,) radians per position of each pair."""
    return base ** (-np.arange(0, head_dim, 2) / head_dim)


@dataclass(frozen=True)
class RopeHead:
    """One head's recorded query and keys with RoPE undone, for a chosen query token."""

    query: int
    q: np.ndarray  # (hs,) the query token's query before rotation
    keys: np.ndarray  # (S, hs) every key before rotation
    scores: np.ndarray  # (S,) the scores the model recorded for this query
    base: float

    def by_offset(self, key: int, offsets: Sequence[int]) -> np.ndarray:
        """The score of this query with key `key`, as if the query sat each offset after the key."""
        return rope_scores_by_offset(self.q, self.keys[key], offsets, self.base)

    def recomputed(self) -> np.ndarray:
        """(S,) every score recomputed from the unrotated vectors at the pair's real offset; it equals
        `scores` up to the trace's rounding: the position enters only through the offset."""
        return np.array([self.by_offset(j, [self.query - j])[0] for j in range(len(self.keys))])


def rope_head(attn_record, head: int, query: int, base: float) -> RopeHead:
    """From a trace's AttentionRecord (q after RoPE, k after RoPE, scores): the head's vectors unrotated.
    Grouped-query attention: query head h reads key/value head h // (nh / nkv)."""
    q, k = np.asarray(attn_record.q), np.asarray(attn_record.k)
    n_heads, n_kv = q.shape[0], k.shape[0]
    if not 0 <= head < n_heads or not 0 <= query < q.shape[1]:
        raise ValueError(f"head {head} / query {query} outside the record's {n_heads} heads × {q.shape[1]} tokens")
    kv = head // (n_heads // n_kv)
    return RopeHead(query, unrotate(q[head], base)[query], unrotate(k[kv], base),
                    np.asarray(attn_record.scores[head, query], dtype=np.float64), base)


# ---------------------------------------------------------------- a model without positions


def _check_one_stack(lm) -> None:
    if lm.config.architecture == "encoder-decoder":
        raise InputError(N_("{model} is an encoder–decoder; this experiment runs an encoder or a decoder"),
                         model=lm.name)


def run_stack(lm, ids: Sequence[Sequence[int]], positions: bool = True, key_is_real=None) -> np.ndarray:
    """(B, T, d) float32 output of the model's stack (after its final norm) for a batch of ids.

    With `positions=False` the positional information is left out: no position vector is added (learned,
    sinusoidal) and no rotation is applied (RoPE). The blocks, masks and norms are the model's own; the
    shared module is only read. With `positions=True` this is the model's own forward."""
    _check_one_stack(lm)
    with torch.inference_mode():
        real = None if key_is_real is None else torch.as_tensor(np.asarray(key_is_real, dtype=bool), device=lm.device)
        out = lm.run([list(row) for row in ids], key_is_real=real, logits_for="none", positions=positions)
        return out.hidden.float().cpu().numpy()


def _character_groups(tokenizer, ids: Sequence[int]) -> list[list[int]]:
    """Consecutive ids joined until their bytes spell whole characters (a Chinese character's three bytes
    may sit in three byte-level tokens): reordering whole groups keeps the text readable."""
    groups, current, data = [], [], b""
    for token_id in ids:
        current.append(token_id)
        data += tokenizer.token_bytes(token_id)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        groups.append(current)
        current, data = [], b""
    return groups + ([current] if current else [])


def reorder(tokenizer, ids: Sequence[int], order: str, seed: int = 0) -> list[int]:
    """The same ids in another order: the tokens of the text reversed or shuffled (seeded), in whole
    characters, with the special tokens the tokenizer adds at either end ([CLS], [SEP], <s>) in place."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    ids = [int(i) for i in ids]
    first = 0
    while first < len(ids) and ids[first] in tokenizer.special_ids and not tokenizer.is_unknown(ids[first]):
        first += 1
    last = len(ids)
    while last > first and ids[last - 1] in tokenizer.special_ids and not tokenizer.is_unknown(ids[last - 1]):
        last -= 1
    groups = _character_groups(tokenizer, ids[first:last])
    if order == "reversed":
        groups = groups[::-1]
    else:
        rng, original = random.Random(seed), list(groups)
        for _ in range(20):  # a shuffle that changes nothing would prove nothing
            rng.shuffle(groups)
            if groups != original or len({tuple(g) for g in groups}) < 2:
                break
    return ids[:first] + [i for group in groups for i in group] + ids[last:]


def matching(ids_a: Sequence[int], ids_b: Sequence[int]) -> list[int]:
    """A permutation p with ids_b[i] == ids_a[p[i]] (equal ids matched in order); InputError if the two
    sequences are not the same tokens in another order."""
    unused: dict[int, list[int]] = {}
    for index, token_id in enumerate(ids_a):
        unused.setdefault(int(token_id), []).append(index)
    permutation = []
    for token_id in ids_b:
        places = unused.get(int(token_id))
        if not places:
            raise InputError(N_("The two texts are not the same tokens in another order."))
        permutation.append(places.pop(0))
    if len(permutation) != len(ids_a):
        raise InputError(N_("The two texts are not the same tokens in another order."))
    return permutation


@dataclass(frozen=True)
class OrderComparison:
    """One model's outputs for a text and for its tokens in another order, with and without positions.

    For token i of the reordered text, the difference is against the same token in the original text:
    |out_b[i] − out_a[permutation[i]]|, its largest entry. An encoder without positions gives exactly the
    same vectors, permuted (differences at float rounding); a causal decoder does not, since its mask
    lets each token see only those before it, and that depends on the order."""

    model: str
    positional: str
    causal: bool
    ids_a: list[int]
    ids_b: list[int]
    permutation: list[int]
    with_positions: np.ndarray  # (T,) max |difference| per token of text b
    without_positions: np.ndarray  # (T,)
    scale: float  # the largest |entry| of the outputs, for a sense of size

    @property
    def max_with(self) -> float:
        return float(self.with_positions.max())

    @property
    def max_without(self) -> float:
        return float(self.without_positions.max())

    @property
    def reordered(self) -> bool:
        return self.ids_a != self.ids_b

    @property
    def permuted_without_positions(self) -> bool:
        """Without positions, the outputs are the same vectors permuted (to float rounding)."""
        return self.max_without <= SAME_TOLERANCE * max(self.scale, 1.0)


def compare_orders(lm, ids_a: Sequence[int], ids_b: Sequence[int]) -> OrderComparison:
    """Run `lm` on both orders, with and without its positional information, and compare token by token."""
    ids_a, ids_b = [int(i) for i in ids_a][:MAX_TOKENS], [int(i) for i in ids_b][:MAX_TOKENS]
    permutation = matching(ids_a, ids_b)
    differences, scale = {}, 0.0
    for positions in (True, False):
        out = run_stack(lm, [ids_a, ids_b], positions)  # one batch: the two orders have the same length
        differences[positions] = np.abs(out[1] - out[0][permutation]).max(axis=-1)
        scale = max(scale, float(np.abs(out).max()))
    return OrderComparison(lm.name, lm.config.positional, lm.config.is_causal, ids_a, ids_b, permutation,
                           differences[True], differences[False], scale)
