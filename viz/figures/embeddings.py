"""Embedding figures: token vectors as a heat map with their lengths, a cosine-similarity matrix,
points on their principal axes (2-D or 3-D), and a cosine per layer as lines.

Labels are escaped here: Plotly reads a few HTML tags in text, and a word such as `<b>` must show
as itself. Arrays leave as float32 (Plotly sends those compactly).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from .text import checked_labels, plotly_text, token_axis_title

VECTOR_COLOURS = "RdBu_r"  # diverging: negative blue, positive red, zero white
SIMILARITY_COLOURS = "Viridis"
NORM_COLOUR = "#6a51a3"
HIGHLIGHT_COLOUR = "#d62728"
GROUP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf", "#aec7e8", "#ffbb78", "#98df8a")
CLIP_PERCENTILE = 99.5  # a few huge values would wash out the rest: colours stop here, hover gives the truth
AXIS_LABELS_MAX = 40  # more tokens than this on an axis: label every k-th, and say so
POINT_LABEL_CHARS = 24  # longer labels are cut in the picture (hover shows them whole)



def make_embedding_heatmap_figure(vectors, labels: Sequence[str], *, title: str = "",
                                  _: Translate = identity) -> go.Figure:
    """Tokens on y, dimensions on x, each cell one number of the token's vector; each vector's length
    beside it as a bar. `labels` must be unique (see viz.tokens.axis_labels)."""
    values = np.asarray(vectors, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"vectors must be (tokens, d) with at least one token, got shape {values.shape}")
    t, d = values.shape
    names = checked_labels(labels, t, "the token axis")
    lengths = np.linalg.norm(values.astype(np.float64), axis=1)
    limit = float(np.percentile(np.abs(values), CLIP_PERCENTILE)) or 1.0
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.84, 0.16], horizontal_spacing=0.02,
                        subplot_titles=(_("vector, dimension by dimension"), _("length ‖x‖")))
    fig.add_trace(go.Heatmap(
        z=values, x=np.arange(d), y=names, zmid=0, zmin=-limit, zmax=limit, colorscale=VECTOR_COLOURS,
        colorbar=dict(title=dict(text=_("value"), side="right"), len=0.8),
        hovertemplate="%{y}<br>" + _("dimension") + " %{x}<br>" + _("value") + " %{z:.4f}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Bar(
        x=lengths.astype(np.float32), y=names, orientation="h", marker_color=NORM_COLOUR, name="norm",
        hovertemplate="%{y}<br>‖x‖ = %{x:.3f}<extra></extra>",
    ), row=1, col=2)
    notes = [_("colours stop at ±{limit:.3g}; hover shows every value").format(limit=limit)]
    step = -(-t // AXIS_LABELS_MAX)
    if step > 1:
        notes.append(_("every {step}th token labelled; hover shows each").format(step=step))
    fig.update_yaxes(type="category", autorange="reversed", tickmode="array", tickvals=names[::step],
                     ticktext=names[::step], automargin=True, title_text=token_axis_title("", names, _), row=1, col=1)
    fig.update_xaxes(title_text=_("dimension (0 to {last})").format(last=d - 1), row=1, col=1)
    fig.update_layout(title=dict(text=plotly_text(title) or None, subtitle=dict(text="; ".join(notes))),
                      showlegend=False, height=int(np.clip(160 + 22 * t, 320, 900)),
                      margin=dict(l=10, r=10, t=90, b=10), plot_bgcolor="white")
    return fig


def make_similarity_figure(matrix, labels: Sequence[str], *, title: str = "", _: Translate = identity) -> go.Figure:
    """An (n, n) cosine-similarity matrix, each cell written out."""
    values = np.asarray(matrix, dtype=np.float32)
    n = len(labels)
    if values.shape != (n, n) or n == 0:
        raise ValueError(f"matrix must be ({n}, {n}) for {n} labels, got shape {values.shape}")
    names = checked_labels(labels, n, "the matrix")
    fig = go.Figure(go.Heatmap(
        z=values, x=names, y=names, zmin=-1 if values.min() < 0 else 0, zmax=1, colorscale=SIMILARITY_COLOURS,
        text=[[f"{v:.2f}" for v in row] for row in values], texttemplate="%{text}",
        colorbar=dict(title=dict(text="cos", side="right")),
        hovertemplate="%{y}<br>%{x}<br>cos = %{z:.4f}<extra></extra>",
    ))
    fig.update_xaxes(type="category", tickangle=-30, automargin=True, title_text=token_axis_title("", names, _))
    fig.update_yaxes(type="category", autorange="reversed", automargin=True)
    size = int(np.clip(200 + 48 * n, 320, 760))
    fig.update_layout(title=dict(text=plotly_text(title) or None, subtitle=dict(text=_(
        "1 = the same direction, 0 = unrelated; hover for four decimals"))), height=size,
        margin=dict(l=10, r=10, t=70, b=10))
    return fig


def make_projection_figure(coords, labels: Sequence[str], *, groups: Sequence[str] | None = None,
                           highlight=None, explained=None, title: str = "", _: Translate = identity) -> go.Figure:
    """Points on their first two or three principal axes (coords (n, 2) or (n, 3)), labelled, one colour
    per group, highlighted points larger and ringed. `explained` is each axis's share of the variance."""
    points = np.asarray(coords, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] not in (2, 3) or len(points) == 0:
        raise ValueError(f"coords must be (n, 2) or (n, 3), got shape {points.shape}")
    n, dims = points.shape
    names = checked_labels(labels, n, "the points")
    groups = [""] * n if groups is None else [str(g) for g in groups]
    if len(groups) != n:
        raise ValueError(f"groups needs {n} entries, got {len(groups)}")
    ring = np.zeros(n, dtype=bool) if highlight is None else np.asarray(highlight, dtype=bool)
    if ring.shape != (n,):
        raise ValueError(f"highlight needs {n} entries, got shape {ring.shape}")
    shares = np.zeros(dims) if explained is None else np.asarray(explained, dtype=np.float64)[:dims]
    axis_titles = [_("PC{index} ({share:.0%} of the variance)").format(index=i + 1, share=shares[i])
                   for i in range(dims)]
    fig = go.Figure()
    labels_shown = np.array([_short(name) for name in names], dtype=object)
    hover = np.array([f"{plotly_text(g)}<br>{name}" if g else name for g, name in zip(groups, names)], dtype=object)
    for index, group in enumerate(dict.fromkeys(groups)):
        colour = GROUP_COLOURS[index % len(GROUP_COLOURS)]
        in_group = np.array([g == group for g in groups])
        # The group's points, then its highlighted ones (larger, ringed) in a trace of their own, so that
        # the legend shows the group's plain marker.
        for ringed in (False, True):
            members = in_group & (ring == ringed)
            if not members.any():
                continue
            common = dict(
                mode="markers+text", textposition="top center", hovertext=hover[members].tolist(),
                text=[label if ringed or n <= AXIS_LABELS_MAX else "" for label in labels_shown[members]],
                marker=dict(color=colour, size=13 if ringed else 7,
                            line=dict(color=HIGHLIGHT_COLOUR if ringed else colour, width=2)),
                name=plotly_text(group) or None, legendgroup=f"group-{index}",
                showlegend=bool(group) and not (ringed and (in_group & ~ring).any()),
                hovertemplate="%{hovertext}<extra></extra>")
            if dims == 2:
                fig.add_trace(go.Scatter(x=points[members, 0], y=points[members, 1], **common))
            else:
                fig.add_trace(go.Scatter3d(x=points[members, 0], y=points[members, 1], z=points[members, 2],
                                           **common))
    if dims == 2:  # room around the points for their labels
        for axis, update in ((0, fig.update_xaxes), (1, fig.update_yaxes)):
            low, high = float(points[:, axis].min()), float(points[:, axis].max())
            pad = 0.25 * (high - low) or 1.0
            update(title_text=axis_titles[axis], zeroline=True, range=[low - pad, high + pad])
    else:
        fig.update_layout(scene=dict(xaxis_title=axis_titles[0], yaxis_title=axis_titles[1],
                                     zaxis_title=axis_titles[2]))
    fig.update_layout(title=plotly_text(title) or None, height=520, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def _short(label: str) -> str:
    return label if len(label) <= POINT_LABEL_CHARS else label[:POINT_LABEL_CHARS - 1] + "…"


def make_layer_cosine_figure(cosines, names: Sequence[str], *, layer: int | None = None, title: str = "",
                             _: Translate = identity) -> go.Figure:
    """One line per pair of occurrences: their cosine at depth 0 (the input to the first block) up to the
    last layer. `cosines` is (pairs, layers + 1); `layer` marks the depth shown elsewhere on the page."""
    values = np.asarray(cosines, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] != len(names) or values.shape[1] == 0:
        raise ValueError(f"cosines must be ({len(names)}, layers + 1), got shape {values.shape}")
    depths = np.arange(values.shape[1])
    fig = go.Figure()
    for index, (row, name) in enumerate(zip(values, names)):
        fig.add_trace(go.Scatter(x=depths, y=row, mode="lines+markers", name=plotly_text(name),
                                 line=dict(color=GROUP_COLOURS[index % len(GROUP_COLOURS)], width=2),
                                 hovertemplate=plotly_text(name) + "<br>" + _("layer") + " %{x}<br>cos = %{y:.4f}"
                                               "<extra></extra>"))
    if layer is not None:
        fig.add_vline(x=layer, line=dict(color="#999", dash="dot"))
    low = min(float(np.nanmin(values)), 0.0)
    fig.update_xaxes(title_text=_("layer (0 = the input to the first block)"), dtick=max(1, len(depths) // 15))
    fig.update_yaxes(title_text=_("cosine similarity"), range=[low - 0.05, 1.05])
    fig.update_layout(title=plotly_text(title) or None, height=380, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig
