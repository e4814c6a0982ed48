"""Layer by layer (logit lens): the prediction read from the residual stream at every layer, the layer where it is
decided, and what each head and feed-forward block wrote toward it."""

import streamlit as st

from viz import catalog, frame, state
from viz.loading import decoder_reads_text, model_or_error
from viz.state import _
from viz.views import block, compare, lens


def formula() -> None:
    st.latex(r"\mathrm{lens}_\ell(t)=\mathrm{softmax}\big(W_U\,\mathrm{FinalNorm}(h_\ell[t])\big),\qquad \ell=0,\dots,L")
    st.caption(_("h_ℓ is the residual stream after ℓ blocks (h₀: the embedding's output). At ℓ = L the lens is the "
                 "model's own prediction."))


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    if not text.strip():
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to read its predictions layer by layer."))
        st.stop()
    lm = model_or_error(name)
    trace = None if lm is None else block.trace_for(name, text)
    if trace is None:
        st.stop()
    if trace.architecture == "encoder-decoder":
        st.caption(_("An encoder–decoder: the lens reads its decoder's layers, which here read the text itself."))
    st.header(_("The prediction at every layer"))
    lens.explorer(name, text, block.token_labels(name, trace))
    compare.lens_pair(name, text, decoder_reads_text)


frame.page(catalog.BY_ID["logit_lens"], body, formula=formula)
