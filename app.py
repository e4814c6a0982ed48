"""TransformerScope: see what a Transformer computes, step by step.

The frame around every page: configuration, navigation and the shared sidebar.
"""

import pandas  # noqa: F401  (imported whole before any session thread: Plotly reads a half-imported pandas from sys.modules)
import streamlit as st

from viz import sidebar

st.set_page_config(page_title="TransformerScope", page_icon="🔭", layout="wide")

PAGES = {
    "Start": [
        st.Page("viz/pages/overview.py", title="Overview", icon="🗺️", default=True),
    ],
    "Inside the model": [
        st.Page("viz/pages/tokenization.py", title="Tokenization", icon="🔤"),
        st.Page("viz/pages/attention.py", title="Attention", icon="👀"),
        st.Page("viz/pages/next_token.py", title="Next token", icon="🎲"),
    ],
}

page = st.navigation(PAGES)
sidebar.render()
page.run()
