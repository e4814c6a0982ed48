"""Predict, then reveal, on the Attention and Next-token pages.

The teacher asks the class (one click): the question goes into the database under a short class code,
the page hides the model's answer, and the teacher's screen shows the class's guesses as they arrive.
Students open the same page on their own devices (the link carries `class=CODE`, or they type the code),
pick their guess from the tokens, and send it. The teacher reveals the answer beside the guesses.

A page calls `attention_question(trace, tokenizer)` or `next_token_question(tokenizer, trace)`; either
returns True when the page may show its answer (no question of this kind is open and hidden).
The storage is viz/classroom.py; the code and the role (`role=teacher`) are in the URL.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import numpy as np
import streamlit as st

from core import N_
from viz import classroom, export, state
from viz.figures.attention import without_keys
from viz.figures.classroom import make_guesses_figure
from viz.state import _
from viz.tokens import axis_labels, label_of, labels_for

CLASS, ROLE = state.CLASS, state.ROLE
TEACHER, STUDENT = state.ROLES
VOTER = "_classroom_voter"  # a random id for this browser session: one guess per device
JOIN, NICKNAME, SENT, OPEN = "classroom_join", "classroom_nickname", "_classroom_sent", "classroom_open"
LIVE_SECONDS = 2
NEXT_TOKEN_OPTIONS = 6
SETTING = "classroom_database_url"  # in .streamlit/secrets.toml; the environment variable wins

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


def store() -> classroom.Store:
    setting = None
    try:
        if st.secrets.load_if_toml_exists():
            setting = st.secrets.get(SETTING)
    except Exception:  # noqa: BLE001  (an unreadable secrets file: the environment or the default decide)
        setting = None
    return classroom.store_for(classroom.database_url(setting))


# ---------------------------------------------------------------- the questions the pages ask


def _int(key: str, count: int) -> int:
    try:
        return min(max(int(st.session_state.get(key, st.query_params.get(key, 0))), 0), count - 1)
    except (TypeError, ValueError):
        return 0


def attention_draft(trace, tokenizer) -> Draft:
    """Where the Attention page's chosen query token looks most, in the chosen layer and head (or the mean
    of the heads), among the keys it may see; attention sinks left out when the page hides them."""
    from viz.views import attention as views  # the Attention page's own reading of its controls

    sources = views.attention_sources(trace, tokenizer)
    kind = st.session_state.get(views.KIND_KEY, "self")
    source = sources.get(kind, sources["self"])
    layer = _int(views.LAYER_KEY, source.n_layers)
    head = None if st.session_state.get(views.MODE_KEY) == views.AVERAGE else _int(views.HEAD_KEY, source.n_heads)
    queries, keys = axis_labels(source.queries), axis_labels(source.keys)
    chosen = st.session_state.get(views.QUERY_KEY)
    query = queries.index(chosen) if chosen in queries else len(queries) - 1
    record = source.records[layer]
    weights, mask = views.shown_weights(record, head)[query : query + 1], np.asarray(record.mask, dtype=bool)
    mask, shown = mask[query : query + 1], np.arange(len(keys))
    if st.session_state.get(views.HIDE_KEY) and not source.sink_keys.all():
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
    return Draft("".join(labels_for(tokenizer, trace.token_ids)[-4:]), [labels[i] for i in order],
                 order.index(0), [float(probs[top[i]]) for i in order], {"model": trace.model})


def attention_question(trace, tokenizer) -> bool:
    return panel("attention", lambda: attention_draft(trace, tokenizer))


def next_token_question(tokenizer, trace) -> bool:
    return panel("next_token", lambda: next_token_draft(tokenizer, trace))


# ---------------------------------------------------------------- the panel


def _ask(kind: str, draft: Callable[[], Draft]) -> None:
    made = draft()
    code = store().open_question(kind, made.subject, made.options, made.answer, made.shares, made.detail)
    st.session_state[CLASS], st.session_state[ROLE] = code, TEACHER


def _join() -> None:
    typed = classroom.normal_code(st.session_state.get(JOIN) or "")
    st.session_state[CLASS], st.session_state[ROLE] = typed or None, STUDENT


def _leave() -> None:
    st.session_state[CLASS] = None
    st.session_state[JOIN] = ""


def _close(code: str) -> None:
    store().close(code)
    _leave()


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


def where_text(question: classroom.Question) -> str:
    detail = question.detail
    if question.kind == "attention":
        head = (_("mean of the heads") if detail.get("head") is None
                else _("head {head}").format(head=detail["head"]))
        return _("{model}, layer {layer}, {head}").format(model=detail.get("model", ""), layer=detail.get("layer"),
                                                         head=head)
    return str(detail.get("model", ""))


def join_link(code: str) -> str:
    """This page's address with the class code (and the language), for the students."""
    url = urlsplit(str(getattr(st.context, "url", "") or ""))
    base = f"{url.scheme}://{url.netloc}{url.path}" if url.netloc else ""
    return f"{base}?{urlencode({CLASS: code, state.LANG: state.language()})}"


