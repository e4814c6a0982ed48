"""Multi-head figures: how query heads share key/value heads (grouped-query attention), the next-token
distribution with and without heads switched off, and a later layer's attention beside the plain run's.

Numbers arrive computed (core/lessons/ablation.py); these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from . import palette
from .attention import MASKED_COLOUR
from .text import PERCENT_TICKS, checked_labels, numbered_repeats

QUERY_COLOUR, KV_COLOUR, OFF_COLOUR = "#3182bd", "#31a354", "#d62728"
PLAIN_COLOUR, ABLATED_COLOUR = "#6baed6", "#fd8d3c"


def make_head_sharing_figure(n_heads: int, n_kv_heads: int, head_dim: int, *, off: Sequence[int] = (),
                             _: Translate = identity) -> go.Figure:
    """Query heads on top, key/value heads below, a line from each query head to the key/value head it reads
    (head h reads h // (n_heads / n_kv_heads)); heads switched off drawn red."""
    if n_heads < 1 or n_kv_heads < 1 or n_heads % n_kv_heads:
        raise ValueError(f"{n_heads} query heads cannot share {n_kv_heads} key/value heads evenly")
    groups = n_heads // n_kv_heads
    off = set(off)
    qx = np.arange(n_heads, dtype=np.float64)
    kvx = np.array([(k * groups + (groups - 1) / 2) for k in range(n_kv_heads)])
    fig = go.Figure()
    xs, ys = [], []
    for h in range(n_heads):
        xs += [qx[h], kvx[h // groups], None]
        ys += [1.0, 0.0, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=MASKED_COLOUR, width=1.5), hoverinfo="skip",
                             showlegend=False))
    fig.add_trace(go.Scatter(
        x=qx, y=np.ones(n_heads), mode="markers+text", name=_("query heads"),
        marker=dict(symbol="square", size=26, color=[OFF_COLOUR if h in off else QUERY_COLOUR for h in range(n_heads)]),
        text=[f"Q{h}" for h in range(n_heads)], textposition="top center",
        hovertemplate=_("query head {head}: {size} numbers per token").format(head="%{x}", size=head_dim)
        + "<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=kvx, y=np.zeros(n_kv_heads), mode="markers+text", name=_("key/value heads"),
        marker=dict(symbol="square", size=26, color=KV_COLOUR), text=[f"K{k} V{k}" for k in range(n_kv_heads)],
        textposition="bottom center", hoverinfo="skip"))
    fig.update_xaxes(visible=False, range=[-1, n_heads])
    fig.update_yaxes(visible=False, range=[-0.6, 1.6])
    # The legend under the heads: above them it ran into the title.
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", x=0, y=0, yanchor="top"),
                      title=_("{q} query heads read {kv} key/value heads: {g} query heads share each").format(
                          q=n_heads, kv=n_kv_heads, g=groups))
    return fig


def make_ablation_distribution_figure(labels: Sequence[str], plain, ablated, *,
                                      _: Translate = identity) -> go.Figure:
    """Next-token probabilities of the same candidate tokens, plain run against heads switched off."""
    plain, ablated = np.asarray(plain, dtype=np.float32), np.asarray(ablated, dtype=np.float32)
    if plain.ndim != 1 or plain.shape != ablated.shape:
        raise ValueError("plain and ablated are (n,) each")
    ys = numbered_repeats(checked_labels(labels, plain.shape[0], "the tokens"))
    fig = go.Figure()
    fig.add_trace(go.Bar(y=ys, x=plain, orientation="h", name=_("plain run"), marker_color=PLAIN_COLOUR,
                         hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    fig.add_trace(go.Bar(y=ys, x=ablated, orientation="h", name=_("heads switched off"), marker_color=ABLATED_COLOUR,
                         hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(title=_("probability of the next token"), **PERCENT_TICKS)
    fig.update_layout(barmode="group", height=max(260, 34 * len(ys) + 80), margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=1.08))
    return fig


def make_ablation_attention_figure(plain, ablated, key_labels: Sequence[str], *,
                                   _: Translate = identity) -> go.Figure:
    """One query's attention in every head of a later layer: plain run, heads switched off, and the
    difference (heads on y, keys on x)."""
    plain, ablated = np.asarray(plain, dtype=np.float32), np.asarray(ablated, dtype=np.float32)
    if plain.ndim != 2 or plain.shape != ablated.shape:
        raise ValueError("plain and ablated are (heads, S) each")
    xs = numbered_repeats(checked_labels(key_labels, plain.shape[1], "the keys"))
    ys = [_("head {head}").format(head=h) for h in range(plain.shape[0])]
    diff = ablated - plain
    reach = max(float(np.abs(diff).max()), 1e-6)
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=(_("plain run"), _("heads switched off"), _("difference")))
    weights = palette.current().weights
    for col, values, scale, low, high in ((1, plain, weights, 0, 1), (2, ablated, weights, 0, 1),
                                          (3, diff, "RdBu_r", -reach, reach)):
        fig.add_trace(go.Heatmap(z=values, x=xs, y=ys, colorscale=scale, zmin=low, zmax=high, showscale=False,
                                 hovertemplate="%{y} · %{x}: %{z:.4f}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(height=max(260, 22 * len(ys) + 140), margin=dict(l=10, r=10, t=40, b=10))
    return fig
