"""Self-attention step by step: a worked example one stage at a time, why Q Kᵀ is divided by √d_k, and the
same steps in a real head of the loaded model, with the trace's numbers."""

import streamlit as st

from viz import catalog, frame, state
from viz.loading import model_or_error, trace_or_error
from viz.state import _
from viz.views import attention_math as views


def formula() -> None:
    st.latex(r"\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}+M\right)V")


def body(preset) -> None:
    st.header(_("A worked example, one step at a time"))
    st.markdown(state.explain("attention_math_example"))
    views.worked_example_section()

    st.header(_("Why divide by √d_k"))
    st.markdown(state.explain("attention_scaling"))
    name, text = state.model_name(), state.text()
    lm = model_or_error(name)
    views.scaling_section(None if lm is None else lm.config.head_dim)

    st.header(_("The same steps in a real head"))
    if not text.strip():
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to follow a real head on it."))
        st.stop()
    if lm is not None:
        target = text if lm.config.architecture == "encoder-decoder" else None
        trace = trace_or_error(name, text, target)
        if trace is not None:
            if target is not None:
                st.caption(_("The decoder's self-attention of an encoder–decoder, on your text as the decoder's input."))
            views.real_head_section(lm, trace, focus=preset.focus if preset is not None else None)


frame.page(catalog.BY_ID["attention_math"], body, formula=formula)
