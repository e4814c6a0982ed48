"""Prompting (source articles 002 and 004): the same question asked zero-shot, one-shot and few-shot, as a bare
prompt and through the model's chat template as an instruction, and how often the model answers right.

A task (core/data/prompting/<task>.json, written for this project) has a training half, from which the
demonstrations are drawn, and a held-out half that is asked. Every question has a closed set of choices (the
label words): each choice is scored by the log-probability of its whole token sequence after the prompt,

    s_j = Σ_t log P(choice_j token t | prompt, choice_j tokens < t),     P(choice_j) = exp(s_j) / Σ_i exp(s_i),

so a label word cut into several tokens (a Chinese word in SmolLM2's byte-level vocabulary) competes fairly
with one that is a single token (the same word in Gemma's). The model's answer is the most probable choice.

Cost: every held-out question of one cell of the table (a format and a k) begins with the same tokens (the
instruction and the first k of one seeded list of demonstrations), so that prefix is read once and its keys and
values are shared by the cell's questions; only the questions and the label words' tokens are run, in batches.
The table is measured a cell at a time, so a page can draw everything else first and say how far it has got.
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.engine.model import DecoderCache
from core.errors import N_, InputError
from core.text.chat import apply_chat_template

DATA = Path(__file__).resolve().parents[1] / "data" / "prompting"
TASKS = ("sentiment", "capitals")
LANGUAGES = ("en", "zh")
BARE, CHAT = "bare", "chat"
FORMATS = (BARE, CHAT)  # a bare prompt; an instruction through the model's chat template
SHOTS = (0, 1, 2, 4, 8)  # demonstrations: zero-, one- and few-shot
SEED = 0  # the demonstrations' default random seed
MAX_SEED = 999
BATCH_ROWS = 16  # question rows run together: the shared prefix's keys and values are copied once per row
# What each token of a prompt is: the task said (a description or system message), a demonstration's input, its
# answer, the question asked, the chat template's own text around the messages, and the tokenizer's special tokens.
PARTS = ("instruction", "demonstration", "answer", "question", "template", "special")


# ---------------------------------------------------------------- the labelled sets


@dataclass(frozen=True)
class Example:
    fields: Mapping[str, str]  # what the templates fill in: {"text", "item"} or {"country"}
    label: str  # the correct choice (a key of Task.labels, or the answer word itself)
    choices: tuple[str, ...]  # every choice asked, in order


@dataclass(frozen=True)
class Task:
    name: str
    language: str
    labels: Mapping[str, str] | None  # label -> its word (sentiment); None: the choices are the words (capitals)
    bare: Mapping[str, str]  # description, input, answer, after, separator
    chat: Mapping[str, str]  # system, user, answer
    train: tuple[Example, ...]  # where demonstrations come from
    test: tuple[Example, ...]  # the held-out questions

    def word(self, choice: str) -> str:
        return self.labels[choice] if self.labels else choice


def _example(row: Mapping, labels: Mapping[str, str] | None) -> Example:
    fields = {key: value for key, value in row.items() if key not in ("label", "choices")}
    choices = tuple(labels) if labels else tuple(row.get("choices", (row["label"],)))
    return Example(fields, row["label"], choices)


@functools.cache
def load_task(name: str, language: str) -> Task:
    """A task's labelled set in one language (core/data/prompting/<name>.json)."""
    if name not in TASKS or language not in LANGUAGES:
        raise InputError(N_("Unknown task {task!r} in {language!r}. Known: {known}"), task=name, language=language,
                         known=", ".join(TASKS))
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))["languages"][language]
    labels = data["labels"]
    return Task(name, language, labels, data["bare"], data["chat"],
                tuple(_example(row, labels) for row in data["train"]),
                tuple(_example(row, labels) for row in data["test"]))


def demonstrations(task: Task, k: int, seed: int = SEED) -> tuple[Example, ...]:
    """k examples of the training half, balanced over the labels: each label's examples in a seeded order, the
    labels in a seeded order, then one of each label in turn. The first k of one list, so the k-shot prompt's
    demonstrations begin the 2k-shot prompt's (and their tokens are read once)."""
    if not 0 <= k <= len(task.train):
        raise InputError(N_("A prompt can hold 0 to {most} demonstrations of this task, not {k}."),
                         most=len(task.train), k=k)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Example]] = {}
    for example in task.train:
        groups.setdefault(example.label, []).append(example)
    labels = list(groups)
    order = [[groups[label][i] for i in rng.permutation(len(groups[label]))] for label in
             (labels[i] for i in rng.permutation(len(labels)))]
    ordered = [group[turn] for turn in range(max(map(len, order))) for group in order if turn < len(group)]
    return tuple(ordered[:k])


