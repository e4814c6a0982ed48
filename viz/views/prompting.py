"""The Prompting page's widgets: the task, its language, the format, the demonstrations and the held-out question
(each in the URL); the prompt as marked tokens, the probability of each choice, the accuracy over the held-out
questions for k = 0, 1, 2, 4, 8 (measured once per model, task, language and seed: core/lessons/prompting.py keeps
it), chain of thought, and the chat template as tokens with their roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core import MODELS, N_, Capability, spec_of
from core.lessons import prompting as core
from viz import export, frame, state
from viz.figures.prompting import make_choice_figure, make_shot_accuracy_figure, prompt_tokens_html
from viz.loading import model_turn
from viz.markdown import markdown_literal
from viz.state import _
from viz.tokens import labels_for

TASK_NAMES = {"sentiment": N_("Sentiment of a review"), "capitals": N_("Capital of a country")}
LANGUAGE_NAMES = {"en": N_("English"), "zh": N_("Chinese")}
FORMAT_NAMES = {core.BARE: N_("Bare prompt"), core.CHAT: N_("Instruction (chat template)")}
PART_NAMES = {"instruction": N_("the task said"), "demonstration": N_("demonstration"),
              "answer": N_("a demonstration's answer"), "question": N_("the question"),
              "template": N_("the chat template's own text"), "special": N_("special token")}
ROLE_NAMES = {"system": N_("system"), "user": N_("user"), "assistant": N_("assistant")}
MAX_EXAMPLE_CHARS = 70  # a held-out question in the choice box


@dataclass(frozen=True)
class Choice:
    task: str
    language: str
    fmt: str
    k: int
    example: int
    seed: int


def _named(translate, names: dict, value) -> str:
    return translate(names[value])


def _choose(label: str, key: str, options, default, format_func):
    """A segmented choice bound to the URL by its value (the session's, else the link's, else `default`)."""
    value = st.session_state.get(key, st.query_params.get(key))
    st.session_state[key] = next((option for option in options if str(option) == str(value)), default)
    chosen = st.segmented_control(label, options, key=key, format_func=format_func)
    chosen = default if chosen is None else chosen
    state.link(key, chosen, default)
    return chosen


def _example_label(task: core.Task, index: int) -> str:
    text = task.bare["input"].format(**task.test[index].fields)
    return f"{index + 1}. " + (text if len(text) <= MAX_EXAMPLE_CHARS else text[:MAX_EXAMPLE_CHARS - 1] + "…")


def _example(task: core.Task) -> int:
    key, last = state.PR_EXAMPLE, len(task.test) - 1
    raw = st.session_state.get(key, st.query_params.get(key, "0"))
    value = int(raw) if str(raw).isdigit() else 0
    if value > last:
        st.warning(_("There is no held-out question {value} here (0 to {last}); showing {shown}.").format(
            value=value, last=last, shown=0), icon="🔗")
        value = 0
    st.session_state[key] = value
    chosen = st.selectbox(_("Held-out question"), range(len(task.test)), key=key,
                          format_func=partial(_example_label, task), placeholder=_("Choose one"))
    state.link(key, chosen, 0)
    return chosen


def controls(lm) -> Choice:
    translate = state.translator()
    top = st.columns(2)
    with top[0]:
        task = _choose(_("Task"), state.PR_TASK, core.TASKS, core.TASKS[0], partial(_named, translate, TASK_NAMES))
    with top[1]:
        spoken = state.language() if state.language() in core.LANGUAGES else core.LANGUAGES[0]
        language = _choose(_("Language of the task"), state.PR_LANG, core.LANGUAGES, spoken,
                           partial(_named, translate, LANGUAGE_NAMES))
    middle = st.columns(2)
    with middle[0]:
        fmt = _choose(_("Format"), state.PR_FORMAT, core.formats(lm), core.BARE,
                      partial(_named, translate, FORMAT_NAMES))
    with middle[1]:
        k = _choose(_("Demonstrations k (0: zero-shot, 1: one-shot, more: few-shot)"), state.PR_SHOTS, core.SHOTS, 1,
                    str)  # bare numbers: five choices stay on one line of a phone
    if not spec_of(lm.name).can(Capability.CHAT):
        st.caption(_("{model} has no chat template, so it can be asked only with a bare prompt.").format(
            model=_(spec_of(lm.name).title)))
    data = core.load_task(task, language)
    bottom = st.columns([3, 1])
    with bottom[0]:
        example = _example(data)
    with bottom[1]:
        seed = st.number_input(_("Random seed of the demonstrations"), 0, core.MAX_SEED, core.SEED,
                               key=state.PR_SEED, bind="query-params",
                               help=_("Another seed draws other demonstrations from the training half."))
    return Choice(task, language, fmt, k, example, int(seed))


def askable(lm, choice: Choice) -> None:
    """InputError where the model cannot be asked the chosen task (before anything is drawn of it)."""
    core.check_model(lm, core.load_task(choice.task, choice.language))


@st.cache_resource(show_spinner=False, max_entries=256)
def _question(name: str, task: str, language: str, fmt: str, seed: int, index: int, k: int, _lm) -> np.ndarray:
    """A question's row of a table cell: the measured cell's where it is kept, else computed alone."""
    known = core.known_cells(_lm, task, language, seed).get((fmt, k))
    if known is not None:
        return known[index]
    with model_turn():
        return core.question_distribution(_lm, core.load_task(task, language), index, k, fmt, seed)


def _row(lm, choice: Choice, k: int) -> np.ndarray:
    return _question(lm.name, choice.task, choice.language, choice.fmt, choice.seed, choice.example, k, lm)


def _names(translate) -> dict[str, str]:
    return {key: translate(name) for key, name in (PART_NAMES | ROLE_NAMES).items()}


def prompt_section(lm, choice: Choice) -> None:
    task = core.load_task(choice.task, choice.language)
    prompt = core.build_prompt(lm, task, task.test[choice.example], choice.k, choice.fmt, choice.seed)
    st.header(_("The prompt, token by token"))
    st.html(prompt_tokens_html(labels_for(lm.tokenizer, prompt.ids), prompt.parts, prompt.demos, prompt.roles,
                               names=_names(state.translator()), _=state.translator()))
    shared = prompt.question_start
    st.caption(_("{count} tokens: {shared} before the question (the task and the demonstrations, the same for every "
                 "question) and {asked} for the question itself. Hover over a token to see its part.").format(
        count=len(prompt.ids), shared=shared, asked=len(prompt.ids) - shared))


def answer_section(lm, choice: Choice) -> None:
    task = core.load_task(choice.task, choice.language)
    question = task.test[choice.example]
    words = [task.word(c) for c in question.choices]
    probs = _row(lm, choice, choice.k)
    before = _row(lm, choice, 0) if choice.k else None
    correct = question.choices.index(question.label)
    st.header(_("What the model answers"))
    figure = make_choice_figure(words, probs, correct, before,
                                title=_("P(each choice) after this prompt, k = {k}").format(k=choice.k),
                                before_name=_("k = 0 (zero-shot)"), _=state.translator())
    export.chart(figure, key="pr-choices")
    best = int(probs.argmax())
    message = (_("The most probable choice is **{word}** ({p:.1%}): the right answer.") if best == correct else
               _("The most probable choice is **{word}** ({p:.1%}): a wrong answer.")).format(
        word=markdown_literal(words[best]), p=probs[best])
    if before is not None:
        message += " " + _("With no demonstration, the correct choice had {before:.1%}; with {k} it has {after:.1%} "
                           "({change:+.1%}).").format(before=before[correct], k=choice.k, after=probs[correct],
                                                      change=probs[correct] - before[correct])
    st.markdown(message)
    lengths = {task.word(c): len(core.choice_ids(lm, task, c, choice.fmt)) for c in question.choices}
    st.caption(_("Each choice is scored by the log-probability of all its tokens after the prompt, then the scores "
                 "are normalised over the choices. Tokens per choice here: {lengths}.").format(
        lengths=", ".join(f"{word} {count}" for word, count in lengths.items())))


def measured(lm, choice: Choice) -> core.ShotTable | None:
    """The model's accuracy table for the task where this server has measured it; else a button that measures it
    (every held-out question in every cell: seconds to half a minute on two cores), a cell at a time with a bar.
    A click elsewhere meanwhile stops it after the cell at hand; the cells measured so far stay for the next one.
    Once measured, everyone's page shows it at once."""
    known = core.known_table(lm, choice.task, choice.language, choice.seed)
    if known is not None:
        return known
    cells = core.cells(lm)
    done = core.known_cells(lm, choice.task, choice.language, choice.seed)
    count = len(core.load_task(choice.task, choice.language).test)
    offer = st.empty()  # the notice and its button, replaced by the bar once clicked
    with offer.container():
        st.markdown(_("Not measured on this server yet: each of the {count} held-out questions asked {cells} times "
                      "(every format, k = 0, 1, 2, 4 and 8), {prompts} prompts in all. It takes seconds to half a "
                      "minute, once for everyone.").format(count=count, cells=len(cells), prompts=count * len(cells)))
        label = _("Continue measuring ({done} of {cells} done)") if done else _("Measure the accuracy")
        clicked = st.button(label.format(done=len(done), cells=len(cells)), key="pr-measure", icon="📏")
    if not clicked:
        return None
    bar = offer.progress(0.0)
    for fmt, k in cells:
        bar.progress(len(done) / len(cells), text=_("Asking the held-out questions: {done} of {cells} formats and "
                                                    "k done…").format(done=len(done), cells=len(cells)))
        if (fmt, k) not in done:
            with model_turn():
                done[(fmt, k)] = core.shot_cell(lm, choice.task, choice.language, fmt, k, choice.seed)
    bar.empty()
    return core.shot_table(lm, choice.task, choice.language, choice.seed)


