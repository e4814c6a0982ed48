"""Finding models by what they are (their architecture, their positions, their tokenizer), never by name, and the
layer and head sliders pages share."""

from __future__ import annotations

import streamlit as st

from core import MODELS, ScopeError, model_shape, spec_of
from viz import state
from viz.glossary import NUMBERED_FROM_ZERO
from viz.loading import tokenizer_or_error
from viz.state import _


def models_where(test, preferred: str | None = None) -> list[str]:
    """Installed models whose config passes `test`: the chosen one first, then trained ones, in registry order."""
    names = sorted(MODELS, key=lambda name: (name != preferred, not spec_of(name).trained))
    found = []
    for name in names:
        if not spec_of(name).available():
            continue
        try:
            config = model_shape(name)[0]
        except ScopeError:
            continue
        if test(config):
            found.append(name)
    return found


def tokenizer_models() -> list[str]:
    """One trained model per kind of tokenizer, in registry order: the tokenizers worth comparing."""
    names, kinds = [], set()
    for name, spec in MODELS.items():
        if spec.trained and spec.available():
            read = tokenizer_or_error(name)
            if read is not None and read.tokenizer.kind not in kinds:
                kinds.add(read.tokenizer.kind)
                names.append(name)
    return names


def index_slider(label: str, key: str, count: int, scope: str) -> int:
    """A layer or head slider bound to the URL, its value clamped for this model first (`state.index`)."""
    value = state.index(key, count, scope)
    if count == 1:
        return value
    return st.slider(label, 0, count - 1, key=key, bind="query-params", help=_(NUMBERED_FROM_ZERO))


def layer_and_head(name: str, config) -> tuple[int, int]:
    """A layer slider and a head slider side by side, for pages that study one real head of `name`."""
    left, right = st.columns(2)
    with left:
        layer = index_slider(_("Layer"), state.LAYER, config.n_layers, name)
    with right:
        head = index_slider(_("Head"), state.HEAD, config.n_heads, name)
    return layer, head