# ---------------------------------------------------------------- prompts as marked tokens


@dataclass(frozen=True)
class Segment:
    text: str
    part: str  # one of PARTS except "special" (a special token's part is decided per token)
    role: str | None = None  # system / user / assistant in a chat template
    demo: int | None = None  # which demonstration (0 first)
    asked: bool = False  # part of the question's turn: what differs from one question to the next


@dataclass(frozen=True)
class Span:
    start: int  # first token
    end: int  # one past the last
    part: str
    role: str | None
    demo: int | None


@dataclass(frozen=True)
class Prompt:
    """A prompt's token ids, each marked: its part (PARTS), its chat role and its demonstration."""

    ids: tuple[int, ...]
    parts: tuple[str, ...]
    roles: tuple[str | None, ...]
    demos: tuple[int | None, ...]
    question_start: int  # the first token of the question: the tokens before it are shared by every question

    def spans(self) -> list[Span]:
        """Runs of tokens with the same part, role and demonstration."""
        spans: list[Span] = []
        for i, mark in enumerate(zip(self.parts, self.roles, self.demos)):
            if spans and (spans[-1].part, spans[-1].role, spans[-1].demo) == mark:
                spans[-1] = Span(spans[-1].start, i + 1, *mark)
            else:
                spans.append(Span(i, i + 1, *mark))
        return spans


@functools.lru_cache(maxsize=8192)  # every question's prompt repeats the instruction and the demonstrations
def _encoded(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer.encode(text).ids)


def _segment_ids(tokenizer, text: str, first: bool) -> list[int]:
    """A segment's ids: tokenized on its own, the start token only before the first segment."""
    ids = list(_encoded(tokenizer, text))
    return ids if first or not tokenizer.add_bos else ids[1:]


@functools.lru_cache(maxsize=1024)
def _rendered(template: str | None, messages: tuple[tuple[str, str], ...], add_generation_prompt: bool) -> str:
    return apply_chat_template(template, [{"role": role, "content": content} for role, content in messages],
                               add_generation_prompt=add_generation_prompt)


def _bare_segments(task: Task, question: Example, demos: Sequence[Example]) -> list[Segment]:
    bare = task.bare
    segments = [Segment(bare["description"] + bare["separator"], "instruction")]
    for i, demo in enumerate(demos):
        segments += [Segment(bare["input"].format(**demo.fields), "demonstration", demo=i),
                     Segment(bare["answer"].format(label=task.word(demo.label)), "answer", demo=i),
                     Segment(bare["after"] + bare["separator"], "demonstration", demo=i)]
    return segments + [Segment(bare["input"].format(**question.fields), "question", asked=True)]


def _messages(task: Task, question: Example, demos: Sequence[Example]) -> list[tuple[dict, str, int | None]]:
    """(message, the part its content is, its demonstration) of the chat format's conversation."""
    chat = task.chat
    conversation = [({"role": "system", "content": chat["system"]}, "instruction", None)]
    for i, demo in enumerate(demos):
        conversation += [({"role": "user", "content": chat["user"].format(**demo.fields)}, "demonstration", i),
                         ({"role": "assistant", "content": chat["answer"].format(label=task.word(demo.label))},
                          "answer", i)]
    return conversation + [({"role": "user", "content": chat["user"].format(**question.fields)}, "question", None)]


