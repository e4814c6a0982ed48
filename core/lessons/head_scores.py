"""What each head does, measured over a fixed corpus: the head detector of TransformerLens and the attention-sink
measure of Gu et al.

For one head on one sequence, with attention A (T × T, rows summing to 1, 0 where masked) and a 0/1 detection
pattern P, TransformerLens's `head_detector` (error measure "mul") scores

    score = Σ(A ⊙ P) / Σ A

with no exclusion of the first token or of the current token; a model's score is the mean over the sequences.
- previous_token: P[i, i−1] = 1;
- duplicate_token: P[i, j] = 1 where j < i and token j equals token i;
- induction: P[i, j] = 1 where 1 ≤ j ≤ i and token j−1 equals token i with j−1 < i (the token after an earlier
  occurrence of the current one);
- self: P = I;
- first_token: P[i, 0] = 1. Every row sums to 1, so this is the mean over queries of A[i, 0]: the sink measure α of
  Gu et al. ("When Attention Sink Emerges in Language Models", ICLR 2025) for the first token. A head sinks when
  α > 0.3 on sequences of T = 64; a model's sink rate is the share of its heads that do;
- entropy: each head's mean over queries of −Σ_j A[i, j] log₂ A[i, j], in bits (no detection pattern).

Every head is read on its own from a lazy trace (`AttentionRecord.head_probs`): one T × T matrix at a time, never
every head's. Scores are kept per model and corpus.

The fixed corpus (`standard_corpus`): random vocabulary tokens repeated once, for previous_token, duplicate_token and
induction (the standard test: copying there cannot come from memorised text; half the queries have no earlier
occurrence, so induction and duplicate_token scores stay below about 0.5); and the first 64 tokens of the lesson
texts' paragraphs, for self, first_token and entropy.
"""

from __future__ import annotations

import functools
import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import N_, InputError
from core.text.bpe_training import lesson_corpus

PATTERN_KINDS = ("previous_token", "duplicate_token", "induction", "self", "first_token")
KINDS = (*PATTERN_KINDS, "entropy")
REPEATED_KINDS = ("previous_token", "duplicate_token", "induction")  # measured on repeated random tokens
TEXT_KINDS = ("self", "first_token", "entropy")  # measured on the lesson texts
SINK_TOKENS = 64  # Gu et al.'s sequence length T
SINK_THRESHOLD = 0.3  # Gu et al.'s ε: a head sinks on the first token when α > ε

# The corpus: 4 sequences of 32 random tokens, each repeated once; 2 English and 2 Chinese lesson paragraphs. Small
# enough that a model's first measurement takes seconds on two cores (README, Head finder).
REPEAT_TOKENS, REPEATS, REPEAT_SEED = 32, 4, 0
LESSON_TEXTS_PER_LANGUAGE = 2

# A head's measured role: its score passes the threshold, chosen on the scores' ranges: on repeated random tokens
# induction and duplicate_token stay below about 0.5 (half the queries have no earlier occurrence), previous_token
# and self reach 1. A sink is no role here: most heads of a trained model are sinks (first_token, sink_rate).
ROLE_THRESHOLDS = {"induction": 0.2, "duplicate_token": 0.2, "previous_token": 0.5, "self": 0.5}
ROLE_ORDER = tuple(ROLE_THRESHOLDS)  # the first that applies


# ---------------------------------------------------------------- definitions


def detection_pattern(kind: str, token_ids: Sequence[int]) -> np.ndarray:
    """(T, T) bool: the keys a head of `kind` is expected to look at from each query."""
    ids = np.asarray(token_ids)
    t = len(ids)
    below = np.tril(np.ones((t, t), dtype=bool), k=-1)  # j < i
    if kind == "previous_token":
        return np.eye(t, k=-1, dtype=bool)
    if kind == "duplicate_token":
        return (ids[:, None] == ids[None, :]) & below
    if kind == "induction":
        pattern = np.zeros((t, t), dtype=bool)
        pattern[:, 1:] = detection_pattern("duplicate_token", ids)[:, :-1]  # key j where token j−1 repeats i
        return pattern
    if kind == "self":
        return np.eye(t, dtype=bool)
    if kind == "first_token":
        pattern = np.zeros((t, t), dtype=bool)
        pattern[:, 0] = True
        return pattern
    raise InputError(N_("Unknown head score {kind!r}. Known: {known}"), kind=kind, known=", ".join(KINDS))


def pattern_score(probs: np.ndarray, pattern: np.ndarray) -> float:
    """Σ(A ⊙ P) / Σ A of one head's (T, T) attention A and detection pattern P."""
    probs = np.nan_to_num(np.asarray(probs, dtype=np.float64))
    return float((probs * pattern).sum() / probs.sum())


def mean_entropy_bits(probs: np.ndarray) -> float:
    """The mean over query rows of each row's entropy, in bits (0 · log 0 = 0)."""
    probs = np.nan_to_num(np.asarray(probs, dtype=np.float64))
    logs = np.log2(probs, out=np.zeros_like(probs), where=probs > 0)
    return float(-(probs * logs).sum(axis=-1).mean())


