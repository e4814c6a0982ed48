"""What the live training page trains: a task and safe sizes (a `Recipe`), the model and task they give,
and what the trained model answers to a person's input.

Four tasks: copy a sequence of digits, reverse it (an encoder–decoder: its cross-attention becomes the
diagonal, or the anti-diagonal), the toy Chinese → English translation (the alignment, with time and place
moved to the end), and a character-level language model of a text (a decoder alone). Every size is
bounded, so that no choice can ask for minutes of work or gigabytes of memory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from core.engine.config import ModelConfig
from core.errors import N_, InputError
from core.loaders.translator import load_tokenizer, unknown_words
from core.runtime.language_model import LanguageModel
from core.runtime.registry import keep_trained
from core.text.tokenizers import TextTokenizer, symbol_tokenizer
from core.training.trainer import UNKNOWN_ID, Task, char_task, continue_text, copy_task, encode_chars, greedy_decode
from core.training.translator_task import translation_task

COPY, REVERSE, TRANSLATE, CHARS = "copy", "reverse", "translate", "chars"
TASKS = (COPY, REVERSE, TRANSLATE, CHARS)
TASK_TITLES = {
    COPY: N_("Copy a sequence of digits"),
    REVERSE: N_("Reverse a sequence of digits"),
    TRANSLATE: N_("Translate the toy Chinese → English sentences"),
    CHARS: N_("Predict the next character of a text"),
}
LAYERS = (1, 3)
D_MODELS = (16, 32, 48, 64, 96, 128)  # each a multiple of every head count below
HEADS = (1, 2, 4, 8)
STEPS = (10, 3000)
BATCHES = (8, 128)
MAX_TEXT_CHARS = 50_000  # the text a character model reads: a few hundred kB at most
MIN_TEXT_CHARS = 20
CONTEXT = 48  # characters a character model reads at once
COPY_LENGTH = (3, 8)  # digits in a training sequence
MAX_INPUT_DIGITS = 16  # a person may try longer ones than it was trained on, and see it fail
SNAPSHOTS = 40  # attention snapshots in a whole run, about


@dataclass(frozen=True)
class Recipe:
    task: str = COPY
    layers: int = 1
    d_model: int = 32
    heads: int = 2
    steps: int = 300
    batch_size: int = 32
    text: str = ""  # the character model's text
    seed: int = 0

    def check(self) -> None:
        """InputError naming the first value out of its bounds."""
        if self.task not in TASKS:
            raise InputError(N_("There is no task {task} here."), task=str(self.task)[:40])
        for value, (low, high) in ((self.layers, LAYERS), (self.steps, STEPS), (self.batch_size, BATCHES)):
            if not low <= value <= high:
                raise InputError(N_("A size is outside its bounds: {value} is not between {low} and {high}."),
                                 low=low, high=high, value=value)
        if self.d_model not in D_MODELS or self.heads not in HEADS or self.d_model % self.heads:
            raise InputError(N_("d_model must be one of {sizes} and the number of heads must divide it."),
                             sizes=", ".join(map(str, D_MODELS)))
        if self.task == CHARS and not MIN_TEXT_CHARS <= len(self.text) <= MAX_TEXT_CHARS:
            raise InputError(N_("A character model needs a text of {low:,} to {high:,} characters; this one has "
                                "{count:,}."), low=MIN_TEXT_CHARS, high=MAX_TEXT_CHARS, count=len(self.text))


@functools.lru_cache(maxsize=1)
def _translation():
    tokenizer = load_tokenizer()
    return tokenizer, translation_task(tokenizer)


def make_task(recipe: Recipe) -> Task:
    if recipe.task in (COPY, REVERSE):
        return copy_task(10, *COPY_LENGTH, reverse=recipe.task == REVERSE)
    if recipe.task == TRANSLATE:
        return _translation()[1]
    return char_task(recipe.text, CONTEXT)


def model_config(recipe: Recipe, task: Task) -> ModelConfig:
    """The classic encoder–decoder (sinusoidal positions, post-LayerNorm, ReLU) for the sequence tasks; a
    small GPT-style decoder (learned positions, pre-LayerNorm, GELU) for the character model."""
    common = dict(vocab_size=task.vocab_size, d_model=recipe.d_model, n_layers=recipe.layers, n_heads=recipe.heads,
                  d_ff=4 * recipe.d_model, tie_embeddings=True)
    if recipe.task == CHARS:
        return ModelConfig(**common, max_positions=CONTEXT + 1, positional="learned", activation="gelu")
    return ModelConfig(**common, max_positions=64, architecture="encoder-decoder", positional="sinusoidal",
                       norm_placement="post", activation="relu", scale_embeddings=True)


def prepare(recipe: Recipe) -> tuple[Task, ModelConfig]:
    recipe.check()
    task = make_task(recipe)
    return task, model_config(recipe, task)


def training_options(recipe: Recipe) -> dict:
    """The keyword arguments of `core.training.train` for this recipe."""
    return dict(batch_size=recipe.batch_size, learning_rate=3e-3 if recipe.d_model <= 64 else 1.5e-3,
                warmup=max(1, min(100, recipe.steps // 10)), seed=recipe.seed,
                snapshot_every=max(1, recipe.steps // SNAPSHOTS))


TRAINED_TITLES = {
    COPY: N_("Your model: it copies digits (trained in this session)"),
    REVERSE: N_("Your model: it reverses digits (trained in this session)"),
    TRANSLATE: N_("Your model: it translates the toy sentences (trained in this session)"),
    CHARS: N_("Your model: it predicts the next character (trained in this session)"),
}
TRAINED_WEIGHTS = N_("trained from scratch in this session on the live training page; kept in the server's memory "
                     "only, while the session lasts")


def task_tokenizer(recipe: Recipe, task: Task) -> TextTokenizer:
    """The tokenizer a trained model reads text with on the other pages, as it read its training data: digits
    alone (without `<s>`: the encoder never saw one), the translator's word pieces, or one character each."""
    if recipe.task in (COPY, REVERSE):
        return symbol_tokenizer(task.labels, "digits", keep="0-9", bos_id=task.bos_id, add_bos=False)
    if recipe.task == TRANSLATE:
        return _translation()[0]
    return symbol_tokenizer(task.labels, "characters", unknown_id=UNKNOWN_ID, bos_id=task.bos_id)


