"""Small controls shared by the pages of the mathematics: a number chosen along a range whose size
depends on the data (merges learned, layers of a model), kept per scope and taken from the link."""

from __future__ import annotations

import streamlit as st

from viz.state import _

MEMORY = "_ranged_memory"  # (key, scope) -> the last value shown
SCOPE = "_ranged_scope"  # key -> the scope its value belongs to


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


def step(key: str, delta: int, last: int) -> None:
    st.session_state[key] = min(max(int(st.session_state.get(key, 0)) + delta, 0), last)


def stepper(label: str, key: str, last: int, help: str | None = None) -> int:
    """◀ slider ▶ in one row that never wraps (on a phone the arrows stay beside their slider)."""
    value = st.session_state.get(key, 0)
    row = st.container(horizontal=True, wrap=False, vertical_alignment="bottom")
    row.button("◀", key=f"{key}-previous", help=_("Previous"), on_click=step, args=(key, -1, last),
               disabled=value <= 0)
    chosen = row.slider(label, 0, last, key=key, bind="query-params", help=help)
    row.button("▶", key=f"{key}-next", help=_("Next"), on_click=step, args=(key, 1, last), disabled=value >= last)
    return chosen