def accuracy_section(lm, table: core.ShotTable) -> None:
    translate = state.translator()
    names = {fmt: translate(FORMAT_NAMES[fmt]) for fmt in table.formats}
    accuracies = {names[fmt]: [table.accuracy(fmt, k) for k in table.shots] for fmt in table.formats}
    count = len(table.correct)
    export.chart(make_shot_accuracy_figure(table.shots, accuracies, table.chance, _=translate,
                                           title=_(spec_of(lm.name).title),
                                           subtitle=_("Accuracy on {count} held-out questions").format(count=count)),
                 key="pr-accuracy")
    frame.table(pd.DataFrame({f"k = {k}": [f"{table.accuracy(fmt, k):.0%}" for fmt in table.formats]
                              for k in table.shots}, index=list(names.values())))
    for fmt in table.formats:
        st.markdown(_verdict(lm, table, fmt, names[fmt]))


def _verdict(lm, table: core.ShotTable, fmt: str, name: str) -> str:
    """Where the model fails and how much one demonstration moves the correct choice: computed, per format."""
    count, chance = len(table.correct), table.chance
    accuracies = {k: table.accuracy(fmt, k) for k in table.shots}
    best = max(accuracies, key=accuracies.get)
    right = round(accuracies[best] * count)
    text = _("**{format}**: at best {right} of {count} right ({share:.0%}, with k = {k}); guessing gets "
             "{chance:.0%}.").format(format=name, right=right, count=count, share=accuracies[best], k=best,
                                     chance=chance)
    if accuracies[best] <= chance + 1 / count:
        text += " " + _("Here a model this small does no better than guessing, whatever the demonstrations.")
    change = table.mean_change(fmt, 0, 1)
    text += " " + _("One demonstration moves the correct choice's probability by {change:+.1%} on average "
                    "(k = 0 → 1).").format(change=change)
    predicted = table.probs[(fmt, best)].argmax(axis=1)
    most = int(pd.Series(predicted).value_counts().iloc[0])
    if most >= 0.75 * count and table.chance >= 0.5:
        text += " " + _("At k = {k} it gives the same answer to {most} of the {count} questions: it leans to one "
                        "label rather than reading the review.").format(k=best, most=most, count=count)
    return text


