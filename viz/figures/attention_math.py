"""Figures of self-attention step by step: a matrix of one stage with its numbers, how a query's output mixes
the value rows, and source article 002's row of Q Kᵀ through softmax with and without ÷ √d_k.

Numbers arrive computed (core/lessons/attention_steps.py); these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from . import palette
from .attention import CURRENT_COLOUR, MASKED_COLOUR
from .text import LOG_TICKS, checked_labels, numbered_repeats

CELL_TEXT_MAX = 12  # more rows or columns than this: no number written in each cell
WEIGHT_COLOUR, VALUE_COLOUR, CLAIM_COLOUR = "#3182bd", "#31a354", "#d62728"




def make_step_matrix_figure(values, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str = "",
                            highlight_row: int | None = None, probabilities: bool = False,
                            _: Translate = identity) -> go.Figure:
    """One stage as a heat map with its numbers: rows are tokens, columns keys or dimensions; −∞ (a masked
    score) is drawn grey. `probabilities` colours 0 – 1; else a diverging scale centred on 0."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"a stage is a matrix, got shape {values.shape}")
    n, m = values.shape
    ys = numbered_repeats(checked_labels(row_labels, n, "the rows"))
    xs = numbered_repeats(checked_labels(col_labels, m, "the columns"))
    finite = np.isfinite(values)
    shown = np.where(finite, values, np.nan).astype(np.float32)
    if probabilities:
        scale, low, high = palette.current().weights, 0.0, 1.0
    else:
        reach = float(np.nanmax(np.abs(shown))) if finite.any() else 1.0
        scale, low, high = "RdBu_r", -max(reach, 1e-9), max(reach, 1e-9)
    words = np.where(finite, np.char.mod("%.2f", np.where(finite, values, 0.0)), "−∞")
    fig = go.Figure(go.Heatmap(
        z=shown, x=xs, y=ys, colorscale=scale, zmin=low, zmax=high, showscale=False,
        text=words if max(n, m) <= CELL_TEXT_MAX else None, texttemplate="%{text}" if max(n, m) <= CELL_TEXT_MAX
        else None, customdata=words, hovertemplate="%{y} · %{x}: %{customdata}<extra></extra>",
    ))
    if (~finite).any():
        fig.add_trace(go.Heatmap(z=np.where(finite, np.nan, 1.0).astype(np.float32), x=xs, y=ys, showscale=False,
                                 colorscale=[[0, MASKED_COLOUR], [1, MASKED_COLOUR]], name=_("masked"),
                                 text=np.where(finite, "", "−∞"), texttemplate="%{text}", hoverinfo="skip"))
    if highlight_row is not None:
        if not 0 <= highlight_row < n:
            raise ValueError(f"row {highlight_row} is outside 0..{n - 1}")
        fig.add_shape(type="rect", x0=-0.5, x1=m - 0.5, y0=highlight_row - 0.5, y1=highlight_row + 0.5,
                      line=dict(color=CURRENT_COLOUR, width=3))
    fig.update_xaxes(type="category", side="top")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title=title, height=max(160, 40 * n + 90), margin=dict(l=10, r=10, t=70, b=10))
    return fig


def make_value_mix_figure(weights, contributions, key_labels: Sequence[str], *, allowed=None,
                          _: Translate = identity) -> go.Figure:
    """One query's output as a mix of the value rows: the weight on each key, and the length of what
    its value row adds to the output (‖weight · v‖)."""
    weights = np.asarray(weights, dtype=np.float64)
    contributions = np.asarray(contributions, dtype=np.float64)
    if weights.ndim != 1 or contributions.shape[0] != weights.shape[0]:
        raise ValueError("weights (S,) and contributions (S, d) must agree")
    s = weights.shape[0]
    xs = numbered_repeats(checked_labels(key_labels, s, "the keys"))
    ok = np.ones(s, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(_("weight on each key"), _("‖weight × value row‖")))
    colours = [WEIGHT_COLOUR if a else MASKED_COLOUR for a in ok]
    fig.add_trace(go.Bar(x=xs, y=weights.astype(np.float32), marker_color=colours, name=_("weight"),
                         hovertemplate="%{x}: %{y:.4f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=xs, y=np.linalg.norm(contributions, axis=1).astype(np.float32), marker_color=VALUE_COLOUR,
                         name=_("contribution"), hovertemplate="%{x}: %{y:.4f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_layout(showlegend=False, height=320, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def make_scaling_figure(row, plain, scaled, d_ks: Sequence[int], *, claim=None,
                        _: Translate = identity) -> go.Figure:
    """The softmax of a row of Q Kᵀ as it is and divided by √d_k for each d_k (one group of bars per key,
    log scale, so that 2·10⁻⁹ shows), beside the source article's claimed weights."""
    row, plain, scaled = (np.asarray(a, dtype=np.float64) for a in (row, plain, scaled))
    if plain.shape != row.shape or scaled.shape != (len(d_ks), row.shape[0]):
        raise ValueError("plain is (n,), scaled (len(d_ks), n)")
    xs = [_("score {value:g}").format(value=value) for value in row]
    fig = go.Figure(go.Bar(x=xs, y=plain.astype(np.float32), name=_("softmax(row)"),
                           hovertemplate="%{x}: %{y:.3g}<extra></extra>"))
    for d_k, probs in zip(d_ks, scaled):
        fig.add_trace(go.Bar(x=xs, y=probs.astype(np.float32), name=_("softmax(row ÷ √{d_k})").format(d_k=d_k),
                             hovertemplate="%{x}: %{y:.3g}<extra></extra>"))
    if claim is not None:
        fig.add_trace(go.Scatter(x=xs, y=np.asarray(claim, dtype=np.float32), mode="markers",
                                 marker=dict(symbol="x", size=12, color=CLAIM_COLOUR), name=_("the source article's numbers")))
    fig.update_yaxes(**LOG_TICKS, title=_("weight (log scale)"), range=[-10, 0.1])
    fig.update_layout(barmode="group", height=380, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=-0.15))
    return fig
