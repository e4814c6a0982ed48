"""Embeddings: tokens become vectors; close meanings point the same way, and context moves a word's vector."""

import streamlit as st

from viz import catalog, frame, state
from viz.loading import model_or_error, trace_or_error
from viz.state import _
from viz.views import downloads
from viz.views import embeddings as views


def formula() -> None:
    st.latex(r"\mathbf{x}_i = E_{[\mathrm{id}_i]} \in \mathbb{R}^{d} \qquad "
             r"\cos(\mathbf{a}, \mathbf{b}) = \frac{\mathbf{a} \cdot \mathbf{b}}{\lVert \mathbf{a} \rVert \, "
             r"\lVert \mathbf{b} \rVert}")


def body(preset) -> None:
    st.session_state.pop(state.OPEN_BEST, None)  # a preset's word is opened here, not later on the Attention page
    focus = preset.focus if preset is not None else None

    text, lm = state.text(), model_or_error(state.model_name())
    token_id = None
    if not text:
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to see its tokens."))
    elif lm is not None:
        st.header(_("From token ids to vectors"))
        trace = trace_or_error(lm.name, text)
        if trace is not None:
            token_id = views.token_vectors(lm, trace, text, focus)
            downloads.embeddings(trace, text)

    st.header(_("Close meanings, close directions"))
    st.markdown(_("A sentence model turns a whole word or sentence into one vector: the mean of its last layer's "
                  "token vectors, scaled to length 1. The cosine of two such vectors is their dot product."))
    st.latex(r"\mathbf{s} = \frac{\bar{\mathbf{h}}}{\lVert \bar{\mathbf{h}} \rVert}, \quad "
             r"\bar{\mathbf{h}} = \frac{1}{T} \sum_{t=1}^{T} \mathbf{h}^{(L)}_t, \qquad "
             r"\cos(\mathbf{s}_a, \mathbf{s}_b) = \mathbf{s}_a \cdot \mathbf{s}_b")
    views.similarity(text)

    if lm is not None and token_id is not None:
        st.header(_("The same word in different contexts"))
        st.markdown(_("Every token starts from its row of the embedding table, whatever surrounds it. Each layer then "
                      "mixes in the other tokens through attention, so the same word in two sentences drifts apart as "
                      "the layers go up. Type the word in several lines (one context per line) and follow its vectors."))
        views.contexts(lm, text, token_id)


frame.page(catalog.BY_ID["embeddings"], body, formula=formula)
