"""What every page shares: navigation built from the catalogue, presenter styling, and the check
that the chosen model can do what the page needs (else a message and a model that can)."""

from __future__ import annotations

import contextlib
import time

import streamlit as st

from core import MODELS, N_, Capability, spec_of

from . import catalog, state
from .loading import trace_seconds
from .state import _

# Presenter mode: type a projector can carry across a classroom.
PRESENTER_CSS = """
<style>
section.main .block-container, [data-testid="stMainBlockContainer"] { max-width: 100%; }
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li { font-size: 1.3rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 3rem; }
</style>
"""


def navigation():
    """st.navigation from the catalogue, titles in the session's language; returns (page, entry)."""
    entries = {}
    sections = {}
    for section, pages in catalog.sections().items():
        sections[_(section)] = []
        for entry in pages:
            page = st.Page(entry.script, title=_(entry.title), icon=entry.icon, url_path=entry.id,
                           default=entry is catalog.PAGES[0])
            sections[_(section)].append(page)
            entries[entry.id] = entry
    page = st.navigation(sections)
    return page, entries.get(page.url_path) or catalog.PAGES[0]


def decorate() -> None:
    if state.presenting():
        st.html(PRESENTER_CSS)


def page_header(entry: catalog.PageEntry) -> None:
    st.title(f"{entry.icon} {_(entry.title)}")


def model_serves(entry: catalog.PageEntry) -> bool:
    """True if the chosen model has what the page needs; else say so and offer models that do."""
    if entry.needs is None:
        return True
    spec = spec_of(state.model_name())
    if spec.can(entry.needs):
        return True
    page_header(entry)
    st.info(_("{model} cannot be shown on this page: {reason}").format(
        model=_(spec.title), reason=_(NEEDS[entry.needs])))
    for name in _models_with(entry.needs):
        st.button(_("Switch to {model}").format(model=_(spec_of(name).title)), key=f"switch-{name}",
                  on_click=state.set_model, args=(name,))
    return False


def _models_with(capability: Capability) -> list[str]:
    """Installed models that have `capability`, trained ones first."""
    ranked = sorted(MODELS.values(), key=lambda spec: not spec.trained)
    return [spec.name for spec in ranked if spec.can(capability) and spec.available()]


NEEDS = {
    Capability.NEXT_TOKEN: N_(
        "it has no language-model head, so it does not predict next tokens (an encoder reads the whole text "
        "at once and turns every token into a vector)."),
    Capability.CROSS_ATTENTION: N_("it has no encoder–decoder cross-attention."),
}


@contextlib.contextmanager
def cost_said():
    """Around a page: afterwards say, small, what the model took for the text the page traced and what the
    page took to draw, so that a person sees the cost grow with the length of the text. A page that says
    it beside its own figure (the Attention page) sets state.COST_SAID instead."""
    st.session_state.pop(state.TRACED, None)
    st.session_state.pop(state.COST_SAID, None)
    started = time.perf_counter()
    yield
    traced = st.session_state.get(state.TRACED)
    if traced is None or st.session_state.get(state.COST_SAID):
        return
    key, tokens = traced
    parts = [_("{count:,} tokens").format(count=tokens)]
    seconds = trace_seconds(*key)
    if seconds is not None:
        parts.append(_("model {seconds:.2f} s").format(seconds=seconds))
    parts.append(_("page {seconds:.2f} s").format(seconds=time.perf_counter() - started))
    st.caption(" · ".join(parts))
