"""Logit-lens figures: the top next token at every layer and position, one position's candidates across the
layers, and what each head and feed-forward block wrote toward the predicted token.

Pure: numbers and labels in, a Plotly figure out; token labels escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from . import palette
from .text import plotly_text

PROBABILITY_COLOURS = palette.SCREEN.weights  # a presenter's: palette.current()
CONTRIBUTION_COLOURS = "RdBu_r"
ATTENTION_COLOUR, FEED_FORWARD_COLOUR = "#1f77b4", "#ff7f0e"
CELL_CHARS = 8  # a cell shows this many characters of its token; hover shows it whole


def _short(label: str) -> str:
    return label if len(label) <= CELL_CHARS else label[: CELL_CHARS - 1] + "…"


def make_lens_grid_figure(top_labels, top_probs, position_labels: Sequence[str], decided, *, chosen: int | None = None,
                          title: str = "", _: Translate = identity) -> go.Figure:
    """Layers up, positions across: each cell the lens's most likely next token, coloured by its probability;
    a ring marks where each position's final prediction is decided."""
    probs = np.asarray(top_probs, dtype=np.float32)
    if probs.ndim != 2 or 0 in probs.shape:
        raise ValueError(f"top_probs must be (layers, positions), got shape {probs.shape}")
    layers, w = probs.shape
    labels = np.asarray(top_labels, dtype=object)
    decided = np.asarray(decided, dtype=np.int64)
    if labels.shape != probs.shape or len(position_labels) != w or decided.shape != (w,):
        raise ValueError("labels, positions and decided layers must match top_probs")
    columns = [f"{i}: {plotly_text(p)}" for i, p in enumerate(position_labels)]
    cells = [[plotly_text(_short(str(v))) for v in row] for row in labels]
    hover = [[[plotly_text(str(v))] for v in row] for row in labels]
    fig = go.Figure(go.Heatmap(
        z=probs, x=columns, y=np.arange(layers), zmin=0, zmax=1, colorscale=palette.current().weights,
        text=cells, texttemplate="%{text}", textfont=dict(size=10), customdata=hover,
        colorbar=dict(title=dict(text="p", side="right")),
        hovertemplate=_("after") + " %{x}<br>" + _("layer") + " %{y}: %{customdata[0]}<br>p = %{z:.4f}<extra></extra>",
    ))
    fig.add_trace(go.Scatter(x=columns, y=decided, mode="markers", name=_("decided"),
                             marker=dict(symbol="square-open", size=22, color="#d62728", line=dict(width=2)),
                             hovertemplate="%{x}<br>" + _("decided at layer") + " %{y}<extra></extra>"))
    if chosen is not None and 0 <= chosen < w:
        fig.add_vline(x=chosen, line=dict(color="#d62728", width=1, dash="dot"))
    fig.update_xaxes(type="category", tickangle=-45, automargin=True)
    fig.update_yaxes(title_text=_("layer (0: the embedding)"), dtick=1 if layers <= 32 else None)
    fig.update_layout(title=dict(text=plotly_text(title) or None), showlegend=False,
                      height=int(np.clip(120 + 22 * layers, 320, 900)), margin=dict(l=10, r=10, t=60, b=10))
    return fig


def make_candidate_lines_figure(probs, candidate_labels: Sequence[str], *, title: str = "",
                                _: Translate = identity) -> go.Figure:
    """(L + 1, C) probabilities: one line per candidate token across the layers."""
    values = np.asarray(probs, dtype=np.float32)
    if values.ndim != 2 or values.shape[1] != len(candidate_labels) or 0 in values.shape:
        raise ValueError("probs must be (layers, candidates) with a label per candidate")
    fig = go.Figure()
    for column, label in enumerate(candidate_labels):
        name = plotly_text(label)
        fig.add_trace(go.Scatter(x=np.arange(values.shape[0]), y=values[:, column], mode="lines+markers", name=name,
                                 hovertemplate=name + "<br>" + _("layer") + " %{x}: p = %{y:.4f}<extra></extra>"))
    fig.update_layout(title=dict(text=plotly_text(title) or None), height=380, xaxis_title=_("layer"),
                      yaxis=dict(title=_("probability of the next token"), range=[0, 1.02]),
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig


def make_logit_attribution_figure(heads, attention, feed_forward, *, title: str = "", _: Translate = identity) -> go.Figure:
    """Left: each head's direct contribution to the token's logit (layers up, heads across). Right: per layer,
    the attention's and the feed-forward's contributions as bars."""
    heads = np.asarray(heads, dtype=np.float32)
    attention, feed_forward = np.asarray(attention, dtype=np.float32), np.asarray(feed_forward, dtype=np.float32)
    if heads.ndim != 2 or 0 in heads.shape or attention.shape != (heads.shape[0],) or feed_forward.shape != attention.shape:
        raise ValueError("heads must be (layers, heads), attention and feed_forward one value per layer")
    layers = np.arange(heads.shape[0])
    limit = float(np.abs(heads).max()) or 1.0
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.45, 0.55], horizontal_spacing=0.04,
                        subplot_titles=(_("each head"), _("each sub-layer")))
    fig.add_trace(go.Heatmap(z=heads, x=np.arange(heads.shape[1]), y=layers, zmid=0, zmin=-limit, zmax=limit,
                             colorscale=CONTRIBUTION_COLOURS, colorbar=dict(x=0.43, len=0.8),
                             hovertemplate=_("layer") + " %{y}, " + _("head") + " %{x}: %{z:+.3f}<extra></extra>"),
                  row=1, col=1)
    for values, name, colour in ((attention, _("attention"), ATTENTION_COLOUR),
                                 (feed_forward, _("feed-forward"), FEED_FORWARD_COLOUR)):
        fig.add_trace(go.Bar(x=values, y=layers, orientation="h", name=name, marker_color=colour,
                             hovertemplate=name + ", " + _("layer") + " %{y}: %{x:+.3f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text=_("head"), row=1, col=1)
    fig.update_xaxes(title_text=_("contribution to the logit"), row=1, col=2)
    fig.update_yaxes(title_text=_("layer"), row=1, col=1)
    fig.update_layout(barmode="group", title=dict(text=plotly_text(title) or None),
                      height=int(np.clip(160 + 18 * heads.shape[0], 320, 900)),
                      legend=dict(orientation="h", y=-0.12), margin=dict(l=10, r=10, t=60, b=10))
    return fig