def keep_trained_model(name: str, recipe: Recipe, task: Task, module) -> LanguageModel:
    """Keep a model trained on this page in the process's registry (core/runtime/registry.py), under `name`: the other
    pages then load it, trace it and draw it like an installed model."""
    return keep_trained(name, TRAINED_TITLES[recipe.task], module, task_tokenizer(recipe, task), TRAINED_WEIGHTS)


@dataclass(frozen=True)
class Answer:
    source: list[int]  # the ids the encoder read (empty for a decoder alone)
    output: list[int]  # the ids the model wrote (for a character model: the prompt, then its continuation)
    text: str  # the output, readable
    prompt_length: int = 0  # of a character model's output, the ids that were the person's


def answer(module, recipe: Recipe, task: Task, text: str, new_chars: int = 120) -> Answer:
    """What the trained model makes of `text`: the copy or reversal of its digits, the translation of a
    Chinese sentence of the toy grammar, or a continuation of a text (sampled at temperature 0.8, seed 0)."""
    if recipe.task in (COPY, REVERSE):
        digits = [c for c in text if c in "0123456789"][:MAX_INPUT_DIGITS]
        if not digits:
            raise InputError(N_("Type a few digits, for example 3 1 4 1 5."))
        source = [3 + int(c) for c in digits]
        output = greedy_decode(module, task, [source], max_new_tokens=MAX_INPUT_DIGITS + 4)[0]
        return Answer(source, output, " ".join(task.labels[i] for i in output))
    if recipe.task == TRANSLATE:
        tokenizer = _translation()[0]
        unknown = unknown_words(tokenizer, text)
        if unknown:
            raise InputError(N_("The translator does not know these words: {words}. It knows only the words of its "
                                "toy task (for example 我是一名学生)."), words=", ".join(unknown))
        source = tokenizer.encode(text).ids[:60]
        output = greedy_decode(module, task, [source])[0]
        return Answer(source, output, tokenizer.decode(output, skip_special_tokens=True))
    prompt = encode_chars(task, text)[-CONTEXT:]
    if not prompt:
        raise InputError(N_("Type the beginning of a text for the model to continue."))
    output = continue_text(module, task, prompt, new_chars, temperature=0.8, seed=0)
    whole = prompt + output
    return Answer([], whole, "".join(task.labels[i] for i in whole), len(prompt))


def answer_pair(recipe: Recipe, answer: Answer) -> tuple[list[int], list[int]]:
    """The (source, target) pair whose attention shows how the model read its answer (a character model's
    at most its context)."""
    if recipe.task == CHARS:
        return [], answer.output[:CONTEXT]
    return answer.source, answer.output[:60]


def moving_average(values, window: int = 20):
    """The mean of each value and the (at most) `window` - 1 before it: the loss curve's trend."""
    values = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise ValueError("window must be at least 1")
    sums = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)
