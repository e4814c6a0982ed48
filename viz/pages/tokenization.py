"""Tokenization: the text as the tokens real tokenizers cut it into, side by side."""

import streamlit as st

from viz import catalog, frame, presets, state
from viz.state import _
from viz.views import tokenization as views

frame.page_header(catalog.BY_ID["tokenization"])
st.markdown(state.explain("tokenization"))
preset = presets.preset_buttons("tokenization")
if preset is not None and preset.note:
    st.info(_(preset.note))

text = state.text()
if not text:
    st.info(_("Type a text in the sidebar (then Ctrl+Enter) to see its tokens."))
    st.stop()

models = views.tokenizer_models()
results = []
for column, model in zip(st.columns(max(len(models), 1)), models):
    with column:
        results.append(views.show_tokenizer(model, text))

# A byte-level vocabulary shows the bag best (it keeps every character).
shown = [r for r in results if r is not None]
shown.sort(key=lambda result: not result[0].byte_level)
if shown:
    views.show_bag(*shown[0])
