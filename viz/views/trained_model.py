"""The model a person trained, studied on the other pages of their session.

A finished job's model is kept in the process's registry under a name only this session knows
(core/runtime/registry.py `keep_trained`, bounded in number); the session lists it beside the installed models
(viz/state.py `session_models`), so the sidebar offers it and every page loads, traces and draws it as it
does an installed one. Choosing to study it also makes the text the person tried the session's text: a
copy model reads only digits, a translator only its toy sentences.
"""

from __future__ import annotations

import uuid

import streamlit as st

from core import spec_of
from core.training import live_training as live
from core.training.jobs import Job
from viz import catalog, state
from viz.state import _

KEPT = "_tr_kept"  # id(job) -> the name its model is kept under
STUDY_PAGES = ("attention", "encoder_decoder", "next_token", "inside_block", "logit_lens")


def kept_name(job: Job) -> str | None:
    return st.session_state.get(KEPT, {}).get(id(job))


def _study(job: Job, text: str) -> None:
    """Keep the model (once per job), make it and `text` the session's: runs before the sidebar is drawn."""
    name = kept_name(job)
    if name is None or name not in state.session_models():
        name = f"trained-{job.recipe.task}-{uuid.uuid4().hex[:8]}"
        live.keep_trained_model(name, job.recipe, job.task, job.module)
        st.session_state.setdefault(KEPT, {})[id(job)] = name
        state.add_session_model(name)
    state.set_model(name)
    if text.strip():
        state.set_text(text)


def study_offer(job: Job | None, tried: str) -> None:
    """Under "Try the model you trained": study it on every page, with what the person tried there (`tried`)."""
    if job is None or job.running or job.module is None:
        return
    st.subheader(_("Study it on every page"))
    st.button("🔬 " + _("Study this model on the other pages"), key="tr_study", on_click=_study, args=(job, tried),
              help=_("It becomes this session's model (sidebar: Model) and what you tried its text. Other people "
                     "do not see it; it is kept while this session lasts."))
    name = kept_name(job)
    if name is None or state.model_name() != name:
        return
    st.success(_("Every page of this session now studies your model ({name}), on the text you tried (the "
                 "sidebar's Text). Open one:").format(name=name), icon="🔬")
    row = st.container(horizontal=True)
    spec = spec_of(name)
    for entry in (catalog.BY_ID[page] for page in STUDY_PAGES):
        if entry.needs is None or spec.can(entry.needs):
            row.page_link(entry.script, label=_(entry.title), icon=entry.icon)