def chat_segments(template: str | None, conversation: Sequence[tuple[dict, str, int | None]]) -> list[Segment]:
    """The chat template rendered one message at a time: each message's text split into the template's own text
    before and after it and its content; then the template's opening of the assistant's answer."""
    messages = tuple((message["role"], message["content"]) for message, _part, _demo in conversation)
    rendered = [_rendered(template, messages[:n], False) if n else "" for n in range(len(messages) + 1)]
    rendered.append(_rendered(template, messages, True))
    if any(not later.startswith(earlier) for earlier, later in zip(rendered, rendered[1:])):
        raise InputError(N_("This chat template does not write a conversation one message after another, so its "
                            "messages cannot be marked."))
    segments = []
    for n, (message, part, demo) in enumerate(conversation):
        piece, content, asked = rendered[n + 1][len(rendered[n]):], message["content"], part == "question"
        at = piece.find(content)
        if at < 0:
            raise InputError(N_("This chat template changes the messages' text, so its messages cannot be marked."))
        segments += [Segment(piece[:at], "template", message["role"], asked=asked),
                     Segment(content, part, message["role"], demo, asked),
                     Segment(piece[at + len(content):], "template", message["role"], asked=asked)]
    segments.append(Segment(rendered[-1][len(rendered[-2]):], "template", "assistant", asked=True))
    return [segment for segment in segments if segment.text]


def _prompt(tokenizer, segments: Sequence[Segment]) -> Prompt:
    ids, parts, roles, demos, question_start = [], [], [], [], None
    for segment in segments:
        if segment.asked and question_start is None:
            question_start = len(ids)
        piece = _segment_ids(tokenizer, segment.text, first=not ids)
        ids += piece
        parts += ["special" if i in tokenizer.special_ids else segment.part for i in piece]
        roles += [segment.role] * len(piece)
        demos += [segment.demo] * len(piece)
    return Prompt(tuple(ids), tuple(parts), tuple(roles), tuple(demos), question_start)


def build_prompt(lm, task: Task, question: Example, k: int, fmt: str = BARE, seed: int = SEED) -> Prompt:
    """The prompt asking `question` with k demonstrations (`demonstrations(task, k, seed)`), in `fmt`: BARE (the
    task described, then each demonstration's input, answer and separator, then the question) or CHAT (the
    model's chat template: the task as the system message, each demonstration a user message and the
    assistant's answer, the question a user message, then the opening of the assistant's answer)."""
    demos = demonstrations(task, k, seed)
    if fmt == BARE:
        return _prompt(lm.tokenizer, _bare_segments(task, question, demos))
    if fmt != CHAT:
        raise InputError(N_("Unknown prompt format {format!r}. Known: {known}"), format=fmt, known=", ".join(FORMATS))
    return _prompt(lm.tokenizer, chat_segments(lm.chat_template, _messages(task, question, demos)))


def choice_ids(lm, task: Task, choice: str, fmt: str = BARE) -> tuple[int, ...]:
    """The tokens of a choice's word as the answer after the prompt (as a demonstration's answer is written)."""
    template = task.bare["answer"] if fmt == BARE else task.chat["answer"]
    return tuple(_segment_ids(lm.tokenizer, template.format(label=task.word(choice)), first=False))


def formats(lm) -> tuple[str, ...]:
    """The formats a model can be asked in: CHAT only where its file has a chat template."""
    return FORMATS if lm.chat_template else (BARE,)


# ---------------------------------------------------------------- scoring choices


def _batch_cache(base: DecoderCache, length: int, rows: int) -> DecoderCache:
    """A cache of `rows` rows, each holding the first `length` positions of `base` (one row): the prefix's keys and
    values shared by a batch of continuations (copied once, when the batch appends its own)."""
    cache = DecoderCache(len(base.layers))
    if length == 0:
        return cache
    for mine, theirs in zip(cache.layers, base.layers):
        mine.keys = theirs.keys[:, :, :length].expand(rows, -1, -1, -1)
        mine.values = theirs.values[:, :, :length].expand(rows, -1, -1, -1)
        mine.length = length
    return cache


@torch.inference_mode()
def _read_prefix(lm, prefix: Sequence[int]) -> DecoderCache:
    cache = DecoderCache(lm.config.n_layers)
    if prefix:
        lm.run(torch.tensor([list(prefix)]), cache=cache, logits_for="none")
    return cache


