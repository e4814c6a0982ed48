"""The Game of Life page's widgets: the pattern, the grid a person edits, step and play.

The session keeps the grid as last set by a button or a pattern (the editor's base) and a version number:
the editor is keyed by the version, so after a step it starts again from the new grid, while clicks in the
grid are the editor's own edits on top of its base.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.lessons import life
from viz import export, state
from viz.figures.life import make_life_figure
from viz.state import _

SIDE = 16  # the grid is SIDE x SIDE, its edges joined (a torus): a glider flies on for ever
DEFAULT_PATTERN = "glider"
BASE, VERSION, FROM, GENERATION, SOUPS = "_life_base", "_life_version", "_life_from", "_life_generation", "_life_soups"
PLAY_GENERATIONS, SPEED = "life_play", "life_speed"
ROW_PX = 35  # the data editor's row height


def pattern_picker() -> str:
    """The pattern (in the URL by its id); choosing one puts it on an empty grid."""
    options = list(life.PATTERNS)
    state.settle_choice(state.PATTERN, options, DEFAULT_PATTERN)
    chosen = st.radio(_("Start from"), options, key=state.PATTERN, horizontal=True,
                      format_func=lambda p, t=state.translator(): f"{t(life.PATTERNS[p].label)} ({t(life.PATTERNS[p].kind)})")
    state.link(state.PATTERN, chosen, DEFAULT_PATTERN)
    if st.session_state.get(FROM) != chosen:
        _set_grid(life.place(life.PATTERNS[chosen], (SIDE, SIDE)), generation=0)
        st.session_state[FROM] = chosen
    return chosen


def _set_grid(grid: np.ndarray, generation: int) -> None:
    st.session_state[BASE] = np.asarray(grid, dtype=bool).copy()
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1
    st.session_state[GENERATION] = generation


def _editable_grid() -> np.ndarray:
    """The grid as ticks that a person can click; returns the grid with their clicks."""
    base = st.session_state[BASE]
    columns = [str(i + 1) for i in range(base.shape[1])]
    edited = st.data_editor(
        pd.DataFrame(base, columns=columns), key=f"_life_editor_{st.session_state[VERSION]}", hide_index=True,
        # No text in the headers, only the editable mark: a number beside it needs more width than a cell has
        # on a projector (10–16 would be cut to "1").
        column_config={c: st.column_config.CheckboxColumn(" ", width=28) for c in columns}, num_rows="fixed",
        height=ROW_PX * (base.shape[0] + 1) + 3,  # every row, no scrolling
    )
    return edited.to_numpy(dtype=bool)


def life_section(pattern: str) -> None:
    controls = st.container(horizontal=True, vertical_alignment="bottom")
    edit_column, play_column = st.columns([6, 5])  # the grid of ticks needs its width
    with edit_column:
        st.subheader(_("The grid: click a cell to change it"))
        grid = _editable_grid()
    generation = st.session_state[GENERATION]
    with play_column:
        st.subheader(_("Play the next generations"))
        row = st.container(horizontal=True)
        count = row.slider(_("Generations"), 10, 200, 60, step=10, key=PLAY_GENERATIONS)
        speed = row.slider(_("Speed (generations a second)"), 1, 20, 4, key=SPEED)
        frames = life.run(grid, count, wrap=True)
        export.chart(make_life_figure(frames, generation, round(1000 / speed), _=_), key="life_figure",
                        config={"displayModeBar": False})
    with controls:
        st.metric(_("Generation"), generation, width="content")
        st.metric(_("Live cells"), int(grid.sum()), width="content")
        if st.button("⏭ " + _("Step"), help=_("Apply the four rules once to every cell at the same time")):
            _set_grid(life.step(grid, wrap=True), generation + 1)
            st.rerun()
        if st.button("⏩ " + _("Jump {count} generations").format(count=count)):
            _set_grid(frames[-1], generation + count)
            st.rerun()
        if st.button("↺ " + _("Start again")):
            _set_grid(life.place(life.PATTERNS[pattern], (SIDE, SIDE)), 0)
            st.rerun()
        if st.button("🎲 " + _("Random cells")):
            soups = st.session_state.get(SOUPS, 0)
            st.session_state[SOUPS] = soups + 1
            _set_grid(np.random.default_rng(soups).random((SIDE, SIDE)) < 0.3, 0)
            st.rerun()
        if st.button("⌫ " + _("Clear")):
            _set_grid(np.zeros((SIDE, SIDE), dtype=bool), 0)
            st.rerun()
    still = life.period(grid, limit=1, wrap=True) == 1
    if not grid.any():
        st.caption(_("An empty grid stays empty: click cells to bring some to life."))
    elif still:
        st.caption(_("A still life: every live cell has two or three live neighbours, and no dead cell has three."))
    st.caption(_("The grid's edges are joined: what leaves on the right comes back on the left, and the bottom "
                 "touches the top."))
