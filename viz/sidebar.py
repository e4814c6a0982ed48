"""The sidebar every page shares: model picker, device, and the text being studied."""

from __future__ import annotations

import streamlit as st

from core import MODELS, ScopeError, available_models
from core.registry import model_shape

from . import state
from .loading import device_label, model_or_error


def model_summary(config, n_params: int) -> str:
    kind = {"encoder": "encoder", "decoder": "decoder", "encoder-decoder": "encoder–decoder"}[config.architecture]
    heads = f"{config.n_heads} heads" + (f" ({config.kv_heads} K/V)" if config.kv_heads != config.n_heads else "")
    return f"{kind} · {config.n_layers} layers · {heads} · d_model {config.d_model} · {n_params / 1e6:,.1f} M parameters"


def _model_line(name: str) -> str:
    try:
        return f"**{name}** — {MODELS[name].title}: {model_summary(*model_shape(name))}"
    except ScopeError:
        return f"**{name}** — {MODELS[name].title}: not installed (`{MODELS[name].install_hint}`)"


def _model_table() -> None:
    with st.expander("The models, side by side"):
        st.markdown("\n".join(f"- {_model_line(name)}" for name in MODELS))


def render() -> None:
    installed = available_models()
    with st.sidebar:
        st.selectbox(
            "Model",
            options=list(MODELS),
            # A preset may have set the model already; a default beside it would make Streamlit warn.
            index=None if state.MODEL_KEY in st.session_state else list(MODELS).index(state.default_model()),
            key=state.MODEL_KEY,
            bind="query-params",
        )
        # The option itself is the model's short name: a bound widget writes it into the URL as shown.
        name = state.model_name()
        st.caption(MODELS[name].title + ("" if installed[name] else " — not installed"))
        lm = model_or_error(name)
        if lm is not None:
            st.caption(f"{model_summary(lm.config, lm.info.n_params)}  \nRuns on **{device_label(lm)}** in {lm.info.dtype}.")
        _model_table()
        st.text_area(
            "Text",
            value=None if state.TEXT_KEY in st.session_state else state.DEFAULT_TEXT,
            max_chars=state.MAX_TEXT_CHARS,
            key=state.TEXT_KEY,
            bind="query-params",
            help="Every page studies this text. Press Ctrl+Enter to apply.",
        )
