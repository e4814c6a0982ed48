"""Follow the presenter: a teacher's screen leads, the students' screens follow it.

The teacher leads a class from the sidebar (one click): the view the screen shows — its page and every choice
its URL carries (model, text, layer, head, query token, the lesson step, …), and the few a session holds
outside it (one head or the average, hidden sinks, compare mode) — is published under a class code in the
database of predict-then-reveal (viz/classroom.py) whenever it changes: at the end of every run of the page,
and from a small fragment every half second (stepping a head reruns only the page's own fragment).

A student joins with the code (a link with `follow=CODE`, or typed in the sidebar). A fragment asks the
database for the view's version every second; when it has changed, the student's page opens the teacher's
view as the teacher's own link would: the session forgets its own choices and page memories, takes the
teacher's, and switches to the page with them in its URL. The student's language and presenter mode stay
theirs. One click breaks away to explore (the URL then drops `follow`), one click follows again, at once.
Each student's page sends a heartbeat every few seconds; the teacher's bar counts those following and those
exploring. Students who follow one view read one cached trace (viz/loading.get_trace computes a (model, text)
once, however many sessions ask at once). Nothing a student does is written anywhere but in their own session.

A database that cannot be reached pauses follow mode with a notice; every page goes on working.
"""

from __future__ import annotations

import secrets
import time

import streamlit as st
from streamlit.runtime.state.session_state_proxy import get_session_state

from viz import catalog, classroom, state, url
from viz.state import _
from viz.views import class_link

FOLLOW, LEAD = state.FOLLOW, state.LEAD  # the class this session follows, or leads (None: none)
FOLLOWING = "_follow_on"  # True: following the teacher; False: exploring on its own
APPLIED = "_follow_applied"  # the version of the teacher's view this student's page shows
PUBLISHED = "_follow_published"  # the view this teacher's session last published
PAGE = "_follow_page"  # the page id of this session's last full run (fragments do not know it)
VIEWER = "_follow_viewer"  # a random id for this browser session, for the heartbeat
BEAT = "_follow_beat"  # when this student's page last sent its heartbeat (time.monotonic)
COUNT = "_follow_count"  # (when, following, exploring) the teacher's bar last read
DOWN = "_follow_down"  # (until, message): the database failed; not asked again before `until`
LINKED = "_follow_linked"  # the link's follow / lead were read (once per session)
JOIN = "follow_join"  # the code a student types
NOTE = "_follow_note"  # a message for the person, from a callback (shown once)
SYNC = "_follow_sync"  # the teacher's URL choices, written into this page's URL once it has opened
LEAD_POLL_S = 0.5  # the teacher's bar: publishes a change made inside a page's fragment
FOLLOW_POLL_S = 1.0  # a student's page asks for the view's version
COUNT_S = 2.0  # the teacher's bar reads the class's size this often
BACK_OFF_S = 5.0  # after a database failure, a session leaves it alone this long
# The student's own, never taken from the teacher: language, presenter mode, who leads or follows, and the role
# in a question (a student never becomes the teacher of the teacher's question).
OWN = (state.LANG, state.PRESENT, state.ROLE, FOLLOW, LEAD)
# Choices a session holds outside the URL, followed too.
SESSION_CHOICES = (state.HEAD_MODE, "attention_hide_sinks", state.COMPARE)
# What pages remember of a person's own moves (the text a choice belongs to, the ranking that chose the head, a
# value per scope): forgotten when the teacher's view arrives, so that it opens as the teacher's link would.
MEMORIES = ("attention_query_tokens", "attention_ranked_for", "attention_scale_default", "_attention_math_query_of",
            "_block_token_of", "_embeddings_token_of", "_attribution_position_of", "_ranged_memory", "_ranged_scope",
            state.TEXT2, state.CLASS, state.ROLE)


def _store() -> classroom.Store:
    return class_link.store()


def _scalar(value) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def current_view(page_id: str) -> dict:
    """What this session's screen shows: its page, the URL's choices, the model and text, and the session's
    choices outside the URL."""
    choices = {key: st.session_state[key] for key in (*url.URL_PARAMS, *SESSION_CHOICES)
               if key not in OWN and key in st.session_state and _scalar(st.session_state[key])}
    choices[state.MODEL], choices[state.TEXT] = state.model_name(), state.text()
    # The URL's values from the session where it holds them: a fragment's run may see the URL a step behind.
    params = {key: value for key, value in st.query_params.to_dict().items()
              if key in url.URL_PARAMS and key not in OWN and key not in choices}
    params |= {key: _in_url(value) for key, value in choices.items() if key in url.URL_PARAMS and value is not None}
    return {"page": page_id, "params": params, "state": choices}


