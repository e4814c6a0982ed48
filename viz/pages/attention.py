"""Attention: step through the layers and heads, and see where each token looks."""

import streamlit as st

from core import Capability, spec_of
from viz import catalog, frame, presets, state
from viz.loading import model_or_error, trace_or_error, trace_seconds
from viz.state import _
from viz.views import attention as views
from viz.views import classroom, compare

frame.page_title(catalog.BY_ID["attention"])
# The lesson bar is drawn last, in this place: its steps are the heads the explorer ranks for the query.
bar = st.container()
st.session_state.pop(state.RANKED_HEADS, None)
st.markdown(state.explain("attention"))

preset = presets.preset_buttons("attention")
text, lm = state.text(), model_or_error(state.model_name())
if lm is not None:
    spec = spec_of(lm.name)
    if preset is not None and preset.note and spec.trained:  # an untrained model has no point to make
        st.info(_(preset.note))
    if not spec.trained:
        st.warning(_("This model is **untrained**: its weights are random numbers, so these are real attention "
                     "computations whose patterns carry no meaning. Compare them with a trained model."))
    target = views.decoder_target(text) if spec.can(Capability.CROSS_ATTENTION) else None
    trace = trace_or_error(lm.name, text, target)
    if trace is not None and classroom.attention_question(trace, lm.tokenizer):  # hidden while the class guesses
        views.explorer(trace, lm.tokenizer, focus=preset.focus if preset is not None else None,
                       model_seconds=trace_seconds(lm.name, text, target),
                       after=compare.attention_after(trace, lm.tokenizer, text, target))
with bar:
    frame.lesson_bar(catalog.BY_ID["attention"])
