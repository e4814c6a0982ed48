"""Multi-head attention: d_model split into heads, each head's output, their concatenation through W_O, the
sharing of keys and values between query heads, and heads switched off by the core beside the plain run."""

import streamlit as st

from viz import catalog, frame, state
from viz.loading import model_or_error, trace_or_error
from viz.state import _
from viz.views import multi_head as views


def formula() -> None:
    st.latex(r"\mathrm{MultiHead}(X)=\mathrm{Concat}(Z_1,\dots,Z_h)\,W_O,\qquad "
             r"Z_i=\mathrm{softmax}\!\left(\frac{XW_Q^{(i)}\,(XW_K^{(i)})^\top}{\sqrt{d_k}}+M\right)XW_V^{(i)}")


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    lm = model_or_error(name)
    if lm is None:
        return
    st.header(_("Splitting d_model into heads"))
    views.shapes_section(lm.config)
    if not text.strip():
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to see the heads on it."))
        st.stop()
    trace = trace_or_error(name, text)
    if trace is not None:
        st.header(_("Each head's output, concatenated, through W_O"))
        views.explorer(lm, trace, state.explain("multi_head_ablation"))


frame.page(catalog.BY_ID["multi_head"], body, formula=formula)