def _in_url(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# ---------------------------------------------------------------- the database, paused when it fails


def _down() -> str | None:
    """The notice while the database is left alone after a failure, else None."""
    down = st.session_state.get(DOWN)
    if down is not None and time.monotonic() < down[0]:
        return down[1]
    st.session_state.pop(DOWN, None)
    return None


def _failed(error: classroom.ClassroomError, code: str = "") -> str:
    message = _(error.message).format(code=code)
    if isinstance(error, classroom.DatabaseUnavailable):
        st.session_state[DOWN] = (time.monotonic() + BACK_OFF_S, message)
    return message


# ---------------------------------------------------------------- the teacher


def _lead() -> None:
    try:
        code = _store().open_lesson(current_view(st.session_state.get(PAGE, catalog.PAGES[0].id)),
                                    prefer=st.session_state.get(class_link.LAST))
    except classroom.ClassroomError as error:
        st.session_state[NOTE] = _failed(error)
        return
    st.session_state[LEAD] = code
    st.session_state.pop(PUBLISHED, None)
    st.session_state.pop(COUNT, None)


def _end(code: str) -> None:
    try:
        _store().end_lesson(code)
    except classroom.ClassroomError as error:
        st.session_state[NOTE] = _failed(error)
    st.session_state[LEAD] = None


def publish() -> None:
    """The teacher's view, published when it has changed (after a page's run, and from the lead bar)."""
    code = st.session_state.get(LEAD)
    if not code or _down():
        return
    view = current_view(st.session_state.get(PAGE, catalog.PAGES[0].id))
    if view == st.session_state.get(PUBLISHED):
        return
    try:
        _store().publish(code, view)
    except classroom.NoSuchLesson:  # ended elsewhere, or expired: open it again, under the same code if it is free
        try:
            st.session_state[LEAD] = _store().open_lesson(view, prefer=code)
        except classroom.ClassroomError as error:
            _failed(error)
            return
    except classroom.ClassroomError as error:
        _failed(error)
        return
    st.session_state[PUBLISHED] = view


def _class_size(code: str) -> tuple[int, int] | None:
    when, *size = st.session_state.get(COUNT, (-COUNT_S, 0, 0))
    if time.monotonic() - when >= COUNT_S:
        size = list(_store().class_size(code))
        st.session_state[COUNT] = (time.monotonic(), *size)
    return tuple(size)


@st.fragment(run_every=LEAD_POLL_S)
def _lead_bar(code: str) -> None:
    publish()
    down = _down()
    row = st.container(horizontal=True, vertical_alignment="center", key="follow-bar")
    if down:
        row.warning(down, icon="🔌")
        return
    try:
        following, exploring = _class_size(code)
    except classroom.ClassroomError as error:
        row.warning(_failed(error), icon="🔌")
        return
    row.markdown("🎓 " + _("Class **{code}**: {following} following, {exploring} exploring on their own").format(
        code=code, following=following, exploring=exploring))


# ---------------------------------------------------------------- the students


def _join() -> None:
    code = classroom.normal_code(st.session_state.get(JOIN) or "")
    try:
        if _store().lesson_version(code) is None:
            raise classroom.NoSuchLesson(code)
    except classroom.ClassroomError as error:
        st.session_state[NOTE] = _failed(error, code)
        return
    _follow_code(code)
    st.session_state[JOIN] = ""


def _follow_code(code: str) -> None:
    st.session_state[FOLLOW], st.session_state[FOLLOWING] = code, True
    st.session_state.pop(APPLIED, None)
    st.session_state.pop(BEAT, None)


def _break_away() -> None:
    st.session_state[FOLLOWING] = False
    st.session_state.pop(BEAT, None)  # the teacher's count learns it at once
    if FOLLOW in st.query_params:
        del st.query_params[FOLLOW]


def _follow_again() -> None:
    _follow_code(st.session_state[FOLLOW])


def _leave() -> None:
    code = st.session_state.get(FOLLOW)
    st.session_state[FOLLOW] = None
    st.session_state.pop(FOLLOWING, None)
    if code:
        try:
            _store().leave(code, st.session_state.setdefault(VIEWER, secrets.token_hex(16)))
        except classroom.ClassroomError:
            pass  # its heartbeat simply stops: the teacher's count forgets it within seconds
    if FOLLOW in st.query_params:
        del st.query_params[FOLLOW]


def _heartbeat(code: str, following: bool) -> None:
    if time.monotonic() - st.session_state.get(BEAT, -classroom.HEARTBEAT.total_seconds()) \
            < classroom.HEARTBEAT.total_seconds():
        return
    _store().heartbeat(code, st.session_state.setdefault(VIEWER, secrets.token_hex(16)), following)
    st.session_state[BEAT] = time.monotonic()


def _take(view: dict, code: str) -> None:
    """Open the teacher's view: forget this session's own choices, take the teacher's, switch to the page."""
    page = catalog.BY_ID.get(view.get("page"))
    if page is None:
        return
    url.forget_view()
    for key in (*MEMORIES, state.MODEL, state.TEXT, *SESSION_CHOICES):
        st.session_state.pop(key, None)
    allowed = set(url.URL_PARAMS) | set(SESSION_CHOICES)
    for key, value in view.get("state", {}).items():
        if key in allowed and key not in OWN and _scalar(value):
            st.session_state[key] = value
    # The choices the session holds write themselves into the URL as their widgets are drawn (Streamlit refuses
    # to set a parameter bound to a widget); the URL brings the rest.
    params = {key: str(value) for key, value in view.get("params", {}).items()
              if key in url.URL_PARAMS and key not in OWN}
    st.session_state[SYNC] = params
    st.switch_page(page.script, query_params={key: value for key, value in params.items() if not _bound(key)}
                   | {state.LANG: state.language(), FOLLOW: code})


def _bound(key: str) -> bool:
    with get_session_state().query_params() as params:
        return params.is_bound(key)


def _sync_url() -> None:
    """After taking the teacher's view: its choices in this page's URL too. Streamlit refuses to set a parameter
    bound to a widget, and a widget given its value by the session on a page it has just opened does not write
    it: the values go in as Streamlit's own corrections do."""
    wanted = st.session_state.pop(SYNC, None)
    if not wanted:
        return
    with get_session_state().query_params() as params:
        for key, value in wanted.items():
            if params.get(key) != value:
                params.set_corrected_value(key, value, "string_value")


def _catch_up(code: str) -> str | None:
    """Follow the teacher's view if it has changed since this page took it; a notice when the class is gone."""
    version = _store().lesson_version(code)
    if version is None:
        return _(classroom.NoSuchLesson.message).format(code=code)
    if version != st.session_state.get(APPLIED):
        version, view = _store().lesson(code)
        st.session_state[APPLIED] = version
        _take(view, code)
    return None


@st.fragment(run_every=FOLLOW_POLL_S)
def _follow_bar(code: str) -> None:
    following = bool(st.session_state.get(FOLLOWING))
    notice = _down()
    if notice is None:
        try:
            _heartbeat(code, following)
            notice = _catch_up(code) if following else None
        except classroom.ClassroomError as error:
            notice = _failed(error, code)
    row = st.container(horizontal=True, vertical_alignment="center", key="follow-bar")
    if following:
        row.markdown("🎓 " + _("Following the teacher (class **{code}**)").format(code=code))
        row.button(_("Explore on my own"), key="follow-away", on_click=_break_away, icon="🧭",
                   help=_("Your screen stops following; one click follows again."))
    else:
        row.markdown("🎓 " + _("Exploring on your own (class **{code}**)").format(code=code))
        row.button(_("Follow the teacher again"), key="follow-again", on_click=_follow_again, type="primary")
    if notice:
        st.warning(notice, icon="🔌")


# ---------------------------------------------------------------- on every page


def _read_link() -> None:
    """Once per session: a link with follow=CODE joins the class, one with lead=CODE leads it."""
    if st.session_state.get(LINKED):
        return
    st.session_state[LINKED] = True
    lead, follow = st.query_params.get(LEAD, ""), st.query_params.get(FOLLOW, "")
    st.session_state[LEAD] = lead if classroom.is_code(lead) else None
    st.session_state[FOLLOW] = None
    if classroom.is_code(follow) and not st.session_state[LEAD]:
        _follow_code(follow)


def bar(entry: catalog.PageEntry) -> None:
    """At the top of every page: the teacher's count of the class, or the student's following and its switch."""
    st.session_state[PAGE] = entry.id
    _read_link()
    note = st.session_state.pop(NOTE, None)
    if note:
        st.warning(note, icon="🎓")
    lead, code = st.session_state.get(LEAD), st.session_state.get(FOLLOW)
    state.link(LEAD, lead, None)
    state.link(FOLLOW, code if code and st.session_state.get(FOLLOWING) else None, None)
    if lead:
        _lead_bar(lead)
    elif code:
        _sync_url()
        _follow_bar(code)


def sidebar() -> None:
    """Lead a class from this screen, or follow a teacher's: the code, its link and QR code."""
    lead, code = st.session_state.get(LEAD), st.session_state.get(FOLLOW)
    with st.expander("🎓 " + _("Follow the presenter"), expanded=bool(lead or code)):
        if lead:
            st.metric(_("Class code"), lead, help=_("Students type the code here, open the link or scan the QR "
                                                     "code: their screens follow this one."))
            st.html(class_link.join_html(class_link.join_link(lead, FOLLOW)))
            st.button(_("End the class"), key="follow-end", on_click=_end, args=(lead,))
        elif code:
            st.caption(_("You are in the class {code}.").format(code=code))
            st.button(_("Leave the class"), key="follow-leave", on_click=_leave)
        else:
            st.button(_("Lead a class from this screen"), key="follow-lead", on_click=_lead,
                      help=_("Students who join with the class code see this screen's page, model, text, layer "
                             "and head, and follow each change."))
            row = st.container(horizontal=True, vertical_alignment="bottom")
            row.text_input(_("A student? Type the class code"), key=JOIN, max_chars=8, placeholder="ABCD")
            row.button(_("Follow"), key="follow-join", on_click=_join)
