"""Predict, then reveal, on the Attention and Next-token pages.

The teacher asks the class (one click): the question goes into the database under a short class code,
the page hides the model's answer, and the teacher's screen shows the class's guesses as they arrive.
Students open the same page on their own devices (the link carries `class=CODE`, or they type the code),
pick their guess from the tokens, and send it. The teacher reveals the answer beside the guesses.

While a question is open its panel comes first on the page, laid out for a projector: the question, the
class code in large type, a QR code of the join link and the live chart fit one 1280×720 screen. A
student's page follows the question by itself: a small fragment asks the database for the question's
state every second, and only when the teacher has revealed, closed or replaced it does the page run again.

A page calls `attention_question(trace, tokenizer)` or `next_token_question(tokenizer, trace)`; either
returns True when the page may show its answer (no question of this kind is open and hidden).
The storage is viz/classroom.py; the code and the role (`role=teacher`) are in the URL. A database that cannot be
reached (or is read-only, or stays locked) is said in a notice; the page shows its answer and works on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core import N_
from viz import classroom, export, state
from viz.attention_sources import AVERAGE, HIDE_SINKS, attention_sources, shown_weights
from viz.figures.attention import without_keys
from viz.figures.classroom import make_guesses_figure
from viz.state import _
from viz.tokens import axis_labels, label_of, last_text
from viz.views.class_link import LAST, join_html, join_link, reach_hints, store

CLASS, ROLE = state.CLASS, state.ROLE
TEACHER, STUDENT = state.ROLES
VOTER = "_classroom_voter"  # a random id for this browser session: one guess per device
JOIN, NICKNAME, SENT, OPEN = "classroom_join", "classroom_nickname", "_classroom_sent", "classroom_open"
SEEN = "_classroom_seen"  # (code, created) of the question this student's guess widgets belong to
PROBLEM = "_classroom_problem"  # what a button's action could not do (the database failed), said on the next run
STAGE = "classroom-stage"  # the open question's panel
LIVE_SECONDS = 2  # the teacher's chart of the guesses
FOLLOW_SECONDS = 1  # a student's page asks whether the question was revealed, closed or replaced
# While a question is open its panel is drawn first (the page's flex column puts it on top, wherever the page
# called it), and the class code is large enough to read across a room.
STAGE_CSS = f"""<style>
[data-testid="stLayoutWrapper"]:has(> .st-key-{STAGE}) {{ order: -1; }}
.st-key-classroom-code {{ container-type: inline-size; }}
.st-key-classroom-code [data-testid="stMetricValue"] * {{
    font-size: clamp(2.5rem, 30cqi, 5.5rem); font-family: monospace; font-weight: 700; letter-spacing: .12em;
    line-height: 1.1; }}
.classroom-qr img {{ width: min(100%, 12rem, 28vh); height: auto; display: block; }}
.classroom-link {{ font-family: monospace; word-break: break-all; }}
</style>"""
# While the class guesses, the question is the whole page: the rest (the title, the text, the hints of the
# explanation) is folded away, so that the panel is in view wherever the page was scrolled.
FOCUS_CSS = f"""<style>
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"] > :not(:has(.st-key-{STAGE})) {{
    display: none; }}
[data-testid="stMainBlockContainer"] {{ padding-bottom: 1rem; }}
</style>"""
# Presenter mode's narrow top padding would leave the question under Streamlit's header bar.
PRESENTER_STAGE_CSS = f"<style>.st-key-{STAGE} {{ margin-top: 1.5rem; }}</style>"
NEXT_TOKEN_OPTIONS = 6

ASK = {"attention": N_("Ask the class: where does the chosen token look?"),
       "next_token": N_("Ask the class: which token comes next?")}
QUESTION = {"attention": N_("Which word does “{subject}” look at?"),
            "next_token": N_("Which token comes next after “…{subject}”?")}


@dataclass(frozen=True)
class Draft:
    """A question before it is stored: what it is about, the options, the model's answer and shares."""

    subject: str
    options: list[str]
    answer: int
    shares: list[float]
    detail: dict


