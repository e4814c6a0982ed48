"""Head finder figures: every head's score as a layer × head grid, and in-context learning watched (the loss along
both passes of a repeated sequence, the induction heads' stripe, a made-up word's pieces at its two uses).

Numbers arrive computed (core/head_scores.py, core/in_context.py); these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ..i18n import Translate, identity
from . import palette
from .text import plotly_text

FIRST_COLOUR, SECOND_COLOUR, ABLATED_COLOUR = "#6baed6", "#08519c", "#fd8d3c"


def grid_cell(x: float, y: float, n_layers: int, n_heads: int) -> tuple[int, int] | None:
    """(layer, head) of the grid cell at a clicked point (x: head, y: layer), or None outside the grid."""
    head, layer = int(round(x)), int(round(y))
    return (layer, head) if 0 <= layer < n_layers and 0 <= head < n_heads else None


def make_head_score_grid_figure(scores, *, title: str = "", top: float | None = None, lower_is_stronger: bool = False,
                                current: tuple[int, int] | None = None, _: Translate = identity) -> go.Figure:
    """Layers down, heads across, each cell one head's score (written in it), with an invisible marker on each
    cell so that a click says which head it was. `top`: the colour scale's upper end (default the largest score);
    `lower_is_stronger` (entropy): the colours run the other way, so that the strongest heads are dark."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2 or not scores.size:
        raise ValueError(f"scores must be (layers, heads), got shape {scores.shape}")
    n_layers, n_heads = scores.shape
    top = float(np.nanmax(scores)) if top is None else top
    heads, layers = np.meshgrid(np.arange(n_heads), np.arange(n_layers))
    names = [[_("layer {layer}, head {head}").format(layer=layer, head=head) for head in range(n_heads)]
             for layer in range(n_layers)]
    fig = go.Figure(go.Heatmap(
        z=scores, zmin=0, zmax=max(top, 1e-6), colorscale=palette.current().weights, reversescale=lower_is_stronger,
        text=np.vectorize(lambda v: f"{v:.2f}")(scores), texttemplate="%{text}", hoverinfo="skip", name="scores",
        colorbar=dict(thickness=12)))
    fig.add_trace(go.Scatter(
        x=heads.ravel(), y=layers.ravel(), mode="markers", name="cells", customdata=scores.ravel(),
        text=[name for row in names for name in row], marker=dict(size=14, symbol="square", opacity=0),
        hovertemplate="%{text}: %{customdata:.3f}<extra>" + _("click to open") + "</extra>"))
    if current is not None:
        layer, head = current
        fig.add_shape(type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5,
                      line=dict(color=palette.current().highlight, width=3))
    fig.update_xaxes(title=_("head"), tickmode="array", tickvals=list(range(n_heads)), side="top", showgrid=False,
                     zeroline=False, fixedrange=True)
    fig.update_yaxes(title=_("layer"), tickmode="array", tickvals=list(range(n_layers)), autorange="reversed",
                     showgrid=False, zeroline=False, fixedrange=True)
    fig.update_layout(title=plotly_text(title) or None, showlegend=False, plot_bgcolor="white", hovermode="closest",
                      height=int(np.clip(110 + 26 * n_layers, 260, 1000)), width=int(max(360, 150 + 56 * n_heads)),
                      margin=dict(l=10, r=10, t=90, b=10))
    return fig


