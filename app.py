"""TransformerScope: see what a Transformer computes, step by step.

The frame around every page: configuration, navigation from the page catalogue, the
link's check and the shared sidebar; each page script opens itself through viz/frame.py `page`.
"""

import pandas  # noqa: F401  (imported whole before any session thread: Plotly reads a half-imported pandas from sys.modules)
import streamlit as st

from viz import frame, sidebar, url
from viz.views import follow

st.set_page_config(page_title="TransformerScope", page_icon="🔭", layout="wide",
                   initial_sidebar_state=frame.sidebar_state())
frame.say_errors_in_the_viewers_language()
url.check_url()
page = frame.navigation()
follow.bar(frame.entry_of(page))  # a student's screen that follows the teacher takes the teacher's view here
sidebar.render()
frame.decorate()
url.show_notices()
page.run()
follow.publish()  # a teacher's screen that leads a class: its view, if this run changed it
