"""Tokenization: the text as the tokens real tokenizers cut it into, side by side."""

import streamlit as st

from viz import catalog, frame, state
from viz.state import _
from viz.views import tokenization as views
from viz.views.models import tokenizer_models


def body(preset) -> None:
    text = state.text()
    if not text:
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to see its tokens."))
        st.stop()

    models = tokenizer_models()
    results = []
    for column, model in zip(st.columns(max(len(models), 1)), models):
        with column:
            results.append(views.show_tokenizer(model, text))

    # A byte-level vocabulary shows the bag best (it keeps every character).
    shown = [r for r in results if r is not None]
    shown.sort(key=lambda result: not result[0].byte_level)
    if shown:
        views.show_bag(*shown[0])


frame.page(catalog.BY_ID["tokenization"], body)
