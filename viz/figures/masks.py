"""Mask figures: a mask as a matrix (0 where a query may look, −∞ where not), and one head's scores
masked the wrong way and the right way, side by side, with the weight that leaks onto masked keys.

Numbers arrive computed (core/lessons/mask_experiments.py); these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from . import palette
from .attention import AXIS_LABELS_MAX, MASKED_COLOUR
from .text import checked_labels, plotly_text, token_axis_title

ALLOWED_COLOUR = "#6baed6"
PAD_COLOUR = "#fdd0a2"
LEAK_COLOUR = "#d62728"
CELL_TEXT_MAX = 16  # more tokens than this: no number written in each cell
CELL_HOVER_MAX = 64  # more tokens than this: hover names the cell, colour tells the rest; × marks left out



def _ticks(fig: go.Figure, xs: list[str], ys: list[str], row: int | None = None, col: int | None = None) -> int:
    """Category axes labelled every k-th token for long texts; returns k."""
    step = -(-max(len(xs), len(ys)) // AXIS_LABELS_MAX)
    where = {} if row is None else dict(row=row, col=col)
    fig.update_xaxes(type="category", tickangle=-60, tickmode="array", tickvals=xs[::step], ticktext=xs[::step],
                     **where)
    fig.update_yaxes(type="category", autorange="reversed", tickmode="array", tickvals=ys[::step], ticktext=ys[::step],
                     **where)
    return step


def make_mask_figure(allowed, query_labels: Sequence[str], key_labels: Sequence[str], *, title: str = "",
                     rule: str = "", padding_keys=None, _: Translate = identity) -> go.Figure:
    """Queries on y, keys on x: blue cells (0 is added) may be looked at, grey ones (−∞ is added) may not.
    `rule`, the mask's rule in words, is the title's second line (one line is cut on a projector).
    `padding_keys` (S,) marks padding columns, drawn in orange where masked."""
    allowed = np.asarray(allowed, dtype=bool)
    if allowed.ndim != 2:
        raise ValueError(f"a mask is (T, S), got shape {allowed.shape}")
    t, s = allowed.shape
    ys, xs = checked_labels(query_labels, t, "the query axis"), checked_labels(key_labels, s, "the key axis")
    padding = np.zeros(s, dtype=bool) if padding_keys is None else np.asarray(padding_keys, dtype=bool)
    if padding.shape != (s,):
        raise ValueError(f"padding_keys needs one entry per key ({s}), got {padding.shape}")
    # 0: masked, 1: masked padding, 2: allowed
    z = np.where(allowed, 2.0, np.where(padding[None, :], 1.0, 0.0)).astype(np.float32)
    words = np.where(allowed, _("may look: + 0"), np.where(padding[None, :], _("padding: + −∞"), _("masked: + −∞")))
    hover = _("query") + " %{y}<br>" + _("key") + " %{x}<br>"
    words, hover = (words, hover + "%{customdata}") if max(t, s) <= CELL_HOVER_MAX else (None, hover)
    text = np.where(allowed, "0", "−∞") if max(t, s) <= CELL_TEXT_MAX else None
    fig = go.Figure(go.Heatmap(
        z=z, x=xs, y=ys, zmin=0, zmax=2, showscale=False, name="mask", customdata=words, text=text,
        texttemplate="%{text}" if text is not None else None, xgap=1, ygap=1,
        colorscale=[[0, MASKED_COLOUR], [0.33, MASKED_COLOUR], [0.34, PAD_COLOUR], [0.66, PAD_COLOUR],
                    [0.67, ALLOWED_COLOUR], [1, ALLOWED_COLOUR]],
        hovertemplate=hover + "<extra></extra>",
    ))
    step = _ticks(fig, xs, ys)
    note = _("blue: may look (0 added) · grey: masked (−∞ added)")
    if padding.any():
        note += " · " + _("orange: padding")
    if step > 1:
        note += " · " + _("every {step}th token labelled; hover shows each").format(step=step)
    fig.update_xaxes(title_text=token_axis_title(_("key (looked at)"), xs, _), automargin=True)
    fig.update_yaxes(title_text=token_axis_title(_("query (looking)"), ys, _), automargin=True)
    heading = plotly_text(title) + (f"<br>{plotly_text(rule)}" if rule else "")
    fig.update_layout(title=dict(text=heading, subtitle=dict(text=note)), plot_bgcolor="white",
                      height=int(np.clip(200 + 20 * t, 320, 760)), margin=dict(l=10, r=10, t=110 if rule else 80, b=10))
    return fig


def make_masking_ways_figure(wrong, right, allowed, leaked, query_labels: Sequence[str], key_labels: Sequence[str], *,
                             title: str = "", _: Translate = identity) -> go.Figure:
    """Three panels on the same queries: softmax(scores ⊙ mask) (the wrong way), softmax(scores + mask)
    (the right way), and the weight the wrong way leaves on masked keys, per query. Masked cells carry ×."""
    wrong, right = np.asarray(wrong, dtype=np.float32), np.asarray(right, dtype=np.float32)
    allowed, leaked = np.asarray(allowed, dtype=bool), np.asarray(leaked, dtype=np.float32)
    if wrong.ndim != 2 or wrong.shape != right.shape or allowed.shape != wrong.shape:
        raise ValueError(f"wrong, right and allowed must be one (T, S) shape, got {wrong.shape}, {right.shape}, "
                         f"{allowed.shape}")
    t, s = wrong.shape
    if leaked.shape != (t,):
        raise ValueError(f"leaked needs one entry per query ({t}), got {leaked.shape}")
    ys, xs = checked_labels(query_labels, t, "the query axis"), checked_labels(key_labels, s, "the key axis")
    fig = make_subplots(rows=1, cols=3, column_widths=[0.4, 0.4, 0.2], horizontal_spacing=0.05,
                        subplot_titles=(_("× 0/1, then softmax (wrong)"), _("+ −∞, then softmax (right)"),
                                        _("weight on masked keys")))
    hover = _("query") + " %{y}<br>" + _("key") + " %{x}<br>" + _("weight") + " %{z:.5f}<extra></extra>"
    small = max(t, s) <= CELL_TEXT_MAX
    for col, weights in ((1, wrong), (2, right)):
        fig.add_trace(go.Heatmap(z=weights, x=xs, y=ys, zmin=0, zmax=1, colorscale=palette.current().weights, showscale=col == 2,
                                 name="weights", hovertemplate=hover, xgap=1, ygap=1,
                                 text=np.round(weights, 2).astype(str) if small else None,
                                 texttemplate="%{text}" if small else None,
                                 colorbar=dict(title=dict(text=_("weight"), side="right"), x=1.02, xanchor="left")),
                      row=1, col=col)
        rows, cols = np.nonzero(~allowed if max(t, s) <= CELL_HOVER_MAX else np.zeros_like(allowed))
        if small and len(rows):  # a small × in each masked cell's top-right corner, clear of the number at its centre
            fig.add_shape(type="path", path=_corner_crosses(rows, cols), line=dict(width=1.5, color=LEAK_COLOUR),
                          row=1, col=col)
        elif not small:
            fig.add_trace(go.Scatter(x=[xs[c] for c in cols], y=[ys[r] for r in rows], mode="markers", name="masked",
                                     marker=dict(symbol="x-thin", size=5, line=dict(width=1.5, color=LEAK_COLOUR)),
                                     hoverinfo="skip", showlegend=False), row=1, col=col)
        _ticks(fig, xs, ys, row=1, col=col)
    fig.update_yaxes(showticklabels=False, row=1, col=2)  # the same queries as the first panel: no labels between them
    fig.add_trace(go.Bar(x=leaked, y=ys, orientation="h", marker_color=LEAK_COLOUR, name="leaked",
                         text=[f"{v:.1%}" for v in leaked] if small else None, textposition="outside", cliponaxis=False,
                         hovertemplate=_("query") + " %{y}<br>" + _("weight on masked keys") + " %{x:.2%}<extra></extra>"),
                  row=1, col=3)
    fig.update_yaxes(type="category", autorange="reversed", showticklabels=False, row=1, col=3)
    fig.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=3)
    fig.update_layout(title=dict(text=plotly_text(title), subtitle=dict(text=_("× marks a masked cell: a key the query "
                                                                                "may not look at"))),
                      height=int(np.clip(220 + 24 * t, 360, 900)), margin=dict(l=10, r=10, t=100, b=10),
                      plot_bgcolor="white", showlegend=False)
    return fig


def _corner_crosses(rows, cols, size: float = 0.22) -> str:
    """An SVG path of a small × in the top-right corner of each (row, col) cell, in the category axes' units (a
    cell spans ±0.5 around its index; the query axis runs downwards)."""
    parts = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        left, right, top, bottom = c + 0.46 - size, c + 0.46, r - 0.46, r - 0.46 + size
        parts.append(f"M{left},{top}L{right},{bottom}M{right},{top}L{left},{bottom}")
    return "".join(parts)
