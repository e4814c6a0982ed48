"""Positional encoding: the sinusoid, a learned table and RoPE with the installed models' real numbers,
and a model run with its positions switched off."""

import streamlit as st

from core import model_shape, spec_of
from viz import catalog, frame, state
from viz.state import _
from viz.views import positions as views
from viz.views.models import models_where


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    kind = model_shape(name)[0].positional
    st.caption(_("{model}, chosen in the sidebar, uses {kind} positions.").format(
        model=_(spec_of(name).title), kind=_(views.KIND_NAMES[kind])))

    st.header(_("The sinusoid of the original paper"))
    st.latex(r"PE_{(pos,\,2i)}=\sin\!\left(\frac{pos}{10000^{2i/d_{model}}}\right),\qquad "
             r"PE_{(pos,\,2i+1)}=\cos\!\left(\frac{pos}{10000^{2i/d_{model}}}\right)")
    st.markdown(state.explain("positional_sinusoid"))
    views.sinusoid_section(name, text)

    st.header(_("A learned table"))
    st.markdown(state.explain("positional_learned"))
    learned = models_where(lambda config: config.positional == "learned", name)
    if learned:
        views.learned_section(learned[0])
    else:
        st.info(_("No installed model has learned positions."))

    st.header(_("Rotations: RoPE"))
    st.markdown(state.explain("positional_rope"))
    st.latex(r"q_m=R_{m\theta}\,W_q x_m,\quad k_n=R_{n\theta}\,W_k x_n\;\Rightarrow\;"
             r"q_m^\top k_n=(W_q x_m)^\top R_{(n-m)\theta}\,(W_k x_n),\qquad \theta_j=b^{-2j/d_k}")
    rope = models_where(lambda config: config.positional == "rope", name)
    if not rope:
        st.info(_("No installed model uses rotary positions."))
    elif text.strip():
        views.rope_section(rope[0], text)

    st.header(_("Switch the positions off"))
    st.markdown(state.explain("positional_off"))
    if text.strip():
        views.positions_off_section(text, views.order_choice(), name)
    else:
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to run it with and without positions."))
    st.markdown(state.explain("positional_causal"))


frame.page(catalog.BY_ID["positional_encoding"], body)
