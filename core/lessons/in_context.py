"""In-context learning, watched (source article 004): what a model does with a sequence it cannot have seen, written
twice, and with a made-up word defined once and used again.

On the second pass of a repeated random sequence a trained model predicts each next token from the first pass: its
loss falls by several nats. Induction heads (core/head_scores.py) do it: from each second-pass token they look at
the token after that token's first occurrence, one step right of the diagonal that marks the earlier occurrence,
and copy it. Switching those heads off (core/ablation.py) makes the second pass harder again: causal evidence,
measured on the model's own numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import N_, InputError
from core.lessons.ablation import ablation_of, run_ablated
from core.lessons.head_scores import RepeatedText, repeated_random

Head = tuple[int, int]  # (layer, head)

# The sequence watched: a fresh draw, not one of the head finder's corpus, so the heads are not chosen on it.
WATCH_SEED, WATCH_TOKENS = 1, 32


@dataclass(frozen=True)
class PassLosses:
    """Next-token losses (nats) of a sequence written twice, token k of each pass predicted from what precedes it,
    k = 1 … n−1 (the first token of a pass follows nothing that predicts it)."""

    first: np.ndarray  # (n−1,)
    second: np.ndarray  # (n−1,)

    @property
    def first_mean(self) -> float:
        return float(self.first.mean())

    @property
    def second_mean(self) -> float:
        return float(self.second.mean())


def pass_losses(losses: np.ndarray, repeated: RepeatedText) -> PassLosses:
    """Split a trace's per-token losses (T−1,), where entry j predicts token j + 1, into the two passes."""
    start, n = repeated.start, repeated.length
    k = np.arange(1, n)
    return PassLosses(np.asarray(losses)[start + k - 1], np.asarray(losses)[start + n + k - 1])


def induction_stripe(trace, heads: Sequence[Head], repeated: RepeatedText) -> np.ndarray:
    """(heads, n) float32: from each second-pass token (query start + n + k) the weight each head gives the token
    after that token's first occurrence (key start + k + 1), k = 0 … n−1; one head's matrix read at a time."""
    start, n = repeated.start, repeated.length
    queries = start + n + np.arange(n)
    rows = []
    for layer, head in heads:
        probs = trace.layers[layer].self_attn.head_probs(head)
        rows.append(np.asarray(probs, dtype=np.float32)[queries, queries - n + 1])
    return np.stack(rows) if rows else np.zeros((0, n), dtype=np.float32)


def _ablated_losses(lm, trace, heads: Sequence[Head]) -> np.ndarray:
    """Per-token losses (T−1,) with `heads` switched off (their outputs set to 0)."""
    layers: dict[int, list[int]] = {}
    for layer, head in heads:
        layers.setdefault(layer, []).append(head)
    return run_ablated(lm, trace, ablation_of(layers, "zero")).replay.token_losses().loss


@dataclass(frozen=True)
class RepeatWatch:
    repeated: RepeatedText
    off: tuple[Head, ...]  # the heads switched off
    watched: tuple[Head, ...]  # the heads whose stripe is read
    plain: PassLosses
    ablated: PassLosses  # with `off` switched off
    stripe: np.ndarray  # (watched, n) induction_stripe of the plain run


def _decoder(lm) -> None:
    if lm.config.architecture != "decoder":
        raise InputError(N_("In-context learning is watched on decoder-only models; {model} is not one."),
                         model=lm.name)


def watch_repeat(lm, off: Sequence[Head], watched: Sequence[Head] = (), repeated: RepeatedText | None = None,
                 script: str = "words") -> RepeatWatch:
    """The losses along both passes of a repeated random sequence (by default a fresh one, WATCH_SEED), with and
    without the heads `off`, and the `watched` heads' attention to the token after each token's first occurrence."""
    _decoder(lm)
    if repeated is None:
        repeated = repeated_random(lm, WATCH_TOKENS, 1, WATCH_SEED, script)[0]
    trace = lm.trace(list(repeated.ids), dtype=np.float32)
    plain = pass_losses(trace.token_losses().loss, repeated)
    ablated = pass_losses(_ablated_losses(lm, trace, off), repeated) if off else plain
    return RepeatWatch(repeated, tuple(off), tuple(watched), plain, ablated, induction_stripe(trace, watched, repeated))


# ---------------------------------------------------------------- a made-up word, defined once


@dataclass(frozen=True)
class WordUse:
    """The losses (nats) of a made-up word's tokens at its first and second use, with and without some heads."""

    text: str
    word: str
    piece_ids: tuple[int, ...]  # the word's tokens (the same at both uses)
    first: np.ndarray  # (pieces,) loss of each piece at the first use
    second: np.ndarray  # (pieces,) ... at the second use
    second_ablated: np.ndarray  # (pieces,) ... at the second use, with the heads switched off

    def later_pieces(self, losses: np.ndarray) -> float:
        """Mean loss of the pieces after the first: the ones an earlier use can give away."""
        return float(np.asarray(losses)[1:].mean())


def word_positions(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Positions of the tokens whose characters lie in text[start:end] (a leading space included)."""
    return [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]


def made_up_word(lm, text: str, word: str, off: Sequence[Head] = ()) -> WordUse:
    """The losses of `word`'s tokens at its two uses in `text`, and at the second with the heads `off` switched off.
    `word` must occur twice and be cut into the same tokens both times, not at the start of the text."""
    _decoder(lm)
    first_at, second_at = text.find(word), text.find(word, text.find(word) + 1)
    if first_at < 0 or second_at < 0:
        raise InputError(N_("The made-up word must occur twice in the text."))
    trace = lm.trace(text, dtype=np.float32)
    offsets, ids = trace.stack.offsets, trace.token_ids
    first = word_positions(offsets, first_at, first_at + len(word))
    second = word_positions(offsets, second_at, second_at + len(word))
    if [ids[i] for i in first] != [ids[i] for i in second] or first[0] == 0:
        raise InputError(N_("The made-up word is cut into different tokens at its two uses."))
    losses = np.asarray(trace.token_losses().loss)
    ablated = np.asarray(_ablated_losses(lm, trace, off)) if off else losses
    first, second = np.asarray(first), np.asarray(second)  # entry j − 1 of the losses predicts token j
    return WordUse(text, word, tuple(ids[i] for i in second), losses[first - 1], losses[second - 1],
                   ablated[second - 1])


# A made-up word defined once and used again: English, and Chinese for a model that reads it.
MADE_UP_WORDS = {
    "en": ("In the story, a zarvinto is a small blue bird that sings only at night. When the moon rose over the hill, "
           "the zarvinto began to sing.", "zarvinto"),
    "zh": ("奶奶把纽扣放在一个叫咕噜匣的小木盒里。昨天她把咕噜匣的钥匙弄丢了。", "咕噜匣"),
}
