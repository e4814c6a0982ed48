"""Masks: which keys each query may see, encoder against decoder, why −∞ is added rather than 0 multiplied,
and padding in a batch, all on the real numbers of the installed models."""

import streamlit as st

from viz import catalog, frame, state
from viz.state import _
from viz.views import masks as views
from viz.views.models import models_where


def formula() -> None:
    st.latex(r"\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}+M\right)V,"
             r"\qquad M_{ij}\in\{0,\,-\infty\}")


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    if not text.strip():
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to see the masks on it."))
        st.stop()

    st.header(_("The masks on your text"))
    views.model_masks_section(name, text)

    st.header(_("Encoder against decoder"))
    st.markdown(state.explain("masks_encoder_decoder"))
    views.encoder_and_decoder_section(text, name)

    st.header(_("Adding −∞, not multiplying by 0"))
    st.markdown(state.explain("masks_ways"))
    # The wrong way over the right way: side by side they would run past the edge of a laptop's page.
    st.latex(r"\begin{aligned}\mathrm{softmax}(S\odot A)&:\ A_{ij}=0\;\Rightarrow\;"
             r"w_{ij}=\frac{e^{0}}{\sum_{j'}e^{S_{ij'}A_{ij'}}}>0\\[0.3em]"
             r"\mathrm{softmax}(S+M)&:\ M_{ij}=-\infty\;\Rightarrow\;"
             r"w_{ij}=\frac{e^{-\infty}}{\sum_{j'}e^{S_{ij'}+M_{ij'}}}=0\end{aligned}")
    causal = models_where(lambda config: config.is_causal, name)
    if causal:
        views.ways_section(causal[0], text)
    else:
        st.info(_("No installed model has a causal mask to study."))

    st.header(_("Padding: sentences of different lengths in one batch"))
    st.markdown(state.explain("masks_padding"))
    views.padding_section(text, name)


frame.page(catalog.BY_ID["masks"], body, formula=formula)
