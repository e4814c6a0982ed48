"""Prompting: the same question asked zero-shot, one-shot and few-shot, as a bare prompt and as an instruction through
the model's chat template; the accuracy over a held-out set for k = 0, 1, 2, 4, 8; chain of thought; the chat
template's tokens and roles."""

import streamlit as st

from core import InputError
from viz import catalog, frame, state
from viz.loading import model_or_error
from viz.state import _, render
from viz.views import prompting as views


def formula() -> None:
    st.latex(r"s_j=\sum_{t}\log P\left(w_{j,t}\mid x,\ w_{j,<t}\right),\qquad "
             r"P(j)=\frac{e^{s_j}}{\sum_i e^{s_i}}")


def body(preset) -> None:
    name = state.model_name()
    lm = model_or_error(name)
    if lm is None:
        return
    choice = views.controls(lm)
    try:
        views.askable(lm, choice)
    except InputError as error:
        st.warning(render(error))
        views.other_models(name)
        return
    views.prompt_section(lm, choice)
    views.answer_section(lm, choice)
    st.header(_("Accuracy over the held-out questions"))
    accuracy = st.container()  # filled last: the rest of the page is drawn while the table is measured
    st.header(_("Chain of thought: asking for steps"))
    st.markdown(state.explain("prompting_thought"))
    views.thought_section(lm, choice)
    st.header(_("The chat template"))
    views.template_section(lm, choice)
    with accuracy:
        table = views.measured(lm, choice)
        if table is not None:
            views.accuracy_section(lm, table)

frame.page(catalog.BY_ID["prompting"], body, formula=formula)