@torch.inference_mode()
def _choice_scores(lm, base: DecoderCache, length: int, questions: Sequence[Sequence[int]],
                   choices: Sequence[Sequence[Sequence[int]]]) -> list[np.ndarray]:
    """For each question (ids after the first `length` positions of `base`) the summed log-probability (float64)
    of each of its choices' tokens. One row per question reads every single-token choice at its last position; a
    choice of several tokens gets a row of its own (question, then all but its last token)."""
    rows: list[list[int]] = []
    reads: list[tuple[int, int, int, int, int]] = []  # (row, position, token, question, choice)
    for q, (question, options) in enumerate(zip(questions, choices)):
        plain = None
        for c, tokens in enumerate(options):
            if len(tokens) == 1 and plain is not None:
                row = plain
            else:
                row = len(rows)
                rows.append(list(question) + list(tokens[:-1]))
                plain = row if len(tokens) == 1 else plain
            reads += [(row, len(question) - 1 + t, token, q, c) for t, token in enumerate(tokens)]
    totals = [np.zeros(len(options)) for options in choices]
    for first in range(0, len(rows), BATCH_ROWS):
        batch = rows[first:first + BATCH_ROWS]
        width = max(map(len, batch))
        ids = torch.tensor([row + [0] * (width - len(row)) for row in batch])  # right-padded: causal reads ignore it
        hidden = lm.run(ids, cache=_batch_cache(base, length, len(batch)), logits_for="none").hidden
        mine = [read for read in reads if first <= read[0] < first + len(batch)]
        rows_at, positions, tokens, _q, _c = zip(*mine)
        picked = hidden[[r - first for r in rows_at], list(positions)]  # (reads, d): only these reach the vocabulary
        logprobs = torch.log_softmax(lm.module.vocab_logits(picked[None])[0].double(), dim=-1)
        values = logprobs[torch.arange(len(mine)), list(tokens)].cpu().numpy()
        for (_r, _p, _t, q, c), value in zip(mine, values):
            totals[q][c] += value
    return totals


def choice_distribution(scores: np.ndarray) -> np.ndarray:
    """P(choice) = exp(s_j) / Σ_i exp(s_i) from the summed log-probabilities s (float64)."""
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()


def check_model(lm, task: Task) -> None:
    """InputError, for people, where a model cannot be asked the task: it predicts no next token, its vocabulary
    cannot write the task's text, or the longest prompt does not fit its context."""
    if lm.config.architecture != "decoder" or lm.module.lm_head is None:
        raise InputError(N_("{model} does not predict a next token after a text: prompting needs a decoder such as "
                            "SmolLM2 or Gemma."), model=lm.name)
    choices = dict.fromkeys(choice for example in task.test for choice in example.choices)
    unreadable = [task.word(c) for c in choices
                  if lm.tokenizer.decode(list(choice_ids(lm, task, c)), skip_special_tokens=True).strip() != task.word(c)]
    if unreadable:
        raise InputError(N_("{model}'s vocabulary cannot write this task's words (for example “{word}”): it cannot "
                            "be asked this task."), model=lm.name, word=unreadable[0])
    longest = max(len(build_prompt(lm, task, question, max(SHOTS), fmt).ids) for question in task.test[:3]
                  for fmt in formats(lm))
    if longest + 8 > lm.config.max_positions:
        raise InputError(N_("A prompt with {k} demonstrations of this task has about {count} tokens; {model} reads "
                            "at most {limit}."), k=max(SHOTS), count=longest, model=lm.name,
                         limit=lm.config.max_positions)


# ---------------------------------------------------------------- the table: accuracy over k


@dataclass(frozen=True)
class ShotTable:
    """Every held-out question of a task asked with k = SHOTS demonstrations in each format a model can take."""

    model: str
    task: str
    language: str
    seed: int
    formats: tuple[str, ...]
    shots: tuple[int, ...]
    probs: Mapping[tuple[str, int], np.ndarray]  # (format, k) -> (questions, choices) P(choice), rows sum to 1
    correct: np.ndarray  # (questions,) int: the correct choice's column

    def accuracy(self, fmt: str, k: int) -> float:
        """The share of held-out questions whose most probable choice is the correct one."""
        return float((self.probs[(fmt, k)].argmax(axis=1) == self.correct).mean())

    def correct_probs(self, fmt: str, k: int) -> np.ndarray:
        """(questions,) P(the correct choice)."""
        probs = self.probs[(fmt, k)]
        return probs[np.arange(len(probs)), self.correct]

    def mean_change(self, fmt: str, before: int = 0, after: int = 1) -> float:
        """The mean change of the correct choice's probability from `before` to `after` demonstrations."""
        return float((self.correct_probs(fmt, after) - self.correct_probs(fmt, before)).mean())

    @property
    def chance(self) -> float:
        """The accuracy of guessing: 1 / the number of choices."""
        return 1.0 / self.probs[(self.formats[0], self.shots[0])].shape[1]