# ---------------------------------------------------------------- the questions the pages ask


def _int(key: str, count: int) -> int:
    try:
        return min(max(int(st.session_state.get(key, st.query_params.get(key, 0))), 0), count - 1)
    except (TypeError, ValueError):
        return 0


def attention_draft(trace, tokenizer) -> Draft:
    """Where the Attention page's chosen query token looks most, in the chosen layer and head (or the mean
    of the heads), among the keys it may see; attention sinks left out when the page hides them."""
    sources = attention_sources(trace, tokenizer)
    kind = st.session_state.get(state.ATTENTION, "self")
    source = sources.get(kind, sources["self"])
    layer = _int(state.LAYER, source.n_layers)
    head = None if st.session_state.get(state.HEAD_MODE) == AVERAGE else _int(state.HEAD, source.n_heads)
    queries, keys = axis_labels(source.queries), axis_labels(source.keys)
    chosen = st.session_state.get(state.QUERY)
    query = queries.index(chosen) if chosen in queries else len(queries) - 1
    record = source.records[layer]
    weights, mask = shown_weights(record, head)[query : query + 1], np.asarray(record.mask, dtype=bool)
    mask, shown = mask[query : query + 1], np.arange(len(keys))
    if st.session_state.get(HIDE_SINKS) and not source.sink_keys.all():
        weights, mask = without_keys(weights, mask, source.sink_keys)
        shown = shown[~source.sink_keys]
    row, allowed = np.nan_to_num(weights[0]), mask[0]
    candidates = shown[allowed]
    shares = row[allowed]
    if len(candidates) > classroom.MAX_OPTIONS:  # a long text: the keys it looks at most, in text order
        kept = np.sort(np.argsort(-shares, kind="stable")[: classroom.MAX_OPTIONS])
        candidates, shares = candidates[kept], shares[kept]
    return Draft(queries[query], [keys[j] for j in candidates], int(np.argmax(shares)),
                 [float(s) for s in shares], {"layer": layer, "head": head, "model": trace.model})