def _chart(code: str, key: str) -> None:
    try:
        question = store().question(code)
        counts = store().tally(code)
    except classroom.ClassroomError as error:
        st.info(_(error.message).format(code=code))
        return
    answer = question.answer if question.revealed else None
    export.show(make_guesses_figure(question.options, counts, answer=answer,
                                    shares=question.shares if question.revealed else None, _=_),
                key=key, config={"displayModeBar": False})


@st.fragment(run_every=LIVE_SECONDS)
def _live_chart(code: str) -> None:
    """The class's guesses, read from the database again every LIVE_SECONDS seconds."""
    _chart(code, "classroom-live")


def _teacher(question: classroom.Question) -> None:
    st.subheader("🙋 " + question_text(question))
    code_column, link_column = st.columns([1, 3])
    code_column.metric(_("Class code"), question.code)
    link_column.caption(_("Students open this page on their own devices and type the code, or open {link}").format(
        link=join_link(question.code)))
    link_column.caption(where_text(question))
    _live_chart(question.code)
    row = st.container(horizontal=True)
    if not question.revealed:
        row.button(_("Reveal the model's answer"), key="classroom-reveal", type="primary",
                   on_click=lambda: store().reveal(question.code))
    row.button(_("Close the question"), key="classroom-close", on_click=_close, args=(question.code,))
    if question.revealed:
        st.success(_("The model's answer: “{answer}” ({share:.0%}).").format(
            answer=question.options[question.answer], share=question.shares[question.answer]))


def _student(question: classroom.Question) -> None:
    st.subheader("🙋 " + question_text(question))
    st.caption(where_text(question))
    sent = st.session_state.get(SENT)
    if question.revealed:
        st.success(_("The model's answer: “{answer}” ({share:.0%}).").format(
            answer=question.options[question.answer], share=question.shares[question.answer]))
        _chart(question.code, "classroom-result")
    else:
        st.radio(_("Your guess"), question.options, index=None, key=f"classroom-choice-{question.code}",
                 horizontal=True)
        st.text_input(_("Nickname (optional)"), key=NICKNAME, max_chars=classroom.MAX_NICKNAME_CHARS)
        st.button(_("Send my guess"), key="classroom-send", type="primary", on_click=_send,
                  args=(question.code, question.options))
    if sent and sent[0] == question.code:
        if isinstance(sent[1], classroom.ClassroomError):
            st.warning(_(sent[1].message).format(code=question.code))
        else:
            st.info(_("Your guess is in: “{guess}”. You may change it until the answer is revealed.").format(
                guess=sent[1]))
    st.button(_("Leave the question"), key="classroom-leave", on_click=_leave)


def _invite(kind: str, draft: Callable[[], Draft]) -> None:
    """One switch on the page; its controls only when it is on (a folded expander would still hold them)."""
    if not st.toggle("🙋 " + _("Predict, then reveal, with the class"), key=OPEN):
        return
    st.button(_(ASK[kind]), key="classroom-ask", on_click=_ask, args=(kind, draft))
    st.caption(_("Hides the answer and opens a question under a short class code; the guesses appear here "
                 "as they arrive, and you reveal the model's answer beside them."))
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.text_input(_("A student? Type the class code"), key=JOIN, max_chars=8, placeholder="ABCD")
    row.button(_("Join"), key="classroom-join", on_click=_join)


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
    try:
        question = store().question(code)
    except classroom.ClassroomError as error:
        st.info(_(error.message).format(code=code))
        st.button(_("Leave the question"), key="classroom-leave", on_click=_leave)
        return True
    (_teacher if role == TEACHER else _student)(question)
    return question.revealed or question.kind != kind
