"""Embeddings as numbers: vector lengths, cosine similarity, nearest tokens in a model's embedding
table, principal components, and how one token's vector changes from layer to layer.

Everything but `nearest_tokens` is plain numpy on arrays a trace already holds. `nearest_tokens`
reads the model's embedding table where it lives (SmolLM2's is 49,152 × 576): one matrix-vector
product per question, with the rows' lengths computed once per model.
"""

from __future__ import annotations

import re
import string
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import N_, InputError
from core.record.trace import StackRecord, Trace

MAX_ITEMS = 12  # words or sentences compared at once: a 12 × 12 matrix still reads on a projector
PUNCTUATION = string.punctuation + "，。！？、；：“”‘’（）《》…"


def text_stack(trace: Trace) -> StackRecord:
    """The stack that reads the text: the encoder of an encoder-decoder, else the only stack."""
    return trace.encoder if trace.encoder is not None else trace.stack


def embedding_table(lm) -> torch.Tensor:
    """The token embedding table, (vocab, d), of the stack that reads the text (W_E)."""
    return lm.weights.W_E("encoder" if lm.config.architecture == "encoder-decoder" else "stack")


def norms(vectors) -> np.ndarray:
    """(n,) the Euclidean length of each row."""
    return np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=-1)


def finite_rows(vectors) -> np.ndarray:
    """(n,) True for the rows whose every value is a number. A trace kept as float16 holds ±inf where a
    value passed 65,504: Gemma's first token does, in its middle layers."""
    return np.isfinite(np.asarray(vectors, dtype=np.float64)).all(axis=-1)


def unit_rows(vectors) -> np.ndarray:
    """Each row divided by its length (a zero row stays zero; a row that is not all numbers is NaN)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    finite = finite_rows(vectors)[..., None]
    clean = np.where(finite, vectors, 0.0)
    lengths = np.linalg.norm(clean, axis=-1, keepdims=True)
    unit = np.divide(clean, lengths, out=np.zeros_like(clean), where=lengths > 0)
    return np.where(finite, unit, np.nan)


def cosine(a, b) -> float:
    """cos of the angle between two vectors; 0 where either has no length, NaN where either is not all numbers."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(unit_rows(a[None])[0] @ unit_rows(b[None])[0])


def cosine_matrix(vectors) -> np.ndarray:
    """(n, n) the cosine of every pair of rows."""
    unit = unit_rows(vectors)
    if unit.ndim != 2:
        raise ValueError(f"vectors must be (n, d), got shape {unit.shape}")
    return np.clip(unit @ unit.T, -1.0, 1.0)


# ---------------------------------------------------------------- nearest tokens


@dataclass(frozen=True)
class Neighbour:
    token_id: int
    cosine: float


# The length of every row of a model's embedding table, per model's weights (compared by identity, which a
# tensor is not).
_ROW_LENGTHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _row_lengths(lm, table: torch.Tensor) -> torch.Tensor:
    lengths = _ROW_LENGTHS.get(lm.weights)
    if lengths is None:
        with torch.inference_mode():
            lengths = table.float().norm(dim=1).clamp_min(1e-12)
        _ROW_LENGTHS[lm.weights] = lengths
    return lengths


def nearest_tokens(lm, token_id: int, k: int = 10) -> list[Neighbour]:
    """The k tokens whose embedding rows point most nearly the same way as `token_id`'s (cosine), itself left out."""
    table = embedding_table(lm)
    vocab = table.shape[0]
    token_id = int(token_id)
    if not 0 <= token_id < vocab:
        raise InputError(N_("Token id {id} is outside the vocabulary (0 to {last})."), id=token_id, last=vocab - 1)
    k = max(0, min(int(k), vocab - 1))
    with torch.inference_mode():
        lengths = _row_lengths(lm, table)
        weights = table.float()  # no copy for a float32 model
        similarity = (weights @ weights[token_id]) / (lengths * lengths[token_id])
        similarity[token_id] = -torch.inf
        top = torch.topk(similarity, k)
    return [Neighbour(int(i), float(c)) for i, c in zip(top.indices.cpu(), top.values.cpu())]


# ---------------------------------------------------------------- principal components


@dataclass(frozen=True)
class Projection:
    coords: np.ndarray  # (n, k) each point on the first k principal axes
    explained: np.ndarray  # (k,) the share of the variance along each axis
    components: np.ndarray  # (k, d) the axes, unit vectors
    mean: np.ndarray  # (d,) subtracted before projecting


def pca(points, k: int = 2, unit: bool = False) -> Projection:
    """Principal components by singular value decomposition of the centred points.

    With `unit`, each point is first scaled to length 1, so that the picture shows directions (what
    cosine compares) rather than lengths. Axes beyond the rank of the points are zero. Each axis
    is signed so that its largest loading is positive: the same points always give the same picture.
    Points must be finite (leave out the others with `finite_rows`)."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"points must be (n, d) with n ≥ 1, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("points must be finite numbers")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if unit:
        x = unit_rows(x)
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    r = min(k, len(s))
    signs = np.sign(vt[np.arange(r), np.abs(vt[:r]).argmax(axis=1)])
    signs[signs == 0] = 1.0
    coords = np.zeros((len(x), k))
    components = np.zeros((k, x.shape[1]))
    coords[:, :r] = u[:, :r] * s[:r] * signs
    components[:r] = vt[:r] * signs[:, None]
    variance = s**2
    explained = np.zeros(k)
    if variance.sum() > 0:
        explained[:r] = variance[:r] / variance.sum()
    return Projection(coords, explained, components, mean)


# ---------------------------------------------------------------- contexts


def layer_cosines(hidden_a, position_a: int, hidden_b, position_b: int) -> np.ndarray:
    """(layers + 1,) cosine between token `position_a` of one text and `position_b` of another, at every
    depth: hidden states are (layers + 1, T, d) as a trace stores them. NaN at a depth where either
    vector is not all numbers."""
    a, b = np.asarray(hidden_a)[:, position_a], np.asarray(hidden_b)[:, position_b]
    if a.shape != b.shape:
        raise ValueError(f"the two stacks differ in shape: {a.shape} and {b.shape}")
    return np.sum(unit_rows(a) * unit_rows(b), axis=-1)


def occurrences(token_ids_per_text: list[list[int]], token_id: int, limit: int = 4) -> list[tuple[int, int]]:
    """(text, position) of each place `token_id` stands, text by text, at most `limit` of them."""
    found = [(t, p) for t, ids in enumerate(token_ids_per_text) for p, i in enumerate(ids) if i == token_id]
    return found[:limit]


# ---------------------------------------------------------------- what to compare


@dataclass(frozen=True)
class Items:
    items: tuple[str, ...]
    by: str  # "line" (one per line) or "word" (a single line, cut at spaces)
    dropped: int  # beyond MAX_ITEMS


def items_to_compare(text: str, limit: int = MAX_ITEMS) -> Items:
    """The words or sentences of `text` to compare: one per non-empty line, or, for a text of a single
    line, its words (punctuation around them removed); each only once (“The” and “the” count as one, as
    the sentence model does not tell them apart), at most `limit`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= 2:
        found, by = lines, "line"
    else:
        found = [word.strip(PUNCTUATION) for word in re.split(r"\s+", lines[0])] if lines else []
        found, by = [w for w in found if w], "word"
    first_spelling: dict[str, str] = {}
    for item in found:
        first_spelling.setdefault(item.casefold(), item)
    unique = list(first_spelling.values())
    return Items(tuple(unique[:limit]), by, max(0, len(unique) - limit))
