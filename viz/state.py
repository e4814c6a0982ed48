"""Session state and URL query parameters: the one place that names and validates them.

The sidebar's model and text are widgets bound to the URL, so a teacher's link
opens the same model on the same sentence for a student at home. Pages read
them through the helpers here rather than from st.session_state directly.
"""

from __future__ import annotations

import streamlit as st

from core import MODELS, available_models

MODEL_KEY = "model"
TEXT_KEY = "text"
DEFAULT_TEXT = "The animal didn't cross the street because it was too tired"
MAX_TEXT_CHARS = 2_000  # a page studies a sentence or a paragraph; the URL carries it


def default_model() -> str:
    installed = [name for name, ok in available_models().items() if ok]
    for preferred in ("smollm2-135m", "minilm-l6"):
        if preferred in installed:
            return preferred
    return installed[0] if installed else next(iter(MODELS))


def model_name() -> str:
    name = st.session_state.get(MODEL_KEY)
    return name if name in MODELS else default_model()


def text() -> str:
    value = st.session_state.get(TEXT_KEY)
    return DEFAULT_TEXT if value is None else str(value)


def set_text(value: str) -> None:
    """For presets: callbacks may set a bound widget's value before it is drawn."""
    st.session_state[TEXT_KEY] = value[:MAX_TEXT_CHARS]


def set_model(name: str) -> None:
    if name in MODELS:
        st.session_state[MODEL_KEY] = name


def int_param(key: str, upper: int, default: int = 0) -> int:
    """An integer query parameter such as ?layer=3, clamped to [0, upper); junk gives the default."""
    raw = st.query_params.get(key)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return min(max(value, 0), max(upper - 1, 0))
