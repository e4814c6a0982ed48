"""Compare-mode figures: two texts of a minimal pair, and what changed between them.

Pure functions (no Streamlit, no torch); every label is escaped, every visible word translated.
Text 1 is blue, text 2 orange, a change red (up) or blue (down) on a scale centred on zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ..i18n import Translate, identity
from .text import PERCENT_TICKS, checked_labels, plotly_text

FIRST_COLOUR, SECOND_COLOUR = "#1f77b4", "#ff7f0e"
DIFFERENCE_SCALE = "RdBu_r"  # blue: lower in text 2, red: higher
MASKED_COLOUR = "#9e9e9e"



def _vector(values, n: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"{what} must be ({n},), got {array.shape}")
    return array


def _title(title: str, subtitle: str = "") -> dict:
    return dict(text=plotly_text(title), subtitle=dict(text=plotly_text(subtitle)))


def make_attention_difference_figure(difference, query_labels: Sequence[str], key_labels: Sequence[str], *,
                                     highlight_row: int | None = None, title: str = "",
                                     _: Translate = identity) -> go.Figure:
    """Weight in text 2 minus weight in text 1 for aligned query/key pairs (NaN: masked in either, grey)."""
    d = np.asarray(difference, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"difference must be (A, B), got {d.shape}")
    ys, xs = checked_labels(query_labels, d.shape[0], "the query axis"), checked_labels(key_labels, d.shape[1], "the key axis")
    finite = d[np.isfinite(d)]
    bound = float(max(np.abs(finite).max(), 1e-6)) if finite.size else 1.0
    fig = go.Figure(go.Heatmap(
        z=d, x=xs, y=ys, zmin=-bound, zmax=bound, zmid=0, colorscale=DIFFERENCE_SCALE, name="difference",
        colorbar=dict(title=dict(text=plotly_text(_("text 2 − text 1")))), hoverongaps=False,
        hovertemplate=_("query") + " %{y}<br>" + _("key") + " %{x}<br>" + _("change") + " %{z:+.4f}<extra></extra>",
    ))
    if highlight_row is not None:
        fig.add_shape(type="rect", x0=-0.5, x1=d.shape[1] - 0.5, y0=highlight_row - 0.5, y1=highlight_row + 0.5,
                      line=dict(color="black", width=2))
    fig.update_xaxes(type="category", tickangle=-60, title_text=_("key (aligned tokens)"))
    fig.update_yaxes(type="category", autorange="reversed", title_text=_("query (aligned tokens)"))
    fig.update_layout(title=_title(title), plot_bgcolor=MASKED_COLOUR, height=max(320, 22 * d.shape[0] + 160),
                      margin=dict(l=10, r=10, t=70))
    return fig


def make_row_shift_figure(key_labels: Sequence[str], weights1, weights2, *, title: str = "", subtitle: str = "",
                          _: Translate = identity) -> go.Figure:
    """One query's weights over the aligned keys in both texts, bars side by side, and the change as markers."""
    keys = checked_labels(key_labels, len(key_labels), "the keys")
    w1, w2 = _vector(weights1, len(keys), "weights1"), _vector(weights2, len(keys), "weights2")
    change = w2 - w1
    fig = go.Figure()
    fig.add_trace(go.Bar(x=keys, y=w1, name=plotly_text(_("text 1")), marker_color=FIRST_COLOUR,
                         hovertemplate="%{x}: %{y:.4f}<extra>" + plotly_text(_("text 1")) + "</extra>"))
    fig.add_trace(go.Bar(x=keys, y=w2, name=plotly_text(_("text 2")), marker_color=SECOND_COLOUR,
                         hovertemplate="%{x}: %{y:.4f}<extra>" + plotly_text(_("text 2")) + "</extra>"))
    fig.add_trace(go.Scatter(x=keys, y=change, mode="markers", name=plotly_text(_("change")),
                             marker=dict(symbol="diamond", size=10, color="black"),
                             hovertemplate="%{x}: %{y:+.4f}<extra>" + plotly_text(_("change")) + "</extra>"))
    fig.add_hline(y=0, line_color="#666", line_width=1)
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_yaxes(title_text=_("weight"))
    fig.update_layout(title=_title(title, subtitle), barmode="group", height=360, margin=dict(l=10, r=10, t=80),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def make_distribution_shift_figure(labels: Sequence[str], p1, p2, *, title: str = "",
                                   _: Translate = identity) -> go.Figure:
    """The next-token probabilities of either text's top tokens, both texts side by side, the change in the hover
    and at the end of each pair of bars."""
    names = checked_labels(labels, len(labels), "the tokens")
    p1, p2 = _vector(p1, len(names), "p1"), _vector(p2, len(names), "p2")
    change = p2 - p1
    fig = go.Figure()
    for probs, name, colour in ((p1, _("text 1"), FIRST_COLOUR), (p2, _("text 2"), SECOND_COLOUR)):
        fig.add_trace(go.Bar(y=names, x=probs, orientation="h", name=plotly_text(name), marker_color=colour,
                             customdata=change,
                             hovertemplate="%{y}: p = %{x:.4f}<br>" + _("change") + " %{customdata:+.4f}<extra>"
                             + plotly_text(name) + "</extra>"))
    fig.add_trace(go.Scatter(y=names, x=np.maximum(p1, p2), mode="text", showlegend=False, hoverinfo="skip",
                             text=[f"  {c:+.3f}" for c in change], textposition="middle right",
                             name=plotly_text(_("change"))))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(title_text=_("probability"), range=[0, min(1.0, float(max(p1.max(initial=0), p2.max(initial=0)))
                                                                * 1.25 + 0.02)], **PERCENT_TICKS)
    fig.update_layout(title=_title(title), barmode="group", height=max(320, 44 * len(names) + 120),
                      margin=dict(l=10, r=10, t=70),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def make_lens_pair_figure(p1, p2, labels1: Sequence[str], labels2: Sequence[str], *, title: str = "",
                          _: Translate = identity) -> go.Figure:
    """The top prediction's probability at every layer for the last position of each text, each point labelled
    with that layer's top token."""
    layers = len(labels1)
    p1, p2 = _vector(p1, layers, "p1"), _vector(p2, len(labels2), "p2")
    tokens1, tokens2 = checked_labels(labels1, layers, "text 1's layers"), checked_labels(labels2, len(p2), "text 2's layers")
    fig = go.Figure()
    for probs, tokens, name, colour in ((p1, tokens1, _("text 1"), FIRST_COLOUR),
                                        (p2, tokens2, _("text 2"), SECOND_COLOUR)):
        fig.add_trace(go.Scatter(x=np.arange(len(probs)), y=probs, mode="lines+markers+text", text=tokens,
                                 textposition="top center", name=plotly_text(name), line=dict(color=colour),
                                 hovertemplate=_("layer") + " %{x}: %{text} (p = %{y:.3f})<extra>"
                                 + plotly_text(name) + "</extra>"))
    fig.update_xaxes(title_text=_("layer (0 = the embeddings)"), dtick=1 if layers <= 32 else None)
    fig.update_yaxes(title_text=_("probability of the top token"), range=[0, 1.1])
    fig.update_layout(title=_title(title), height=380, margin=dict(l=10, r=10, t=70),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig
