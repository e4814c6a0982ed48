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
import math
import numbers
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import N_, InputError

if TYPE_CHECKING:
    from .language_model import LanguageModel


def _logit_rows(logits) -> np.ndarray:
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] == 0:
        raise InputError("logits need at least one entry per row")
    if np.isnan(array).any() or np.isposinf(array).any():
        raise InputError("logits contain NaN or +inf")
    if not np.isfinite(array).any(axis=-1).all():
        raise InputError("every row of logits needs at least one finite value")
    return array


def _check_temperature(temperature: float) -> float:
    if not (isinstance(temperature, numbers.Real) and math.isfinite(temperature) and temperature > 0):
        raise InputError(f"temperature must be a number above 0, got {temperature!r}: softmax(z/T) divides by T")
    return float(temperature)


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T) along the last axis, float64. Subtracting the maximum first keeps exp() from overflowing."""
    z = _logit_rows(logits) / _check_temperature(temperature)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def entropy_bits(probs) -> float:
    """How spread out a distribution is: 0 for one certain token, log2(V) for a uniform one."""
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _ranking(scores: np.ndarray) -> np.ndarray:
    """Token ids from the highest score down; equal scores keep the lower id first, so ties are deterministic."""
    return np.argsort(-scores, kind="stable")


def top_k_mask(logits, k: int) -> np.ndarray:
    """True for the k highest-scoring tokens (all of them when k >= vocabulary size)."""
    scores = _logit_rows(logits)
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
        _check_temperature(self.temperature)
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
    logits = _logit_rows(logits)
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


def _continuable(lm: LanguageModel, ids: Sequence[int]) -> list[int]:
    if lm.info.architecture != "decoder":
        raise InputError(N_("{model} is an {architecture}; step-by-step generation here needs a decoder"),
                         model=lm.name, architecture=lm.info.architecture)
    ids = [int(i) for i in ids]
    if not ids:
        raise InputError(N_("There is nothing to continue: the text is empty. Type a sentence."))
    if len(ids) >= lm.info.max_positions:
        raise InputError(N_("The text already fills the model's context of {count:,} tokens"), count=lm.info.max_positions)
    return ids


def generate_step(lm: LanguageModel, ids: Sequence[int], sampling: Sampling, rng: np.random.Generator,
                  cache: GenerationCache | None = None) -> Step:
    """Append one token to `ids` (a decoder's). Without a cache the model runs on all of `ids` (only the last
    position's logits are computed); with one it reads only what the cache has not read."""
    ids = _continuable(lm, ids)
    attention = None
    if cache is None:
        logits = lm.next_token_logits(ids)
    else:
        logits, attention = lm.read(ids, cache)
    token_id, distribution = next_token(logits, sampling, rng)
    return Step(ids + [token_id], token_id, logits, distribution, attention)


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


def generate(lm: LanguageModel, prompt: str | Sequence[int], max_new_tokens: int, sampling: Sampling | None = None,
             seed: int | None = None, stop_ids: Collection[int] | None = None) -> Generation:
    """Continue `prompt` (text or ids) by up to `max_new_tokens` tokens, each step reading only the new token.
    Greedy unless `sampling` says otherwise; `seed` (default: the sampling's) draws token i with
    step_rng(seed, position), as one click at a time would. Stops after a token of `stop_ids`
    (default: the tokenizer's special tokens, which end a text)."""
    sampling = Sampling(greedy=True) if sampling is None else sampling
    seed = sampling.seed if seed is None else seed
    stop = lm.tokenizer.special_ids if stop_ids is None else set(stop_ids)
    prompt_ids = _continuable(lm, lm.encode(prompt)[0].ids if isinstance(prompt, str) else prompt)
    ids, cache, tokens = list(prompt_ids), GenerationCache(), []
    for _ in range(max_new_tokens):
        if len(ids) >= lm.info.max_positions:
            break
        logits, attention = lm.read(ids, cache)
        # Greedy: the argmax of the logits is that of the probabilities (the first of equal ones, the lowest id).
        token_id = int(np.argmax(logits)) if sampling.greedy else next_token(logits, sampling,
                                                                              step_rng(seed, len(ids)))[0]
        tokens.append(GeneratedToken(token_id, logits, attention))
        ids.append(token_id)
        if token_id in stop:
            break
    return Generation(prompt_ids, tuple(tokens))


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


@dataclass(frozen=True)
class TokenLosses:
    """The pre-training objective along a text: row t of the logits predicts token t+1."""

    probability: np.ndarray  # (T-1,) the probability the model gave the token that actually came next
    loss: np.ndarray  # (T-1,) -ln(probability), the cross-entropy of each prediction, in nats

    @property
    def mean_loss(self) -> float:
        return float(self.loss.mean())


def next_token_losses(logits, token_ids: Sequence[int]) -> TokenLosses:
    """Per-token cross-entropy of a trace's logits (T, vocab) against its own token ids."""
    logits = _logit_rows(logits)
    ids = np.asarray(token_ids, dtype=np.int64)
    if logits.ndim != 2 or ids.ndim != 1 or len(ids) != logits.shape[0]:
        raise InputError("next_token_losses needs logits (T, vocab) and T token ids")
    if len(ids) < 2:
        raise InputError(N_("At least two tokens are needed: one to read and one to predict"))
    if ids.min() < 0 or ids.max() >= logits.shape[1]:
        raise InputError("a token id lies outside the vocabulary of the logits")
    predicting, actual = logits[:-1], ids[1:]
    shifted = predicting - predicting.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    chosen = log_probs[np.arange(len(actual)), actual]
    return TokenLosses(probability=np.exp(chosen), loss=-chosen)
