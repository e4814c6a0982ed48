"""The Game of Life as an animation: the grid, then one frame per generation, with Plotly's own play and
pause buttons and a slider over the generations (the numbers come from core/lessons/life.py)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..i18n import Translate, identity

LIVE_COLOUR = "#1f3b73"
DEAD_COLOUR = "#f4f4f4"
GRID_COLOUR = "#d0d0d0"
FRAME_MS_RANGE = (30, 3000)


def make_life_figure(frames, first_generation: int = 0, frame_ms: int = 300, _: Translate = identity) -> go.Figure:
    """frames (G, H, W) bool, generation `first_generation` first; `frame_ms` milliseconds a generation."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or 0 in frames.shape:
        raise ValueError(f"frames must be a non-empty (generations, height, width) array, got {frames.shape}")
    if not FRAME_MS_RANGE[0] <= frame_ms <= FRAME_MS_RANGE[1]:
        raise ValueError(f"frame_ms must be {FRAME_MS_RANGE[0]}–{FRAME_MS_RANGE[1]}, got {frame_ms}")
    cells = frames.astype(bool).astype(np.int8)  # a new array: the input stays as it was
    generations, height, width = cells.shape
    live, dead = _("live"), _("dead")
    hover = _("row {row}, column {column}").format(row="%{y}", column="%{x}") + ": %{customdata}<extra></extra>"

    def heatmap(grid: np.ndarray) -> go.Heatmap:
        return go.Heatmap(z=grid, zmin=0, zmax=1, colorscale=[[0, DEAD_COLOUR], [1, LIVE_COLOUR]], showscale=False,
                          xgap=1, ygap=1, customdata=np.where(grid == 1, live, dead), hovertemplate=hover)

    names = [str(first_generation + g) for g in range(generations)]
    population = cells.reshape(generations, -1).sum(axis=1)

    def title(g: int) -> str:
        return _("Generation {generation} · {count} live cells").format(generation=names[g], count=int(population[g]))

    fig = go.Figure(
        data=[heatmap(cells[0])],
        frames=[go.Frame(data=[heatmap(cells[g])], name=names[g], layout=go.Layout(title_text=title(g)))
                for g in range(generations)],
    )
    timing = {"frame": {"duration": frame_ms, "redraw": True}, "transition": {"duration": 0}}
    fig.update_layout(
        title_text=title(0),
        plot_bgcolor=GRID_COLOUR,
        height=min(800, max(400, 24 * height + 220)),
        margin=dict(l=30, r=10, t=50, b=110),  # the play buttons, and the slider under them
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.02, xanchor="left", yanchor="top", showactive=False,
                          buttons=[dict(label="▶ " + _("Play"), method="animate",
                                        args=[None, {**timing, "fromcurrent": True, "mode": "immediate"}]),
                                   dict(label="⏸ " + _("Pause"), method="animate",
                                        args=[[None], {**timing, "mode": "immediate"}])])],
        sliders=[dict(active=0, x=0, len=1, y=-0.02, yanchor="top", pad=dict(t=50),
                      currentvalue=dict(prefix=_("Generation") + " "),
                      steps=[dict(label=name, method="animate",
                                  args=[[name], {**timing, "mode": "immediate"}]) for name in names])],
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, range=[-0.5, width - 0.5], constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, range=[height - 0.5, -0.5],
                     scaleanchor="x", scaleratio=1, constrain="domain")  # a taller figure: margins, not grey rows
    return fig
