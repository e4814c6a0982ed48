"""Positional-encoding figures: a table of position vectors as a heat map, chosen dimensions as waves,
position-to-position similarity, curves along the offset between two positions, and RoPE's rotating pairs.

Numbers arrive computed (core/lessons/position_experiments.py); these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from .text import plotly_text

DIVERGING = "RdBu_r"
WAVE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _table(table, what: str = "table") -> np.ndarray:
    table = np.asarray(table, dtype=np.float32)
    if table.ndim != 2 or 0 in table.shape:
        raise ValueError(f"{what} must be a non-empty 2-D array, got shape {table.shape}")
    return table


def _symmetric_range(z: np.ndarray) -> float:
    """A colour range ±r covering 99% of the values: a learned table has a few large entries that would
    otherwise wash every other cell out to white (hover still shows each true value)."""
    finite = np.abs(z[np.isfinite(z)])
    bound = float(np.percentile(finite, 99)) if finite.size else 0.0
    return bound if bound > 0 else 1.0


def make_position_table_figure(table, *, title: str = "", _: Translate = identity) -> go.Figure:
    """Positions on y, dimensions on x, each cell one number of a position's vector (red +, blue −)."""
    table = _table(table)
    bound = _symmetric_range(table)
    fig = go.Figure(go.Heatmap(
        z=table, zmin=-bound, zmax=bound, colorscale=DIVERGING, name="table",
        hovertemplate=_("position") + " %{y}<br>" + _("dimension") + " %{x}<br>" + _("value") + " %{z:.4f}"
                      "<extra></extra>",
    ))
    fig.update_xaxes(title_text=_("dimension"))
    fig.update_yaxes(title_text=_("position"), autorange="reversed")
    fig.update_layout(title=plotly_text(title) or None, height=420, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def make_sinusoid_waves_figure(table, dims: Sequence[int], periods, *, title: str = "",
                               _: Translate = identity) -> go.Figure:
    """Chosen columns of a sinusoidal table as waves along the positions: even dimensions are sines,
    odd ones cosines, and each pair's wave is slower than the last."""
    table = _table(table)
    periods = np.asarray(periods, dtype=np.float64)
    if periods.shape != (table.shape[1],):
        raise ValueError(f"periods needs one entry per dimension ({table.shape[1]}), got {periods.shape}")
    positions = np.arange(table.shape[0])
    fig = go.Figure()
    for index, dim in enumerate(dims):
        if not 0 <= dim < table.shape[1]:
            raise ValueError(f"dimension {dim} is outside 0..{table.shape[1] - 1}")
        kind = "sin" if dim % 2 == 0 else "cos"
        name = _("dimension {dim}: {kind}, one turn every {period:,.1f} positions").format(
            dim=dim, kind=kind, period=periods[dim])
        fig.add_trace(go.Scatter(x=positions, y=table[:, dim], mode="lines+markers" if len(positions) <= 64 else "lines",
                                 name=plotly_text(name), line=dict(color=WAVE_COLOURS[index % len(WAVE_COLOURS)]),
                                 marker=dict(size=4),
                                 hovertemplate=_("position") + " %{x}<br>" + _("value") + " %{y:.4f}<extra></extra>"))
    fig.update_xaxes(title_text=_("position (pos)"))
    fig.update_yaxes(title_text="PE(pos, ·)", range=[-1.1, 1.1])
    fig.update_layout(title=plotly_text(title) or None, height=380, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def make_position_similarity_figure(matrix, *, title: str = "", measure: str = "dot",
                                    _: Translate = identity) -> go.Figure:
    """A (P, P) matrix of one position's vector against another's: `measure` "dot" or "cosine"."""
    matrix = _table(matrix, "the matrix")
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"the matrix must be square, got {matrix.shape}")
    names = {"dot": _("dot product"), "cosine": _("cosine similarity")}
    if measure not in names:
        raise ValueError(f"measure must be one of {list(names)}, got {measure!r}")
    bound = 1.0 if measure == "cosine" else _symmetric_range(matrix)
    fig = go.Figure(go.Heatmap(
        z=matrix, zmin=-bound, zmax=bound, colorscale=DIVERGING, name=measure,
        colorbar=dict(title=dict(text=names[measure], side="right")),
        hovertemplate=_("position") + " %{y} · " + _("position") + " %{x}<br>" + names[measure]
                      + " %{z:.4f}<extra></extra>",
    ))
    fig.update_xaxes(title_text=_("position"), constrain="domain")
    fig.update_yaxes(title_text=_("position"), autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(title=plotly_text(title) or None, height=440, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def make_offset_curves_figure(offsets, curves, names: Sequence[str], *, title: str = "", x_title: str = "",
                              y_title: str = "", points=None, point_labels: Sequence[str] = (),
                              _: Translate = identity) -> go.Figure:
    """One line per row of `curves` (n, K) along `offsets` (K,): a value as a function of the distance
    between two positions. `points` (m, 2), optional, marks measured values (x = offset, y = value)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[1] != len(offsets) or len(names) != len(curves):
        raise ValueError(f"curves must be (n, {len(offsets)}) with a name each, got {curves.shape}, {len(names)} names")
    fig = go.Figure()
    for index, (curve, name) in enumerate(zip(curves, names)):
        fig.add_trace(go.Scatter(x=offsets, y=curve, mode="lines", name=plotly_text(name),
                                 line=dict(color=WAVE_COLOURS[index % len(WAVE_COLOURS)], width=3 - min(index, 2) * 0.7,
                                           dash=("solid", "dash", "dot", "dashdot")[index % 4]),
                                 hovertemplate="%{x}: %{y:.4f}<extra>" + plotly_text(name) + "</extra>"))
    if points is not None:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(point_labels) != len(points):
            raise ValueError(f"points must be (m, 2) with a label each, got {points.shape}, {len(point_labels)} labels")
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=_("recorded by the model"),
                                 marker=dict(size=11, symbol="circle-open", line=dict(width=2), color="#000000"),
                                 text=[plotly_text(label) for label in point_labels],
                                 hovertemplate="%{text}<br>%{x}: %{y:.4f}<extra></extra>"))
    fig.update_xaxes(title_text=plotly_text(x_title))
    fig.update_yaxes(title_text=plotly_text(y_title))
    fig.update_layout(title=plotly_text(title) or None, height=380, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


ROTATION_COLOURS = ("#1f77b4", "#d62728")  # the query, the key


def make_rope_rotation_figure(paths, pair_titles: Sequence[str], *, key_paths=None, title: str = "",
                              _: Translate = identity) -> go.Figure:
    """One panel per pair of dimensions: the pair's 2-D point at each position (numbered), turning on a
    circle. `paths` is (pairs, P, 2) for a query; `key_paths`, the same shape, for a key turning beside it:
    at equal positions the angle between the two never changes."""
    paths = np.asarray(paths, dtype=np.float64)
    if paths.ndim != 3 or paths.shape[2] != 2 or len(pair_titles) != len(paths) or not len(paths):
        raise ValueError(f"paths must be (pairs, P, 2) with a title each, got {paths.shape}, {len(pair_titles)} titles")
    drawn = [(paths, _("query"))]
    if key_paths is not None:
        key_paths = np.asarray(key_paths, dtype=np.float64)
        if key_paths.shape != paths.shape:
            raise ValueError(f"key_paths must have the shape of paths {paths.shape}, got {key_paths.shape}")
        drawn.append((key_paths, _("key")))
    fig = make_subplots(rows=1, cols=len(paths), subplot_titles=[plotly_text(t) for t in pair_titles],
                        horizontal_spacing=0.06)
    circle = np.linspace(0, 2 * np.pi, 121)
    for col in range(1, len(paths) + 1):
        for index, (stack, name) in enumerate(drawn):
            path = stack[col - 1]
            radius = float(np.hypot(path[0, 0], path[0, 1]))
            fig.add_trace(go.Scatter(x=radius * np.cos(circle), y=radius * np.sin(circle), mode="lines",
                                     hoverinfo="skip", line=dict(color="#dddddd", width=1), showlegend=False,
                                     name="circle"), row=1, col=col)
            labels = [str(p) for p in range(len(path))]
            fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers+text", text=labels,
                                     textposition="top center", name=plotly_text(name), legendgroup=name,
                                     showlegend=col == 1, marker=dict(size=7, color=ROTATION_COLOURS[index]),
                                     line=dict(color=ROTATION_COLOURS[index], width=1),
                                     hovertemplate=plotly_text(name) + ", " + _("position")
                                     + " %{text}<br>(%{x:.3f}, %{y:.3f})<extra></extra>"), row=1, col=col)
        axis = "" if col == 1 else str(col)
        fig.update_yaxes(scaleanchor=f"x{axis}", row=1, col=col)
    fig.update_layout(title=plotly_text(title) or None, height=400, margin=dict(l=10, r=10, t=80, b=10),
                      plot_bgcolor="white", legend=dict(orientation="h", y=-0.15))
    return fig
