"""TransformerScope: see what a Transformer computes, step by step.

The frame around every page: configuration, navigation from the page catalogue,
the shared sidebar, and the check that the model can serve the page.
"""

import pandas  # noqa: F401  (imported whole before any session thread: Plotly reads a half-imported pandas from sys.modules)
import streamlit as st

from viz import frame, sidebar, state
from viz.views import follow

st.set_page_config(page_title="TransformerScope", page_icon="🔭", layout="wide",
                   initial_sidebar_state=frame.sidebar_state())
frame.say_errors_in_the_viewers_language()
state.check_url()
page, entry = frame.navigation()
follow.bar(entry)  # a student's screen that follows the teacher takes the teacher's view here, before drawing
sidebar.render()
frame.decorate()
state.show_notices()
if frame.model_serves(entry):
    with frame.cost_said():
        page.run()
follow.publish()  # a teacher's screen that leads a class: its view, if this run changed it
