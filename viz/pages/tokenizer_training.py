"""How a tokenizer is learned: byte-pair encoding trained on a small corpus, merge by merge."""

import streamlit as st

from viz import catalog, frame, state
from viz.state import _
from viz.views import tokenizer_training as views


def formula() -> None:
    st.latex(r"(a, b)^{*} = \operatorname*{arg\,max}_{(a,\,b)} \; \sum_{w \in \text{" + _("corpus") + r"}} n_w \cdot "
             r"\#_{(a,b)}(w) \qquad a\,b \;\to\; ab")


def body(preset) -> None:
    st.header(_("The corpus"))
    corpus, merges = views.corpus_controls()
    result = None if corpus is None else views.train_or_explain(corpus, merges)

    text = state.text()
    if result is not None:
        st.header(_("The merges, one by one"))
        k = views.step_controls(result, corpus)
        views.show_step(result, k, corpus)
        if text:
            st.header(_("Your sentence, merge by merge"))
            views.sentence_after(result, k, text, corpus)

    if text:
        views.real_tokenizers(text)
    else:
        st.info(_("Type a text in the sidebar (then Ctrl+Enter) to see its tokens."))


frame.page(catalog.BY_ID["tokenizer_training"], body, formula=formula)
