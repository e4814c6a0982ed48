"""Head finder: what each head does, measured with TransformerLens's head detectors on a fixed corpus, and
in-context learning watched on a repeated random sequence, with the induction heads switched off."""

import streamlit as st

from core import InputError
from viz import catalog, frame, state
from viz.loading import model_or_error
from viz.state import _, render
from viz.views import head_finder as views


def formula() -> None:
    st.latex(r"\mathrm{score}=\frac{\sum_{i,j} A_{ij}\,P_{ij}}{\sum_{i,j} A_{ij}},\qquad "
             r"H=-\frac{1}{T}\sum_i\sum_j A_{ij}\log_2 A_{ij}")


def body(preset) -> None:
    name = state.model_name()
    lm = model_or_error(name)
    if lm is None:
        return
    if lm.config.architecture != "decoder":
        views.not_a_decoder(name)
        return
    try:  # a model trained here may lack what the corpus needs (its vocabulary, the made-up word's letters)
        scores = views.measured(lm)
        views.corpus_section(scores)
        views.grid_section(scores)
        st.header(_("The strongest heads of each kind"))
        views.strongest_table(scores)
        st.header(_("In-context learning, watched"))
        st.markdown(state.explain("head_finder_icl"))
        views.in_context_section(lm, scores)
    except InputError as error:
        st.warning(render(error))


views.follow_open()  # a click on a head opens the Attention page before anything is drawn here
frame.page(catalog.BY_ID["head_finder"], body, formula=formula)