def make_pass_loss_figure(first, second, *, first_ablated=None, second_ablated=None, heads_off: int = 0,
                          title: str = "", _: Translate = identity) -> go.Figure:
    """The next-token loss at each position of a sequence's first and second pass (k = 1 … n−1), and, with heads
    switched off, the same two passes again (dashed)."""
    series = {"first": first, "second": second, "first_ablated": first_ablated, "second_ablated": second_ablated}
    series = {name: None if values is None else np.asarray(values, dtype=np.float32) for name, values in series.items()}
    n = series["first"].shape[0]
    if series["first"].ndim != 1 or any(v is not None and v.shape != (n,) for v in series.values()):
        raise ValueError("every series is (n,), one loss per position of a pass")
    k = np.arange(1, n + 1)
    off = _("{count} heads off").format(count=heads_off)
    styles = {"first": (_("first pass"), FIRST_COLOUR, "solid"), "second": (_("second pass"), SECOND_COLOUR, "solid"),
              "first_ablated": (_("first pass") + f", {off}", FIRST_COLOUR, "dash"),
              "second_ablated": (_("second pass") + f", {off}", ABLATED_COLOUR, "dash")}
    fig = go.Figure()
    for name, values in series.items():
        if values is None:
            continue
        label, colour, dash = styles[name]
        fig.add_trace(go.Scatter(x=k, y=values, mode="lines+markers", name=label, line=dict(color=colour, dash=dash),
                                 marker=dict(size=5),
                                 hovertemplate=label + ": k = %{x}, %{y:.2f} " + _("nats") + "<extra></extra>"))
    fig.update_xaxes(title=_("position in the pass (k)"))
    fig.update_yaxes(title=_("loss of the true next token (nats)"), rangemode="tozero")
    fig.update_layout(title=plotly_text(title) or None, height=360, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def make_induction_stripe_figure(stripe, head_names: Sequence[str], token_labels: Sequence[str], *, title: str = "",
                                 _: Translate = identity) -> go.Figure:
    """Heads down, second-pass tokens across: the weight each head gives, from that token, to the token after its
    first occurrence (the stripe one step right of the diagonal that marks the earlier occurrence)."""
    stripe = np.asarray(stripe, dtype=np.float32)
    if stripe.ndim != 2 or stripe.shape != (len(head_names), len(token_labels)):
        raise ValueError(f"stripe must be (heads, tokens) = ({len(head_names)}, {len(token_labels)}), "
                         f"got {stripe.shape}")
    xs = [f"{k}: {plotly_text(label)}" for k, label in enumerate(token_labels)]
    ys = [plotly_text(name) for name in head_names]
    fig = go.Figure(go.Heatmap(
        z=stripe, x=xs, y=ys, zmin=0, zmax=1, colorscale=palette.current().weights, colorbar=dict(thickness=12),
        hovertemplate="%{y}, %{x}: %{z:.2f}<extra>" + _("weight on the token after its first occurrence")
        + "</extra>"))
    fig.update_xaxes(type="category", tickangle=-60, title=_("second-pass token"))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title=plotly_text(title) or None, height=int(np.clip(200 + 30 * len(ys), 240, 600)),
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig


def make_word_use_figure(pieces: Sequence[str], first, second, second_ablated=None, *, heads_off: int = 0,
                         title: str = "", _: Translate = identity) -> go.Figure:
    """A made-up word's tokens: the loss of each at the word's first use, at its second use, and at the second use
    with heads switched off."""
    bars = [(_("first use"), first, FIRST_COLOUR), (_("second use"), second, SECOND_COLOUR)]
    if second_ablated is not None:
        bars.append((_("second use, {count} heads off").format(count=heads_off), second_ablated, ABLATED_COLOUR))
    xs = [f"{i}: {plotly_text(piece)}" for i, piece in enumerate(pieces)]
    fig = go.Figure()
    for name, values, colour in bars:
        values = np.asarray(values, dtype=np.float32)
        if values.shape != (len(xs),):
            raise ValueError("one loss per piece of the word")
        fig.add_trace(go.Bar(x=xs, y=values, name=name, marker_color=colour,
                             hovertemplate=name + ", %{x}: %{y:.2f} " + _("nats") + "<extra></extra>"))
    fig.update_xaxes(type="category", title=_("the made-up word's tokens"))
    fig.update_yaxes(title=_("loss (nats)"), rangemode="tozero")
    fig.update_layout(title=plotly_text(title) or None, barmode="group", height=340,
                      margin=dict(l=10, r=10, t=60, b=10), legend=dict(orientation="h", y=-0.3))
    return fig
