"""Which earlier tokens mattered: the position picker, attention rollout and token removal side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import LanguageModel, Trace
from core.lessons.attribution import MAX_REMOVED
from core.lessons.attribution import token_removal as measure
from viz import export, state
from viz.figures.attribution import make_attribution_figure
from viz.loading import model_turn, rollout_row
from viz.state import _
from viz.tokens import labels_for
from viz.trace_cache import idle_seconds
from viz.views.controls import linked_int

OWNER = "_attribution_position_of"  # the (model, text) the position belongs to


@st.cache_resource(show_spinner=False, max_entries=64, ttl=idle_seconds())
def token_removal(name: str, text: str, position: int, _lm: LanguageModel, _trace: Trace):
    """The removal measure of one position, once per (model, text, position): its runs start from the keys and
    values the trace's residual stream gives, so the text before the removed tokens is never run again."""
    with model_turn():
        return measure(_lm, _trace.token_ids, position, trace=_trace)


def _position(tokens: list[str], owner: tuple) -> int:
    count = len(tokens)
    default = count - 1
    if st.session_state.get(OWNER) not in (None, owner):
        st.session_state[state.POSITION] = default
    linked_int(state.POSITION)
    state.settle_choice(state.POSITION, range(1, count), default)
    st.session_state[OWNER] = owner
    chosen = st.selectbox(_("The prediction made after this token"), range(1, count), key=state.POSITION,
                          placeholder=_("Choose one"),
                          format_func=lambda i: f"{i}: {tokens[i]}")
    state.link(state.POSITION, chosen, default)
    return chosen


@st.fragment
def attribution_section(lm, trace, text: str) -> None:
    tokens = labels_for(lm.tokenizer, trace.token_ids)
    if len(tokens) < 2:
        st.info(_("The text needs at least two tokens: one to predict from, one before it."))
        return
    position = _position(tokens, (lm.name, tuple(trace.token_ids)))
    rollout = rollout_row(lm.name, text, position, trace)
    with st.spinner(_("Running the model once per removed token…")):
        removal = token_removal(lm.name, text, position, lm, trace)
    predicted = labels_for(lm.tokenizer, [removal.target])[0]
    st.markdown(_("After **{token}** the model predicts **{predicted}** with probability {p:.3f}.").format(
        token=tokens[position].replace("*", r"\*"), predicted=predicted.replace("*", r"\*"),
        p=float(np.exp(removal.log_prob))))
    if removal.skipped:
        st.info(_("The removal measure runs the model once per token: for this position it measures the {n} "
                  "tokens nearest before it (at most {most}); the {skipped} earlier ones are not measured.").format(
            n=len(removal.removed), most=MAX_REMOVED, skipped=removal.skipped))
    change = np.full(len(tokens), np.nan)
    change[removal.removed] = removal.delta
    export.chart(make_attribution_figure(tokens, rollout, change, position, _=state.translator()),
                    key="attribution")
    if len(removal.removed):
        worst = int(removal.removed[np.argmin(removal.delta)])
        st.caption(_("Removing “{token}” lowers log P(“{predicted}”) the most: by {drop:.3f}.").format(
            token=tokens[worst], predicted=predicted, drop=-float(removal.delta.min())))
