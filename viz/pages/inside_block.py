"""Inside a block: the residual stream through the layers, add & norm (LayerNorm against RMSNorm), and the
feed-forward's hidden units, on the real numbers of the cached trace."""

import streamlit as st

from core import spec_of
from viz import catalog, frame, presets, state
from viz.loading import model_or_error
from viz.state import _
from viz.views import block as views

frame.page_header(catalog.BY_ID["inside_block"])
st.markdown(state.explain("inside_block"))
# One assignment a line: side by side they overflow a projector's width, and a phone's.
st.latex(r"\begin{aligned}\text{pre-norm:}\quad & h \leftarrow h+\mathrm{Attn}(\mathrm{Norm}(h))\\"
         r"& h \leftarrow h+\mathrm{FFN}(\mathrm{Norm}(h))\\[0.4em]"
         r"\text{post-norm:}\quad & h \leftarrow \mathrm{Norm}(h+\mathrm{Attn}(h))\\"
         r"& h \leftarrow \mathrm{Norm}(h+\mathrm{FFN}(h))\end{aligned}")
preset = presets.preset_buttons("inside_block")
if preset is not None and preset.note:
    st.info(_(preset.note))

name, text = state.model_name(), state.text()
if not text.strip():
    st.info(_("Type a text in the sidebar (then Ctrl+Enter) to look inside the blocks."))
    st.stop()
lm = model_or_error(name)
trace = None if lm is None else views.trace_for(name, text)
if trace is None:
    st.stop()
if not spec_of(name).trained:
    st.warning(_("This model is untrained: its weights are seeded random numbers, so these are real computations "
                 "without learned meaning."))
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
        token = views.pick_token(labels, (name, text), len(labels) - 1, _("Study a token"))
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
