"""Inside a block: the residual stream through the layers, add & norm (LayerNorm against RMSNorm), and the
feed-forward's hidden units, on the real numbers of the cached trace."""

import streamlit as st

from viz import catalog, frame, state
from viz.loading import model_or_error
from viz.state import _
from viz.views import block as views
from viz.views.controls import pick_token


def formula() -> None:
    # One line per placement (each sub-layer f is attention, then the feed-forward network).
    st.latex(r"\text{post-norm:}\ \ h \leftarrow \mathrm{Norm}\big(h+f(h)\big)")
    st.latex(r"\text{pre-norm:}\ \ h \leftarrow h+f\big(\mathrm{Norm}(h)\big)")
    st.latex(r"\text{" + _("sandwich (Gemma 3):") + r"}\ \ h \leftarrow h+\mathrm{Norm}'\big(f(\mathrm{Norm}(h))\big)")
    st.caption(_("f is each sub-layer in turn: attention, then the feed-forward network. Norm and Norm′ are separate "
                 "norms, each with its own learned gain."))


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    if not text.strip():
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to look inside the blocks."))
        st.stop()
    lm = model_or_error(name)
    trace = None if lm is None else views.trace_for(name, text)
    if trace is None:
        st.stop()
    labels = views.token_labels(name, trace)

    st.header(_("The residual stream through the layers"))
    st.markdown(_("Each token's vector travels up the model as one stream. Every sub-layer reads it and adds its "
                  "output: the figure shows the length ‖h‖ of each token's vector after each layer."))
    with st.spinner(_("Reading every layer…")):
        views.stream_section(name, text, labels)

    @st.fragment
    def one_token() -> None:
        left, right = st.columns(2)
        with left:
            token = pick_token(labels, (name, text), len(labels) - 1, _("Study a token"))
        with right:
            layer = views.layer_control(name, lm.config.n_layers)
        views.sublayer_chart(name, text, token, labels)

        st.header(_("Add & norm: one vector before and after its norm"))
        st.markdown(state.explain("block_norms"))
        views.norm_section(name, text, layer, token, labels)

        st.header(_("Feed-forward: the hidden units"))
        st.markdown(state.explain("block_feed_forward"))
        st.latex(r"\mathrm{FFN}(x)=W_{\text{down}}\,\phi(W_{\text{in}}x)\qquad"
                 r"\mathrm{SwiGLU}/\mathrm{GeGLU}(x)=W_{\text{down}}\big(\phi(W_{\text{gate}}x)\odot W_{\text{up}}x\big)")
        views.feed_forward_section(name, text, layer, token, labels)

    one_token()
    st.subheader(_("Sparsity: ReLU against the others"))
    views.sparsity_section(name, text)


frame.page(catalog.BY_ID["inside_block"], body, formula=formula)
