"""From logits to the next token: softmax with temperature, top-k, top-p, sampling; and generation.

Every sampling function works on the logits of one position, a float (vocab,) array, and
computes in float64 so that probabilities sum to 1 even at low temperature.
Randomness comes only from the numpy Generator the caller passes: with
`step_rng(seed, position)` the same seed gives the same continuation whether it
is produced one click at a time or all at once.

Generation keeps the keys and values of what the model has read (`GenerationCache`), so each
new token costs one position: the model reads the new token, not the whole text again.
"""

from __future__ import annotations

import codecs
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core import numeric
from core.errors import InputError


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T) of logits along the last axis, float64; every row needs a finite logit."""
    return numeric.softmax(numeric.logit_rows(logits), temperature=temperature)



def _ranking(scores: np.ndarray) -> np.ndarray:
    """Token ids from the highest score down; equal scores keep the lower id first, so ties are deterministic."""
    return np.argsort(-scores, kind="stable")


def top_k_mask(logits, k: int) -> np.ndarray:
    """True for the k highest-scoring tokens (all of them when k >= vocabulary size)."""
    scores = numeric.logit_rows(logits)
    if scores.ndim != 1:
        raise InputError("top_k_mask takes the logits of one position, a 1-D array")
    if not isinstance(k, numbers.Integral) or k < 1:
        raise InputError(f"top-k must be a whole number of at least 1, got {k!r}")
    keep = np.zeros(scores.shape, dtype=bool)
    keep[_ranking(scores)[:k]] = True
    return keep


def top_p_mask(probs, p: float) -> np.ndarray:
    """Nucleus: the smallest set of most likely tokens whose probabilities add up to at least p.

    The most likely token is always kept, so a tiny p still leaves something to choose.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0 or np.isnan(probs).any() or (probs < 0).any():
        raise InputError("top_p_mask takes one probability distribution, a 1-D array of non-negative numbers")
    if not (isinstance(p, numbers.Real) and 0 < p <= 1):
        raise InputError(f"top-p must be in (0, 1], got {p!r}")
    order = _ranking(probs)
    cumulative = np.cumsum(probs[order])
    n_keep = min(int(np.searchsorted(cumulative, p, side="left")) + 1, probs.size)
    keep = np.zeros(probs.shape, dtype=bool)
    keep[order[:n_keep]] = True
    return keep


@dataclass(frozen=True)
class Sampling:
    """How to pick the next token. top_k=None and top_p=None switch those filters off."""

    greedy: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        numeric.check_temperature(self.temperature)
        if self.top_k is not None and (not isinstance(self.top_k, numbers.Integral) or self.top_k < 1):
            raise InputError(f"top-k must be a whole number of at least 1, got {self.top_k!r}")
        if self.top_p is not None and not (isinstance(self.top_p, numbers.Real) and 0 < self.top_p <= 1):
            raise InputError(f"top-p must be in (0, 1], got {self.top_p!r}")


@dataclass(frozen=True)
class Filtered:
    """One position's distribution before and after top-k/top-p, each (vocab,) float64."""

    probs: np.ndarray  # softmax(z / T) over the whole vocabulary
    kept: np.ndarray  # bool, the tokens that survive top-k and top-p
    renormalised: np.ndarray  # probs of the survivors scaled to sum to 1; 0 elsewhere


def filter_distribution(logits, sampling: Sampling) -> Filtered:
    """Temperature, then top-k, then top-p on what top-k left (the order Hugging Face's samplers use)."""
    logits = numeric.logit_rows(logits)
    if logits.ndim != 1:
        raise InputError("filter_distribution takes the logits of one position, a 1-D array")
    probs = softmax(logits, sampling.temperature)
    kept = np.ones(probs.shape, dtype=bool) if sampling.top_k is None else top_k_mask(logits, sampling.top_k)
    if sampling.top_p is not None:
        after_k = np.where(kept, probs, 0.0)
        kept &= top_p_mask(after_k / after_k.sum(), sampling.top_p)
    renormalised = np.where(kept, probs, 0.0)
    return Filtered(probs, kept, renormalised / renormalised.sum())


def next_token(logits, sampling: Sampling, rng: np.random.Generator) -> tuple[int, Filtered]:
    """The chosen token id and the distribution it was drawn from. Greedy takes the argmax and draws nothing."""
    filtered = filter_distribution(logits, sampling)
    if sampling.greedy:
        return int(np.argmax(filtered.probs)), filtered  # the first of equal maxima: the lowest id, as _ranking
    return int(rng.choice(filtered.renormalised.size, p=filtered.renormalised)), filtered


def step_rng(seed: int, position: int) -> np.random.Generator:
    """The generator for the token at `position`: a step's draw depends only on the seed and where it is."""
    return np.random.default_rng([int(seed), int(position)])


@dataclass(frozen=True)
class Step:
    ids: list[int]  # the input ids with the new token appended
    token_id: int
    logits: np.ndarray  # (vocab,) float32, what the model computed for the new position
    distribution: Filtered
    # (layers, heads, S) float16: where the last input id looked, in every head, when the model chose token_id
    # (its attention row over itself and everything before it); None without a cache.
    attention: np.ndarray | None = None


@dataclass
class GenerationCache:
    """What step-by-step generation keeps between calls: the ids the model has read, and every layer's keys
    and values for them (`model.DecoderCache`). Keep one per continuation (a page keeps it in its session)
    and pass it to every `generate_step`: a step reads only the ids that are new since the last, usually one.
    Ids that share only a beginning with what was read (an edited text) reuse that beginning."""

    model: str | None = None
    ids: list[int] = field(default_factory=list)
    layers: object | None = None  # model.DecoderCache




@dataclass(frozen=True)
class GeneratedToken:
    token_id: int
    logits: np.ndarray  # (vocab,) float32, what the model computed before choosing it
    attention: np.ndarray  # (layers, heads, S) float16: where the last id read looked when the model chose it


@dataclass(frozen=True)
class Generation:
    prompt_ids: list[int]
    tokens: tuple[GeneratedToken, ...]  # one per step; token i was chosen after reading prompt + tokens[:i]

    @property
    def ids(self) -> list[int]:
        """The continuation's token ids."""
        return [token.token_id for token in self.tokens]


@dataclass(frozen=True)
class Unfinished:
    """The end of a continuation that does not yet spell a whole character."""

    tokens: int  # how many tokens at the end hold its bytes
    data: bytes  # the character's bytes so far
    size: int  # how many bytes the whole character has


def unfinished_character(pieces: Sequence[bytes]) -> Unfinished | None:
    """The character a continuation's bytes (one `bytes` per token) break off in, or None if they end on a whole
    character. A byte-level vocabulary spells a Chinese character's three bytes with up to three tokens: until
    the last of them is generated, the first ones are the beginning of a character, not text. Bytes that can
    never begin a character (a stray continuation byte) are not waited for."""
    data = b"".join(pieces)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    decoder.decode(data, final=False)  # keeps back a valid beginning of a character, and only that
    waiting = decoder.getstate()[0]
    if not waiting:
        return None
    tokens, covered = 0, 0
    for piece in reversed(pieces):
        if covered >= len(waiting):
            break
        tokens, covered = tokens + 1, covered + len(piece)
    lead = waiting[0]
    return Unfinished(tokens, waiting, 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4)