@st.cache_resource(show_spinner=False, max_entries=32)
def _thought(name: str, language: str, fmt: str, _lm) -> core.Thought:
    with model_turn():
        return core.chain_of_thought(_lm, language, fmt)


def thought_section(lm, choice: Choice) -> None:
    with st.spinner(_("The model writes its steps…")):
        thought = _thought(lm.name, choice.language, choice.fmt, lm)
    left, right = st.columns(2)
    left.metric(_("P({answer}), answered at once").format(answer=thought.answer), f"{thought.direct_correct:.1%}")
    right.metric(_("P({answer}), after its own steps").format(answer=thought.answer), f"{thought.steps_correct:.1%}",
                 f"{thought.steps_correct - thought.direct_correct:+.1%}")
    first, then = int(thought.direct.argmax()), int(thought.after_steps.argmax())
    message = _("Answered at once, its most likely number is **{first}**; after writing its steps, **{then}** (the "
                "answer is {answer}). Probabilities are normalised over the numbers 0 to 20.").format(
        first=first, then=then, answer=thought.answer)
    if thought.steps_correct <= thought.direct_correct or then != thought.answer:
        message += " " + _("A model this small does not benefit here: its steps do not lead it to the answer, as "
                           "the source article says they do for large models.")
    st.markdown(message)
    with st.expander(_("The two prompts and the steps it wrote")):
        st.code(thought.direct_prompt, language=None, wrap_lines=True)
        st.code(thought.steps_prompt + thought.steps, language=None, wrap_lines=True)


def template_section(lm, choice: Choice) -> None:
    spec = spec_of(lm.name)
    if not spec.can(Capability.CHAT):
        st.info(_("{model}'s file has no chat template: it is a pretrained (base) model, never tuned on "
                  "conversations, so it cannot be given an instruction as a chat. Choose an instruct model to see "
                  "one.").format(model=_(spec.title)))
        return
    task = core.load_task(choice.task, choice.language)
    prompt = core.build_prompt(lm, task, task.test[choice.example], 1, core.CHAT, choice.seed)
    st.markdown(_("The system message says the task; each demonstration is a user message and the assistant's "
                  "answer; the question is the last user message; then the template opens the assistant's turn, "
                  "and the model's next token begins its answer. Special tokens (dark) separate the messages."))
    st.html(prompt_tokens_html(labels_for(lm.tokenizer, prompt.ids), prompt.parts, prompt.demos, prompt.roles,
                               by_role=True, names=_names(state.translator()), _=state.translator()))
    with st.expander(_("The template itself (Jinja, from the model's file)")):
        st.code(lm.chat_template, language="jinja", wrap_lines=True)


def other_models(name: str) -> None:
    """Buttons to the installed models that can be asked the task."""
    for other in [n for n, spec in MODELS.items() if n != name and spec.available() and spec.trained
                  and spec.can(Capability.NEXT_TOKEN) and not spec.can(Capability.CROSS_ATTENTION)]:
        st.button(_("Switch to {model}").format(model=_(spec_of(other).title)), key=f"switch-{other}",
                  on_click=state.set_model, args=(other,))