def next_token_draft(tokenizer, trace) -> Draft:
    """The model's most likely next tokens (in alphabetical order, so the order gives nothing away)."""
    logits = np.asarray(trace.last_logits, dtype=np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = np.argsort(-probs, kind="stable")[:NEXT_TOKEN_OPTIONS]
    labels = [label_of(tokenizer, int(i)) for i in top]  # "␣Mount" and "Mount" are two tokens: keep the ␣
    labels = labels if len(set(labels)) == len(labels) else axis_labels(labels)
    order = sorted(range(len(top)), key=lambda i: labels[i])
    return Draft(last_text(tokenizer, trace.token_ids), [labels[i] for i in order],
                 order.index(0), [float(probs[top[i]]) for i in order], {"model": trace.model})


def attention_question(trace, tokenizer) -> bool:
    return panel("attention", lambda: attention_draft(trace, tokenizer))


def next_token_question(tokenizer, trace) -> bool:
    return panel("next_token", lambda: next_token_draft(tokenizer, trace))


# ---------------------------------------------------------------- the panel


def _safely(action: Callable[..., None]) -> Callable[..., None]:
    """A button's action whose database failure is said on the page (next run) instead of failing it."""

    def run(*args) -> None:
        try:
            action(*args)
        except classroom.ClassroomError as error:
            st.session_state[PROBLEM] = _(error.message).format(code=error.code)

    return run


def _say_problem() -> None:
    problem = st.session_state.pop(PROBLEM, None)
    if problem:
        st.warning(problem, icon="🔌")


@_safely
def _ask(kind: str, draft: Callable[[], Draft]) -> None:
    made = draft()
    code = store().open_question(kind, made.subject, made.options, made.answer, made.shares, made.detail,
                                 prefer=st.session_state.get(LAST))
    st.session_state[CLASS], st.session_state[ROLE], st.session_state[LAST] = code, TEACHER, code


def _join() -> None:
    typed = classroom.normal_code(st.session_state.get(JOIN) or "")
    st.session_state[CLASS], st.session_state[ROLE] = typed or None, STUDENT


def _leave() -> None:
    st.session_state[CLASS] = None
    st.session_state[JOIN] = ""
    st.session_state[OPEN] = True  # the panel stays open for the next question (its switch was not drawn)


@_safely
def _close(code: str) -> None:
    store().close(code)
    _leave()


@_safely
def _reveal(code: str) -> None:
    store().reveal(code)


def _send(code: str, options: tuple[str, ...]) -> None:
    picked = st.session_state.get(f"classroom-choice-{code}")
    if picked not in options:
        return
    voter = st.session_state.setdefault(VOTER, secrets.token_hex(16))
    try:
        store().guess(code, voter, options.index(picked), st.session_state.get(NICKNAME))
        st.session_state[SENT] = (code, picked)
    except classroom.ClassroomError as error:
        st.session_state[SENT] = (code, error)


def question_text(question: classroom.Question) -> str:
    return _(QUESTION[question.kind]).format(subject=question.subject)


def answer_text(question: classroom.Question) -> str:
    return _("The model's answer: “{answer}” ({share:.0%}).").format(
        answer=question.options[question.answer], share=question.shares[question.answer])


def where_text(question: classroom.Question) -> str:
    detail = question.detail
    if question.kind == "attention":
        head = (_("mean of the heads") if detail.get("head") is None
                else _("head {head}").format(head=detail["head"]))
        return _("{model}, layer {layer}, {head}").format(model=detail.get("model", ""), layer=detail.get("layer"),
                                                         head=head)
    return str(detail.get("model", ""))


def _chart(code: str, key: str, height: int) -> None:
    try:
        question = store().question(code)
        counts = store().tally(code)
    except classroom.DatabaseUnavailable as error:
        st.warning(_(error.message), icon="🔌")
        return
    except classroom.ClassroomError as error:
        st.info(_(error.message).format(code=code))
        return
    answer = question.answer if question.revealed else None
    export.show(make_guesses_figure(question.options, counts, answer=answer,
                                    shares=question.shares if question.revealed else None, height=height, _=_),
                key=key, config={"displayModeBar": False})


@st.fragment(run_every=LIVE_SECONDS)
def _live_chart(code: str, height: int) -> None:
    """The class's guesses, read from the database again every LIVE_SECONDS seconds."""
    _chart(code, "classroom-live", height)


@st.fragment(run_every=FOLLOW_SECONDS)
def _follow(code: str, drawn: tuple | None) -> None:
    """A student's page follows the question under its code: one small query a second, and the whole page
    runs again only when the state it drew (`drawn`: created, revealed; None for no question) has changed. While
    the database cannot be reached it keeps asking (the page said so)."""
    try:
        now = store().status(code)
    except classroom.DatabaseUnavailable:
        return
    if now != drawn:
        st.rerun()


def _teacher(question: classroom.Question) -> None:
    """For the projector: the question; the code, the QR code and the link beside the live chart."""
    st.subheader("🙋 " + question_text(question))
    join, chart = st.columns([2, 5], gap="medium")
    with join:
        with st.container(key="classroom-code"):
            st.metric(_("Class code"), question.code,
                      help=_("Students scan the QR code, open the link, or type the class code on this page."))
        link = join_link(question.code)
        st.html(join_html(link))
        for hint in reach_hints(link):
            st.caption("⚠️ " + hint)
        st.caption(where_text(question))
    with chart:
        _live_chart(question.code, 320 if state.presenting() else 380)  # presenter mode makes figures 1.35× taller
        row = st.container(horizontal=True)
        if not question.revealed:
            row.button(_("Reveal the model's answer"), key="classroom-reveal", type="primary",
                       on_click=_reveal, args=(question.code,))
        row.button(_("Close the question"), key="classroom-close", on_click=_close, args=(question.code,))
        if question.revealed:
            st.success(answer_text(question))


def _fresh_guess(question: classroom.Question) -> None:
    """A new question under the same code (the teacher's next one): the last question's guess goes."""
    version = (question.code, question.created)
    if st.session_state.get(SEEN) != version:
        st.session_state.pop(f"classroom-choice-{question.code}", None)
        st.session_state.pop(SENT, None)
        st.session_state[SEEN] = version


def _student(question: classroom.Question) -> None:
    _fresh_guess(question)
    st.subheader("🙋 " + question_text(question))
    st.caption(where_text(question))
    sent = st.session_state.get(SENT)
    mine = sent[1] if sent and sent[0] == question.code and isinstance(sent[1], str) else None
    if question.revealed:
        st.success(answer_text(question))
        if mine == question.options[question.answer]:
            st.success(_("Your guess, “{guess}”, is the model's answer.").format(guess=mine))
        elif mine is not None:
            st.info(_("Your guess: “{guess}”.").format(guess=mine))
        _chart(question.code, "classroom-result", 360)
    else:
        st.radio(_("Your guess"), question.options, index=None, key=f"classroom-choice-{question.code}",
                 horizontal=True)
        st.text_input(_("Nickname (optional)"), key=NICKNAME, max_chars=classroom.MAX_NICKNAME_CHARS)
        st.button(_("Send my guess"), key="classroom-send", type="primary", on_click=_send,
                  args=(question.code, question.options))
        if mine is not None:
            st.info(_("Your guess is in: “{guess}”. You may change it until the answer is revealed.").format(
                guess=mine))
    if sent and sent[0] == question.code and isinstance(sent[1], classroom.ClassroomError):
        st.warning(_(sent[1].message).format(code=question.code))
    st.button(_("Leave the question"), key="classroom-leave", on_click=_leave)


def _invite(kind: str, draft: Callable[[], Draft]) -> None:
    """One switch on the page; its controls only when it is on (a folded expander would still hold them)."""
    if not st.toggle("🙋 " + _("Predict, then reveal, with the class"), key=OPEN):
        return
    _say_problem()
    st.button(_(ASK[kind]), key="classroom-ask", on_click=_ask, args=(kind, draft))
    st.caption(_("Hides the answer and opens a question under a short class code; the guesses appear here "
                 "as they arrive, and you reveal the model's answer beside them."))
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.text_input(_("A student? Type the class code"), key=JOIN, max_chars=8, placeholder="ABCD")
    row.button(_("Join"), key="classroom-join", on_click=_join)


def _no_question(code: str, role: str, error: classroom.ClassroomError) -> None:
    """Closed, expired or mistyped; a student's page goes on following the code for the teacher's next one.
    Where the database cannot be reached, the same: it is asked again every second."""
    if isinstance(error, classroom.DatabaseUnavailable):
        st.warning(_(error.message), icon="🔌")
    else:
        st.info(_(error.message).format(code=code))
    if role != TEACHER:
        st.caption(_("This page follows the code {code}: the teacher's next question under it appears here by "
                     "itself.").format(code=code))
        _follow(code, None)
    st.button(_("Leave the question"), key="classroom-leave", on_click=_leave)


def panel(kind: str, draft: Callable[[], Draft]) -> bool:
    """The page's predict-then-reveal panel; True when the page may show its answer."""
    st.session_state.setdefault(CLASS, st.query_params.get(CLASS))
    st.session_state.setdefault(ROLE, st.query_params.get(ROLE, STUDENT))
    code, role = st.session_state[CLASS], st.session_state[ROLE]
    state.link(CLASS, code, None)
    state.link(ROLE, role, STUDENT)
    if not code:
        _invite(kind, draft)
        return True
    with st.container(key=STAGE):
        st.html(STAGE_CSS + (PRESENTER_STAGE_CSS if state.presenting() else ""))
        _say_problem()
        try:
            question = store().question(code)
        except classroom.ClassroomError as error:
            _no_question(code, role, error)
            return True
        if not question.revealed:
            st.html(FOCUS_CSS)
        if role == TEACHER:
            _teacher(question)
        else:
            _student(question)
            _follow(code, (question.created, question.revealed))
    return question.revealed or question.kind != kind
