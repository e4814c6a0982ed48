"""Small controls shared by several pages: a number chosen along a range whose size depends on the data (merges
learned, layers of a model), kept per scope and taken from the link; the token a page studies; a whole number
read from the link before its choice is settled."""

from __future__ import annotations

import streamlit as st

from viz import state
from viz.state import _

MEMORY = "_ranged_memory"  # (key, scope) -> the last value shown
SCOPE = "_ranged_scope"  # key -> the scope its value belongs to
TOKEN_OWNER = "_block_token_of"  # the (model, text) the token choice belongs to


def settle_index(key: str, last: int, default: int, scope: str) -> int:
    """Before a slider over 0..`last` is drawn: the value to show, clamped into range.

    Each scope (a model, a training) remembers its own value, so switching away and back keeps it; a new
    scope starts at `default` unless the link names a value. A value out of range (from a link, or from
    the session before the range shrank) is clamped, with a notice."""
    memory = st.session_state.setdefault(MEMORY, {})
    scopes = st.session_state.setdefault(SCOPE, {})
    first_use = key not in scopes
    value = st.session_state.get(key) if scopes.get(key) == scope else None
    if value is None:
        raw = st.query_params.get(key)
        if first_use and raw is not None and raw.isdigit():
            value = int(raw)  # a link, opened
        else:
            value = memory.get((key, scope), default)  # this scope's last value (a widget's own is lost off its page)
    shown = min(max(int(value), 0), last)
    if shown != value:
        st.warning(_("{value} is out of range here (0 to {last}); showing {shown}.").format(
            value=value, last=last, shown=shown), icon="🔗")
    st.session_state[key] = memory[(key, scope)] = shown
    scopes[key] = scope
    return shown


def step(key: str, delta: int, last: int, first: int = 0) -> None:
    st.session_state[key] = min(max(int(st.session_state.get(key, first)) + delta, first), last)


def stepper(label: str, key: str, last: int, help: str | None = None, first: int = 0) -> int:
    """◀ slider ▶ in one row that never wraps (on a phone the arrows stay beside their slider); `first` 1 for
    steps a class counts (step 1 of 7), 0 for indices (layer 0, no merges yet)."""
    value = st.session_state.get(key)
    if value is None:  # a link, opened: the slider takes the link's value on this run, the arrows must too
        raw = st.query_params.get(key, "")
        value = int(raw) if raw.isdigit() else first
    row = st.container(horizontal=True, wrap=False, vertical_alignment="bottom")
    row.button("◀", key=f"{key}-previous", help=_("Previous"), on_click=step, args=(key, -1, last, first),
               disabled=value <= first)
    chosen = row.slider(label, first, last, key=key, bind="query-params", help=help)
    row.button("▶", key=f"{key}-next", help=_("Next"), on_click=step, args=(key, 1, last, first),
               disabled=value >= last)
    return chosen


def pick_token(labels: list[str], owner: tuple[str, str], default: int, label: str) -> int:
    """The position studied, in the URL as `token`; a new text or model starts at `default`."""
    value = st.session_state.get(state.TOKEN)
    if value is None:  # a link, opened
        raw = st.query_params.get(state.TOKEN)
        value = int(raw) if raw is not None and raw.isdigit() else default
    if st.session_state.get(TOKEN_OWNER) not in (None, owner) or not 0 <= int(value) < len(labels):
        value = default
    st.session_state[state.TOKEN], st.session_state[TOKEN_OWNER] = int(value), owner
    chosen = st.selectbox(label, range(len(labels)), key=state.TOKEN, format_func=lambda i: f"#{i}  {labels[i]}",
                          placeholder=_("Choose one"))
    state.link(state.TOKEN, chosen, default)
    return chosen


def linked_int(key: str) -> None:
    """A whole number from the link into the session before its choice is settled (the link holds text)."""
    raw = st.query_params.get(key)
    if st.session_state.get(key) is None and raw is not None and raw.isdigit():
        st.session_state[key] = int(raw)
