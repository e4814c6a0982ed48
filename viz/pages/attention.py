"""Attention: step through the layers and heads, and see where each token looks."""

import streamlit as st

from viz import attention_views, presets, state
from viz.loading import model_or_error, trace_or_error

st.title("👀 Attention")
st.markdown(
    "Every token asks a question (its **query**) and compares it with every token's label (its **key**). "
    "A softmax turns one query's scores into weights over the keys: **one row of the matrix is one token's "
    "attention, and it sums to 1**. The token then takes that weighted mix of the others' values.  \n"
    "A **head** is one such set of queries, keys and values. Each layer runs several heads side by side, and "
    "each can learn its own pattern: the previous token, the same word, the start of the sentence…"
)

preset = presets.preset_buttons("attention")
if preset is not None and preset.note:
    st.info(preset.note)

text, lm = state.text(), model_or_error(state.model_name())
if lm is not None:
    target = attention_views.decoder_target(text) if lm.info.architecture == "encoder-decoder" else None
    trace = trace_or_error(lm.name, text, target)
    if trace is not None:
        attention_views.explorer(trace, lm.tokenizer)
