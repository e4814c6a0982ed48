"""Encoder–decoder and cross-attention: a translator reads a Chinese sentence whole and writes its English one
word at a time from <s>; where each step looks in the source; teacher forcing against free running."""

import streamlit as st

from core import spec_of
from viz import catalog, frame, state
from viz.loading import model_or_error, trace_or_error
from viz.state import _
from viz.views import encoder_decoder as views


def formula() -> None:
    st.latex(r"\mathrm{CrossAttention}(Y, X)=\mathrm{softmax}\!\left(\frac{(YW_Q)(XW_K)^\top}{\sqrt{d_k}}\right)XW_V")


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    lm = model_or_error(name)
    if lm is None:
        return
    if not text.strip():
        st.info(_("Type a Chinese sentence in the sidebar (then Ctrl+Enter), or click an example above."))
        return
    free = views.translation_or_message(lm, text)
    if free is None:
        return
    target = views.source_and_target(lm, text, free, spec_of(name).trained)

    st.header(_("Three kinds of attention"))
    st.markdown(state.explain("encoder_decoder_attention"))
    trace = trace_or_error(name, text, (lm.tokenizer.bos_id, *target) if target else None)
    if trace is not None:
        views.attention_maps(trace, lm.tokenizer)

    st.header(_("Decoding step by step from `<s>`"))
    st.markdown(state.explain("encoder_decoder_steps"))
    views.decoding_steps(lm, free)

    st.header(_("Teacher forcing against free running"))
    st.markdown(state.explain("encoder_decoder_forcing"))
    views.forcing(lm, text, target, free)


frame.page(catalog.BY_ID["encoder_decoder"], body, formula=formula)