def score(kind: str, probs: np.ndarray, token_ids: Sequence[int], pattern: np.ndarray | None = None) -> float:
    """One head's score of `kind` on one sequence (`pattern`: its detection pattern, if already built)."""
    if kind == "entropy":
        return mean_entropy_bits(probs)
    return pattern_score(probs, detection_pattern(kind, token_ids) if pattern is None else pattern)


# ---------------------------------------------------------------- one model, one head at a time


def trace_scores(trace, kinds: Sequence[str]) -> dict[str, np.ndarray]:
    """{kind: (layers, heads)} on one trace of a decoder, reading each head's matrix alone."""
    patterns = {kind: None if kind == "entropy" else detection_pattern(kind, trace.token_ids) for kind in kinds}
    layers = trace.layers
    n_heads = layers[0].self_attn.q.shape[0]
    out = {kind: np.zeros((len(layers), n_heads)) for kind in kinds}
    for layer, record in enumerate(layers):
        attention = record.self_attn
        for head in range(n_heads):
            probs = attention.head_probs(head)
            for kind in kinds:
                out[kind][layer, head] = score(kind, probs, trace.token_ids, patterns[kind])
    return out


def _check(lm, kinds: Iterable[str], sequences: Sequence[Sequence[int]]) -> None:
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise InputError(N_("Unknown head score {kind!r}. Known: {known}"), kind=unknown[0], known=", ".join(KINDS))
    if lm.config.architecture != "decoder":
        raise InputError(N_("Head scores are measured on decoder-only models; {model} is not one."), model=lm.name)
    if not sequences or any(len(ids) < 2 for ids in sequences):
        raise InputError(N_("Head scores need sequences of at least two tokens."))


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(kind, sequences): (layers, heads)}
_cache_lock = threading.Lock()


def _kept(lm) -> dict:
    with _cache_lock:
        return _cache.setdefault(lm, {})