def _ask(lm, task: Task, questions: Sequence[Example], k: int, fmt: str, seed: int) -> np.ndarray:
    """(questions, choices) P(choice) for each question asked with k demonstrations: their shared prefix read once,
    then the questions and their choices in batches."""
    prompts = [build_prompt(lm, task, question, k, fmt, seed) for question in questions]
    start = prompts[0].question_start
    if any(p.ids[:start] != prompts[0].ids[:start] for p in prompts):
        raise RuntimeError("the questions' prompts do not begin with the same demonstrations")
    options = [[choice_ids(lm, task, choice, fmt) for choice in question.choices] for question in questions]
    scores = _choice_scores(lm, _read_prefix(lm, prompts[0].ids[:start]), start, [p.ids[start:] for p in prompts],
                            options)
    return np.stack([choice_distribution(s) for s in scores])


def question_distribution(lm, task: Task, index: int, k: int, fmt: str = BARE, seed: int = SEED) -> np.ndarray:
    """(choices,) P(choice) for one held-out question asked with k demonstrations: a row of the table's cell,
    computed alone, for a page that shows it before the table."""
    return _ask(lm, task, [task.test[index]], k, fmt, seed)[0]


_cells: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(task, language, seed, fmt, k): probs}
_cells_lock = threading.Lock()


def cells(lm) -> tuple[tuple[str, int], ...]:
    """The table's cells for a model, in the order they are measured: (format, k)."""
    return tuple((fmt, k) for fmt in formats(lm) for k in SHOTS)


def known_cells(lm, task: str, language: str, seed: int = SEED) -> dict[tuple[str, int], np.ndarray]:
    """The cells measured in this process so far; never runs the model."""
    with _cells_lock:
        kept = _cells.get(lm, {})
        return {(fmt, k): kept[(task, language, seed, fmt, k)] for fmt, k in cells(lm)
                if (task, language, seed, fmt, k) in kept}


def shot_cell(lm, task: str, language: str, fmt: str, k: int, seed: int = SEED) -> np.ndarray:
    """(questions, choices) P(choice) for every held-out question asked in `fmt` with k demonstrations (kept per
    model, task, language, seed, format and k). Raises InputError where the model cannot be asked the task."""
    key = (task, language, seed, fmt, k)
    with _cells_lock:
        known = _cells.get(lm, {}).get(key)
    if known is not None:
        return known
    data = load_task(task, language)
    check_model(lm, data)
    probs = _ask(lm, data, data.test, k, fmt, seed)
    with _cells_lock:
        _cells.setdefault(lm, {})[key] = probs
    return probs


def _table(lm, task: str, language: str, seed: int, probs: Mapping[tuple[str, int], np.ndarray]) -> ShotTable:
    data = load_task(task, language)
    correct = np.array([question.choices.index(question.label) for question in data.test])
    return ShotTable(lm.name, task, language, seed, formats(lm), SHOTS, dict(probs), correct)


def known_table(lm, task: str, language: str, seed: int = SEED) -> ShotTable | None:
    """shot_table if every cell was measured in this process, else None; never runs the model."""
    probs = known_cells(lm, task, language, seed)
    return _table(lm, task, language, seed, probs) if len(probs) == len(cells(lm)) else None


def shot_table(lm, task: str, language: str, seed: int = SEED) -> ShotTable:
    """The accuracy table of a model on a task in one language: every cell (shot_cell)."""
    probs = {(fmt, k): shot_cell(lm, task, language, fmt, k, seed) for fmt, k in cells(lm)}
    return _table(lm, task, language, seed, probs)


