"""An encoder–decoder's decoding, step by step: what the decoder read, where it looked in the source and what
it expected next, at every step.

Two ways to feed the decoder, as source article 002's "Hello, world" / "Bonjour, monde" example describes:

- free running (`greedy_decode`): the decoder starts from `<s>` and reads its own outputs, one step per word,
  until it writes `</s>`; the most probable word is chosen each time, as `lm.translate` does;
- teacher forcing (`teacher_forced`): the decoder reads the reference target shifted right by one (`<s>` first),
  as in training; one pass gives every step at once, because the causal mask hides from each position the
  words after it.

Each step keeps the logits over the vocabulary for the next word, and the cross-attention row of the position
that predicts it: (layers, heads, S) weights over the source tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.runtime.language_model import LanguageModel
from core.text.translation_task import Sentence

MAX_STEPS = 40  # a free-running decode stops here if it never writes </s> (an untrained model rarely does)
END = "</s>"


@dataclass(frozen=True)
class Step:
    """One step of decoding: the decoder's input so far and what it computed at its last position."""

    inputs: tuple[int, ...]  # the decoder's input ids, `<s>` first
    logits: np.ndarray  # (vocab,) float32: the scores of the next word
    cross: np.ndarray  # (layers, heads, S) float32: where the last input position looks in the source
    next_id: int  # the word that comes next: the model's choice (free running) or the reference's (teacher forcing)

    @property
    def probs(self) -> np.ndarray:
        """(vocab,) float32 softmax of the logits."""
        z = self.logits - self.logits.max()
        e = np.exp(z)
        return (e / e.sum()).astype(np.float32)

    @property
    def predicted(self) -> int:
        """The model's most probable next word."""
        return int(np.argmax(self.logits))


@dataclass(frozen=True)
class Decoding:
    source_ids: tuple[int, ...]  # what the encoder read, `<s>` first
    steps: tuple[Step, ...]
    finished: bool  # the last step's next word is </s>

    @property
    def output_ids(self) -> tuple[int, ...]:
        """The words written (free running) or read (teacher forcing) after `<s>`, without `</s>`."""
        return tuple(step.next_id for step in self.steps if not self.finished or step is not self.steps[-1])


def end_id(lm: LanguageModel) -> int | None:
    """The id of `</s>` in the model's vocabulary, None if it has none."""
    return next((i for i in lm.tokenizer.special_ids if lm.tokenizer.id_to_token(i) == END), None)


def source_ids(lm: LanguageModel, text: str) -> tuple[int, ...]:
    """The encoder's input ids for `text`, after the translator's check of unknown words (InputError naming them)."""
    lm.check_translatable(text)
    encoded, _ = lm.encode(text)
    return tuple(encoded.ids[: lm.config.max_positions])


@torch.inference_mode()
def _run(lm: LanguageModel, source: Sequence[int], inputs: Sequence[int], last_only: bool) -> tuple[np.ndarray,
                                                                                                np.ndarray]:
    """One recorded pass of the decoder over `inputs` with the encoder over `source`: float32 logits (T or 1,
    vocab) and every layer's cross-attention (layers, heads, T, S). The model's own record (capture), not a
    trace: a decoder input of special tokens alone (an untrained model writes them) is an input here too."""
    out = lm.run([list(inputs)], source_ids=[list(source)], capture=True, logits_for="last" if last_only else "all")
    cross = torch.stack([layer.cross_attn.probs[0] for layer in out.stack.layers])
    return out.logits[0].float().cpu().numpy(), cross.float().cpu().numpy()


def greedy_decode(lm: LanguageModel, text: str, max_steps: int = MAX_STEPS) -> Decoding:
    """Free running from `<s>`: at each step the decoder reads everything it wrote so far, and the most probable
    next word is written; until `</s>` or `max_steps`. One run per step, so that each step's cross-attention is
    the one of that step's own input."""
    source = source_ids(lm, text)
    end, inputs, steps = end_id(lm), [lm.tokenizer.bos_id], []
    for _ in range(max(1, min(max_steps, lm.config.max_positions - 1))):
        logits, cross = _run(lm, source, inputs, last_only=True)
        chosen = int(np.argmax(logits[-1]))
        steps.append(Step(tuple(inputs), logits[-1], cross[:, :, -1], chosen))
        if chosen == end:
            break
        inputs.append(chosen)
    return Decoding(source, tuple(steps), finished=steps[-1].next_id == end)


def target_ids(lm: LanguageModel, target: str | Sequence[int]) -> tuple[int, ...]:
    """The reference's ids without `<s>` or `</s>`: a text is encoded, ids are kept as they are."""
    if isinstance(target, str):
        encoded = lm.tokenizer.encode(target)
        ids = encoded.ids
    else:
        ids = [int(i) for i in target]
    specials = {lm.tokenizer.bos_id, end_id(lm)}
    return tuple(i for i in ids if i not in specials)


def teacher_forced(lm: LanguageModel, text: str, target: str | Sequence[int]) -> Decoding:
    """Teacher forcing: the decoder reads `<s>` + the reference, and at each position predicts the reference's
    next word (the last position: `</s>`). One pass over the whole shifted target, as in training."""
    source = source_ids(lm, text)
    reference = target_ids(lm, target)
    if len(reference) + 1 > lm.config.max_positions:
        reference = reference[: lm.config.max_positions - 1]
    inputs = (lm.tokenizer.bos_id, *reference)
    end = end_id(lm)
    logits, cross = _run(lm, source, inputs, last_only=False)
    following = [*reference, end if end is not None else -1]
    steps = tuple(Step(inputs[: i + 1], logits[i], cross[:, :, i], following[i]) for i in range(len(inputs)))
    return Decoding(source, steps, finished=end is not None)


def unknown_target_words(lm: LanguageModel, target: str) -> list[str]:
    """The words of a typed target outside the model's vocabulary (the decoder reads each as unknown)."""
    encoded = lm.tokenizer.encode(target)
    return list(dict.fromkeys(target[start:end] for token_id, (start, end) in zip(encoded.ids, encoded.offsets)
                              if lm.tokenizer.is_unknown(token_id) and end > start))


def reference_translation(text: str) -> str | None:
    """The toy task's own English for a Chinese sentence of its grammar (core/text/translation_task.py), else None."""
    try:
        return Sentence.parse(text.strip()).english()
    except ValueError:
        return None


def first_difference(forced: Decoding, free: Decoding) -> int | None:
    """The first step at which the two decoders read different inputs (or one has stopped), None if never."""
    for index in range(max(len(forced.steps), len(free.steps))):
        if index >= len(forced.steps) or index >= len(free.steps):
            return index
        if forced.steps[index].inputs != free.steps[index].inputs:
            return index
    return None
