"""Attention: step through the layers and heads, and see where each token looks."""

import streamlit as st

from core import Capability, spec_of
from viz import catalog, frame, state
from viz.loading import model_or_error, trace_or_error, trace_seconds
from viz.views import attention as views
from viz.views import classroom, compare


def body(preset) -> None:
    st.session_state.pop(state.RANKED_HEADS, None)  # the lesson bar's steps: the heads ranked below, this run
    text, lm = state.text(), model_or_error(state.model_name())
    if lm is None:
        return
    target = views.decoder_target(text) if spec_of(lm.name).can(Capability.CROSS_ATTENTION) else None
    trace = trace_or_error(lm.name, text, target)
    if trace is not None and classroom.attention_question(trace, lm.tokenizer):  # hidden while the class guesses
        views.explorer(trace, lm.tokenizer, focus=preset.focus if preset is not None else None,
                       model_seconds=trace_seconds(lm.name, text, target),
                       after=compare.attention_after(trace, lm.tokenizer, text, target))


frame.page(catalog.BY_ID["attention"], body, bar_last=True)
