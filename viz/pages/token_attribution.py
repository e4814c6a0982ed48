"""Which earlier tokens fed a prediction: attention rollout through the layers beside a direct measure, the
change in the predicted token's log-probability when one earlier token is made invisible."""

import streamlit as st

from viz import catalog, frame, state
from viz.loading import model_or_error, trace_or_error
from viz.state import _
from viz.views import token_attribution as views


def formula() -> None:
    st.latex(r"\hat A^{(l)}=\mathrm{rownorm}\!\left(\tfrac12 A^{(l)}+\tfrac12 I\right),\qquad "
             r"R=\hat A^{(L)}\cdots\hat A^{(1)};\qquad "
             r"\Delta_j=\log P(y\mid \text{" + _("without") + r"}\ j)-\log P(y)")


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    lm = model_or_error(name)
    if lm is None:
        return
    if lm.config.architecture != "decoder":
        st.info(_("This page studies decoder-only models: an encoder–decoder's prediction also reads its source "
                  "through cross-attention, which neither measure here follows. Choose a decoder in the sidebar."))
    elif not text.strip():
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to see which tokens fed its predictions."))
    else:
        trace = trace_or_error(name, text)
        if trace is not None:
            views.attribution_section(lm, trace, text)
            st.markdown(state.explain("token_attribution_claims"))


frame.page(catalog.BY_ID["token_attribution"], body, formula=formula)
