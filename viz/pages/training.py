"""Watch a Transformer learn: a small model of the core trained from scratch in this session, its loss
and its attention shown as they change. The work is in core/training/live_training.py and core/training/jobs.py;
the widgets in viz/views/training.py."""

import streamlit as st

from viz import catalog, frame, state
from viz.views import trained_model
from viz.views import training as views


def body(preset) -> None:
    task = views.task_choice()
    text = views.text_choice(task)
    recipe = views.size_controls(task, text)
    views.start_stop(recipe)
    views.live_panel()
    job = views.current_job()
    tried = views.try_model(job)
    trained_model.study_offer(job, tried)
    st.markdown(state.explain("training_model"))


frame.page(catalog.BY_ID["training"], body)
