"""The core, cached: a model loads once per process, a trace once per (model, text).

Both caches are `st.cache_resource`, which hands every session the same object
instead of a pickled copy: models and traces are therefore read-only. Traces are
bounded by count; the largest (512 tokens on SmolLM2) is a few hundred MB.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import LanguageModel, ScopeError, Trace, load_model
from core.devices import device_name

TRACE_CACHE_ENTRIES = 16


@st.cache_resource(show_spinner="Loading the model (once per server)…")
def get_model(name: str) -> LanguageModel:
    return load_model(name)


@st.cache_resource(max_entries=TRACE_CACHE_ENTRIES, show_spinner="Running the model…")
def get_trace(name: str, text: str, target: str | None = None) -> Trace:
    return get_model(name).trace(text, target=target, dtype=np.float16)


def model_or_error(name: str) -> LanguageModel | None:
    """The model, or None after telling the person why it cannot be loaded."""
    try:
        return get_model(name)
    except ScopeError as exc:
        st.error(str(exc))
        return None


def trace_or_error(name: str, text: str, target: str | None = None) -> Trace | None:
    """The trace, or None after a clear message (empty text, missing model)."""
    if model_or_error(name) is None:
        return None
    try:
        trace = get_trace(name, text, target)
    except ScopeError as exc:
        st.info(str(exc))
        return None
    for note in trace.notes:
        st.warning(note)
    return trace


def device_label(lm: LanguageModel) -> str:
    return device_name(lm.device)
