"""Emergence: Conway's Game of Life, source article 001's picture of many simple units giving complex behaviour.
Four rules, a grid to edit, step and play; the rule engine is core/lessons/life.py."""

import streamlit as st

from viz import catalog, frame, state
from viz.views import emergence as views


def body(preset) -> None:
    pattern = views.pattern_picker()
    views.life_section(pattern)
    st.markdown(state.explain("emergence_why"))


frame.page(catalog.BY_ID["emergence"], body)
