"""Watch a Transformer learn: a small model of the core trained from scratch in this session, its loss
and its attention shown as they change. The work is in core/training/live_training.py and core/training/jobs.py; the widgets
in viz/views/training.py."""

import streamlit as st

from viz import catalog, frame, presets, state
from viz.state import _
from viz.views import trained_model
from viz.views import training as views

frame.page_header(catalog.BY_ID["training"])
st.markdown(state.explain("training"))
preset = presets.preset_buttons("training")
if preset is not None and preset.note:
    st.info(_(preset.note))
task = views.task_choice()
text = views.text_choice(task)
recipe = views.size_controls(task, text)
views.start_stop(recipe)
views.live_panel()
job = views.current_job()
views.try_model(job)
trained_model.study_offer(job)
st.markdown(state.explain("training_model"))
