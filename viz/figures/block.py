"""Inside-a-block figures: the residual stream's norm per token and layer, what each sub-layer added, a vector's
values before and after a norm, and a feed-forward's hidden units.

Pure: numbers in, a Plotly figure out; labels escaped (Plotly reads a few HTML tags in text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from .text import plotly_text, token_axis_title

STREAM_COLOURS = "Viridis"
ATTENTION_COLOUR, FEED_FORWARD_COLOUR, CROSS_COLOUR, STREAM_COLOUR = "#1f77b4", "#ff7f0e", "#2ca02c", "#6a51a3"
HISTOGRAM_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
UNIT_COLOUR, TOP_COLOUR = "#9ecae1", "#d62728"
AXIS_LABELS_MAX = 40


def _matrix(values, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{what} must be a non-empty matrix, got shape {array.shape}")
    return array


def make_residual_norm_figure(norms, labels: Sequence[str], *, sinks=None, title: str = "",
                              _: Translate = identity) -> go.Figure:
    """(L + 1, T) norms as a heat map: tokens down, layers across (0 = the embedding's output).

    `sinks` (T,) bool: tokens left out of the colour range where their norms pass everyone else's (the first
    token's reaches some 20,000 in SmolLM2, where the others stay under 1,000 and would all be one colour);
    they are drawn in the top colour, a note says so, and the hover gives every true value."""
    values = _matrix(norms, "norms")
    layers, t = values.shape
    if len(labels) != t:
        raise ValueError(f"{t} tokens need {t} labels, got {len(labels)}")
    names = [plotly_text(label) for label in labels]
    zmin, zmax, note = _stream_range(values, names, sinks, _)
    fig = go.Figure(go.Heatmap(
        z=values.T, x=np.arange(layers), y=names, colorscale=STREAM_COLOURS, zmin=zmin, zmax=zmax,
        colorbar=dict(title=dict(text="‖h‖", side="right")),
        hovertemplate="%{y}<br>" + _("after layer") + " %{x}<br>‖h‖ = %{z:.2f}<extra></extra>",
    ))
    step = -(-t // AXIS_LABELS_MAX)
    fig.update_yaxes(type="category", autorange="reversed", tickmode="array", tickvals=names[::step],
                     ticktext=names[::step], automargin=True, title_text=token_axis_title("", names, _))
    fig.update_xaxes(title_text=_("layer (0: the embedding's output, ℓ: after block ℓ)"), dtick=1 if layers <= 32 else None)
    fig.update_layout(title=dict(text=plotly_text(title) or None, subtitle=dict(text=note)),
                      height=int(np.clip(140 + 20 * t, 300, 900)), margin=dict(l=10, r=10, t=80 if note else 60, b=10))
    return fig


def _stream_range(values: np.ndarray, names: list[str], sinks, _: Translate) -> tuple[float, float, str]:
    """The colour range of the residual map: every value, or every value but the sinks' where theirs are larger."""
    low, high = float(values.min()), float(values.max())
    if sinks is None:
        return low, high, ""
    sinks = np.asarray(sinks, dtype=bool)
    if sinks.shape != (values.shape[1],):
        raise ValueError(f"sinks must have one entry per token ({values.shape[1]}), got shape {sinks.shape}")
    if sinks.all() or not sinks.any():
        return low, high, ""
    rest = values[:, ~sinks]
    top = float(rest.max())
    if float(values[:, sinks].max()) <= top:
        return low, high, ""
    shown = ", ".join(f"{names[i]} {values[:, i].max():,.0f}" for i in np.flatnonzero(sinks) if values[:, i].max() > top)
    return float(rest.min()), top, _("Colours span the other tokens: larger norms ({tokens}) take the top colour; "
                                     "hover shows every true value.").format(tokens=shown)


def make_sublayer_figure(attention, feed_forward, stream, *, cross=None, title: str = "",
                         _: Translate = identity) -> go.Figure:
    """One token: ‖what attention added‖ and ‖what the feed-forward added‖ per layer as bars, the stream's
    norm after each layer as a line."""
    attention, feed_forward = np.asarray(attention, dtype=np.float32), np.asarray(feed_forward, dtype=np.float32)
    stream = np.asarray(stream, dtype=np.float32)
    n = attention.shape[0]
    if attention.shape != (n,) or feed_forward.shape != (n,) or stream.shape != (n + 1,) or n == 0:
        raise ValueError("attention and feed_forward need one value per layer, stream one more")
    layers = np.arange(1, n + 1)
    fig = go.Figure()
    parts = [(_("‖attention output‖"), attention, ATTENTION_COLOUR)]
    if cross is not None:
        parts.append((_("‖cross-attention output‖"), np.asarray(cross, dtype=np.float32), CROSS_COLOUR))
    parts.append((_("‖feed-forward output‖"), feed_forward, FEED_FORWARD_COLOUR))
    for name, values, colour in parts:
        fig.add_trace(go.Bar(x=layers, y=values, name=name, marker_color=colour,
                             hovertemplate=name + "<br>" + _("layer") + " %{x}: %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=np.arange(n + 1), y=stream, name=_("‖residual stream‖ after the layer"),
                             mode="lines+markers", line=dict(color=STREAM_COLOUR),
                             hovertemplate=_("after layer") + " %{x}: ‖h‖ = %{y:.3f}<extra></extra>"))
    fig.update_layout(barmode="group", title=dict(text=plotly_text(title) or None), height=380,
                      xaxis_title=_("layer"), yaxis_title=_("norm (length of the vector)"),
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=10, r=10, t=60, b=10))
    return fig


def make_norm_histogram_figure(before, names: Sequence[str], afters, *, title: str = "",
                               _: Translate = identity) -> go.Figure:
    """The values of one vector before a norm (left), and after it in one or more ways (right, overlaid):
    `afters` (n, d), one row per name."""
    x = np.asarray(before, dtype=np.float64)
    after = np.asarray(afters, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or after.ndim != 2 or after.shape[0] != len(names) or not len(names):
        raise ValueError("before must be a non-empty vector and afters one row per name")
    fig = make_subplots(rows=1, cols=2, subplot_titles=(_("before the norm"), _("after the norm")),
                        horizontal_spacing=0.08)

    def caption(values) -> str:
        return _("mean {mean:.3f}, variance {variance:.3f}").format(mean=float(values.mean()),
                                                                    variance=float(values.var()))
    fig.add_trace(go.Histogram(x=x.astype(np.float32), name=_("before") + ": " + caption(x), nbinsx=60,
                               marker_color="#7f7f7f"), row=1, col=1)
    for name, v, colour in zip(names, after, HISTOGRAM_COLOURS):
        if v.shape != x.shape:
            raise ValueError(f"every vector after the norm must have shape {x.shape}, got {v.shape}")
        fig.add_trace(go.Histogram(x=v.astype(np.float32), name=plotly_text(name) + ": " + caption(v), nbinsx=60,
                                   opacity=0.55, marker_color=colour), row=1, col=2)
    fig.update_layout(barmode="overlay", title=dict(text=plotly_text(title) or None), height=420,
                      legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=70, b=10))
    fig.update_xaxes(title_text=_("value of a dimension"))
    fig.update_yaxes(title_text=_("dimensions"), col=1)
    return fig


def make_activation_figure(act, top, *, pre=None, title: str = "", _: Translate = identity) -> go.Figure:
    """A token's hidden units: each unit's activation (left, the most active marked), and the activation
    against the pre-activation (right, the activation function's shape; scattered where it is gated)."""
    act = np.asarray(act, dtype=np.float32)
    top = np.asarray(top, dtype=np.int64)
    if act.ndim != 1 or act.size == 0 or (top.size and (top.min() < 0 or top.max() >= act.size)):
        raise ValueError("act must be a non-empty vector and top indices into it")
    cols = 1 if pre is None else 2
    titles = (_("activation of each unit"),) + (() if pre is None else (_("activation against its input"),))
    fig = make_subplots(rows=1, cols=cols, subplot_titles=titles, column_widths=[0.62, 0.38][:cols] if cols == 2 else None)
    units = np.arange(act.size)
    fig.add_trace(go.Scattergl(x=units, y=act, mode="markers", marker=dict(size=3, color=UNIT_COLOUR),
                               name=_("unit"), hovertemplate=_("unit") + " %{x}: %{y:.4f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=top, y=act[top], mode="markers+text", text=[str(i) for i in top],
                             textposition="top center", marker=dict(size=8, color=TOP_COLOUR),
                             name=_("most active units"),
                             hovertemplate=_("unit") + " %{x}: %{y:.4f}<extra></extra>"), row=1, col=1)
    if pre is not None:
        p = np.asarray(pre, dtype=np.float32)
        if p.shape != act.shape:
            raise ValueError(f"pre must have shape {act.shape}, got {p.shape}")
        fig.add_trace(go.Scattergl(x=p, y=act, mode="markers", marker=dict(size=3, color=UNIT_COLOUR, opacity=0.6),
                                   name=_("unit"), showlegend=False,
                                   hovertemplate=_("input") + " %{x:.3f} → %{y:.4f}<extra></extra>"), row=1, col=2)
        fig.update_xaxes(title_text=_("input of the activation (gate)"), row=1, col=2)
    fig.update_xaxes(title_text=_("unit"), row=1, col=1)
    fig.update_layout(title=dict(text=plotly_text(title) or None), height=400, showlegend=False,
                      margin=dict(l=10, r=10, t=70, b=10))
    return fig


def make_sparsity_figure(names: Sequence[str], zero, near_zero, *, title: str = "",
                         _: Translate = identity) -> go.Figure:
    """Per model: the share of hidden units exactly zero and near zero."""
    n = len(names)
    zero, near_zero = np.asarray(zero, dtype=np.float64), np.asarray(near_zero, dtype=np.float64)
    if n == 0 or zero.shape != (n,) or near_zero.shape != (n,):
        raise ValueError("one share of each kind per name")
    labels = [plotly_text(name) for name in names]
    fig = go.Figure()
    for values, name, colour in ((zero, _("exactly 0"), "#08519c"), (near_zero, _("near 0 (≤ 1% of the largest)"), "#9ecae1")):
        fig.add_trace(go.Bar(x=labels, y=values, name=name, marker_color=colour, text=[f"{v:.0%}" for v in values],
                             textposition="outside", hovertemplate="%{x}<br>" + name + ": %{y:.1%}<extra></extra>"))
    fig.update_layout(barmode="group", title=dict(text=plotly_text(title) or None), height=380,
                      yaxis=dict(title=_("share of hidden units"), tickformat=".0%", range=[0, 1.1]),
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=10, r=10, t=60, b=10))
    return fig