def score_heads(lm, kinds: Sequence[str], sequences: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """{kind: (layers, heads) float64} for a decoder, each the mean over `sequences` (token ids, read as given)
    of the per-sequence scores; several kinds share one trace per sequence. Kept per model and corpus."""
    _check(lm, kinds, sequences)
    key = tuple(tuple(int(i) for i in ids) for ids in sequences)
    kept = _kept(lm)
    missing = [kind for kind in dict.fromkeys(kinds) if (kind, key) not in kept]
    if missing:
        total = {kind: 0.0 for kind in missing}
        for ids in key:
            # float32: the scores are sums over a few thousand weights; the app's float16 would cost digits.
            per_sequence = trace_scores(lm.trace(list(ids), dtype=np.float32, logits="none"), missing)
            total = {kind: total[kind] + per_sequence[kind] for kind in missing}
        with _cache_lock:
            kept.update({(kind, key): total[kind] / len(key) for kind in missing})
    return {kind: kept[(kind, key)] for kind in kinds}


def head_scores(lm, kind: str, sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """(layers, heads) float64: each head's score of `kind` (KINDS), averaged over `sequences` (token ids)."""
    return score_heads(lm, (kind,), sequences)[kind]


def sink_rate(first_token: np.ndarray, threshold: float = SINK_THRESHOLD) -> float:
    """Gu et al.'s Sink₁^ε: the share of heads whose first_token score α exceeds ε."""
    return float((np.asarray(first_token) > threshold).mean())


# ---------------------------------------------------------------- the fixed corpus

WORD = re.compile(r" [a-z]{3,12}")
HAN = re.compile(r"[\u4e00-\u9fff]")
ANY = re.compile(r"\S+")


@functools.lru_cache(maxsize=8)
def random_pool(tokenizer, script: str = "words") -> tuple[int, ...]:
    """Token ids a random sequence is drawn from, each one token that reads back as itself: "words", a space and
    3 to 12 lowercase letters (" river"); "han", one Chinese character; "any", any visible token (a small
    character-level vocabulary has no words)."""
    pattern = {"words": WORD, "han": HAN}.get(script, ANY)
    candidates = [i for i in range(tokenizer.vocab_size)
                  if i not in tokenizer.special_ids and pattern.fullmatch(tokenizer.token_text(i))]
    read_back = tokenizer.encode_batch([tokenizer.token_text(i) for i in candidates])
    return tuple(i for i, ids in zip(candidates, read_back) if ids[-1:] == [i])


@dataclass(frozen=True)
class RepeatedText:
    """A random sequence of `length` tokens written twice: its text reads back as exactly these ids."""

    text: str
    ids: tuple[int, ...]  # the start token where the tokenizer adds one, then the tokens, then the same again
    length: int  # tokens in each pass

    @property
    def start(self) -> int:
        """Where the first pass begins (1 after a start token)."""
        return len(self.ids) - 2 * self.length


def repeated_random(lm, length: int = REPEAT_TOKENS, count: int = REPEATS, seed: int = REPEAT_SEED,
                    script: str = "words") -> list[RepeatedText]:
    """`count` random sequences of `length` distinct tokens from `random_pool`, each repeated once. Sequences whose
    text would not read back as the drawn ids (two characters joining into one token) are drawn again."""
    tokenizer = lm.tokenizer
    pool = np.asarray(random_pool(tokenizer, script))
    if len(pool) < length:  # a vocabulary without such tokens (a model trained here on characters)
        pool = np.asarray(random_pool(tokenizer, "any"))
    if len(pool) < length:
        raise InputError(N_("This tokenizer has too few such tokens for a random sequence."))
    rng, found = np.random.default_rng(seed), []
    for _attempt in range(20 * count):
        drawn = [int(i) for i in rng.choice(pool, size=length, replace=False)]
        text = "".join(tokenizer.token_text(i) for i in drawn) * 2
        ids = tokenizer.encode(text).ids
        if ids[len(ids) - 2 * length:] == drawn * 2:
            found.append(RepeatedText(text, tuple(ids), length))
            if len(found) == count:
                return found
    raise InputError(N_("No random sequence of this tokenizer reads back as its own tokens."))


def lesson_paragraphs() -> dict[str, list[str]]:
    """The lesson texts' paragraphs (not their headings), by language: "en" and "zh"."""
    paragraphs = [p.strip() for p in lesson_corpus().split("\n\n") if len(p.strip()) > 100]
    return {"en": [p for p in paragraphs if not HAN.search(p)], "zh": [p for p in paragraphs if HAN.search(p)]}


def lesson_windows(lm, per_language: int = LESSON_TEXTS_PER_LANGUAGE,
                   tokens: int = SINK_TOKENS) -> list[tuple[str, tuple[int, ...]]]:
    """(paragraph, its first `tokens` token ids, start token included) for the first `per_language` paragraphs
    of each language that have that many tokens."""
    windows = []
    for paragraphs in lesson_paragraphs().values():
        chosen = [(p, lm.tokenizer.encode(p).ids) for p in paragraphs]
        windows += [(p, tuple(ids[:tokens])) for p, ids in chosen if len(ids) >= tokens][:per_language]
    return windows


@dataclass(frozen=True)
class Corpus:
    repeated: tuple[RepeatedText, ...]  # for REPEATED_KINDS
    lesson: tuple[tuple[str, tuple[int, ...]], ...]  # (paragraph, its first SINK_TOKENS ids), for TEXT_KINDS

    def sequences(self, kind: str) -> list[tuple[int, ...]]:
        return [r.ids for r in self.repeated] if kind in REPEATED_KINDS else [ids for _, ids in self.lesson]


def standard_corpus(lm) -> Corpus:
    return Corpus(tuple(repeated_random(lm)), tuple(lesson_windows(lm)))


@dataclass(frozen=True)
class ModelScores:
    """Every kind of score of one model on the standard corpus."""

    model: str
    corpus: Corpus
    scores: dict[str, np.ndarray]  # kind -> (layers, heads)

    @property
    def sink_rate(self) -> float:
        return sink_rate(self.scores["first_token"])

    def strongest(self, kind: str, top: int = 5) -> list[tuple[int, int, float]]:
        """(layer, head, score) of the `top` heads of `kind`: highest first; for entropy, the sharpest (lowest)."""
        values = self.scores[kind]
        order = np.argsort(values, axis=None, kind="stable")
        order = order if kind == "entropy" else order[::-1]
        return [(int(i) // values.shape[1], int(i) % values.shape[1], float(values.flat[i])) for i in order[:top]]

    def role(self, layer: int, head: int) -> str | None:
        """The head's measured role: the first kind of ROLE_ORDER whose score passes its threshold, or None."""
        return next((kind for kind in ROLE_ORDER if self.scores[kind][layer, head] > ROLE_THRESHOLDS[kind]), None)


def model_scores(lm) -> ModelScores:
    """Every kind of score of a decoder on its standard corpus (kept: a second call costs nothing)."""
    corpus = _corpus(lm)
    repeated = score_heads(lm, REPEATED_KINDS, corpus.sequences("induction"))
    on_text = score_heads(lm, TEXT_KINDS, corpus.sequences("self"))
    return ModelScores(lm.name, corpus, {**repeated, **on_text})


def known_model_scores(lm) -> ModelScores | None:
    """model_scores if they have been measured in this process, else None; never runs the model."""
    kept = _kept(lm)
    corpus = kept.get("corpus")
    if corpus is None:
        return None
    keys = [(kind, tuple(corpus.sequences(kind))) for kind in KINDS]
    if not all(key in kept for key in keys):
        return None
    return ModelScores(lm.name, corpus, {kind: kept[key] for kind, key in zip(KINDS, keys)})


def _corpus(lm) -> Corpus:
    kept = _kept(lm)
    if "corpus" not in kept:
        corpus = standard_corpus(lm)
        with _cache_lock:
            kept.setdefault("corpus", corpus)
    return kept["corpus"]