def direct_distribution(lm, prompt: Prompt, options: Sequence[Sequence[int]]) -> np.ndarray:
    """P(choice) for one prompt by one plain forward pass per choice over the whole text (prompt then choice), no
    cache or batch: the reference that the table's numbers are checked against."""
    scores = []
    for tokens in options:
        ids = list(prompt.ids) + list(tokens)
        with torch.inference_mode():
            logits = lm.run(torch.tensor([ids]), logits_for="all").logits[0].double()
        logprobs = torch.log_softmax(logits, dim=-1)
        start = len(prompt.ids)
        scores.append(sum(float(logprobs[start - 1 + t, token]) for t, token in enumerate(tokens)))
    return choice_distribution(np.array(scores))


# ---------------------------------------------------------------- chain of thought


@dataclass(frozen=True)
class Thought:
    """One word problem asked directly and after asking for steps: P(the correct number) among 0 … 20 each time."""

    question: str
    answer: int
    direct_prompt: str
    direct: np.ndarray  # (21,) P(n) for n = 0 … 20, right after the direct prompt
    steps_prompt: str  # the prompt asking for steps
    steps: str  # what the model wrote (greedy), cut before it gives an answer itself
    after_steps: np.ndarray  # (21,) P(n) after the prompt, its steps and "so the answer is"

    @property
    def direct_correct(self) -> float:
        return float(self.direct[self.answer])

    @property
    def steps_correct(self) -> float:
        return float(self.after_steps[self.answer])


NUMBERS = tuple(range(21))
STEP_TOKENS = 60  # the most tokens the model writes for its steps
WORD_PROBLEMS = {
    "en": {"question": "Lily has 3 boxes with 4 pencils in each box. She gives 5 pencils to her friends. How many "
                       "pencils does she have now?",
           "answer": 7, "direct": "The answer is", "steps": "Let's think step by step.", "so": "So the answer is",
           "bare": "Question: {question}\nAnswer: ", "number": " {n}", "stop": "answer is"},
    "zh": {"question": "小明有3盒铅笔，每盒4支。他送给朋友5支。他现在还有几支铅笔？",
           "answer": 7, "direct": "答案是", "steps": "让我们一步一步地想。", "so": "所以答案是",
           "bare": "问题：{question}\n回答：", "number": "{n}", "stop": "答案是"},
}


def _opening(lm, problem: Mapping, fmt: str) -> str:
    """The text before the answer: the question in the bare format, or as a user message then the assistant's turn."""
    if fmt == BARE:
        return problem["bare"].format(question=problem["question"])
    return apply_chat_template(lm.chat_template, [{"role": "user", "content": problem["question"]}])


def _numbers(lm, text: str, problem: Mapping) -> np.ndarray:
    ids = lm.tokenizer.encode(text).ids
    options = [_segment_ids(lm.tokenizer, problem["number"].format(n=n), first=False) for n in NUMBERS]
    base = _read_prefix(lm, ids[:-1])
    return choice_distribution(_choice_scores(lm, base, len(ids) - 1, [ids[-1:]], [options])[0])


SENTENCE_ENDS = (".", "。", "!", "！", "?", "？", "\n")


def _before_answer(steps: str, stop: str) -> str:
    """The steps up to a blank line, and before the sentence where the model starts to give the answer itself."""
    steps = steps.split("\n\n")[0]
    at = steps.lower().find(stop.lower())
    if at >= 0:
        steps = steps[:at]
        steps = steps[:max(steps.rfind(end) for end in SENTENCE_ENDS) + 1]
    return steps.rstrip()


def chain_of_thought(lm, language: str, fmt: str = BARE) -> Thought:
    """The word problem asked directly ("The answer is") and with "Let's think step by step.", the model's own
    steps (greedy, up to STEP_TOKENS tokens, cut at a blank line or where it starts to give the answer), then "So
    the answer is": the probability of each number 0 … 20 both times (normalised over those numbers)."""
    problem = WORD_PROBLEMS[language]
    opening = _opening(lm, problem, fmt)
    direct_prompt = opening + problem["direct"]
    steps_prompt = opening + problem["steps"]
    generated = lm.generate(lm.tokenizer.encode(steps_prompt).ids, STEP_TOKENS)
    steps = _before_answer(lm.tokenizer.decode(generated.ids, skip_special_tokens=True), problem["stop"])
    after = steps_prompt + steps + ("\n" if steps else "") + problem["so"]
    return Thought(problem["question"], problem["answer"], direct_prompt, _numbers(lm, direct_prompt, problem),
                   steps_prompt, steps, _numbers(lm, after, problem))
