"""Next-token figures: a distribution over tokens, and the probability of each actual next token.

Labels and titles are escaped here: Plotly reads a few HTML tags in text, and a
token such as `<b>` must show as itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from .text import plotly_text

KEPT_COLOUR = "#1f77b4"
REMOVED_COLOUR = "#c7c7c7"
RENORMALISED_COLOUR = "#d62728"
ACTUAL_COLOUR = "#2ca02c"


def _vector(name: str, values, n: int, dtype=np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one entry per label ({n}), got shape {array.shape}")
    return array


def make_distribution_figure(
    labels: Sequence[str],
    probs,
    logits,
    kept=None,
    renormalised=None,
    title: str = "",
    notes: Sequence[str] | None = None,
    axis_top: float | None = None,
    _: Translate = identity,
) -> go.Figure:
    """Horizontal bars, most likely token on top: probability (left) and the logit behind it (right, as dots).

    With `kept`, removed tokens are greyed and an outline around each survivor's bar
    reaches its renormalised probability (what sampling actually uses). `notes`: a few lines per token for
    its hover ("" for none: what a piece of a character is). `axis_top`: the probability axis reaches at
    least this, whatever the bars (a temperature's flattening shows as shorter bars, not a new axis).
    """
    labels = [str(label) for label in labels]
    n = len(labels)
    if n == 0:
        raise ValueError("nothing to draw: no tokens given")
    probs = _vector("probs", probs, n)
    logits = _vector("logits", logits, n)
    kept = np.ones(n, dtype=bool) if kept is None else _vector("kept", kept, n, dtype=bool)
    renormalised = probs if renormalised is None else _vector("renormalised", renormalised, n)
    notes = [""] * n if notes is None else [str(note) for note in notes]
    if len(notes) != n:
        raise ValueError(f"notes must have one entry per label ({n}), got {len(notes)}")

    rows = np.arange(n)
    names = [plotly_text(label) for label in labels]
    colours = [KEPT_COLOUR if k else REMOVED_COLOUR for k in kept]
    status = [_("kept") if k else _("removed by top-k / top-p") for k in kept]
    hover = (
        "%{customdata[0]}%{customdata[5]}<br>logit z = %{customdata[1]:.3f}<br>p = %{customdata[2]:.4f}<br>"
        + _("after filtering") + ": %{customdata[3]:.4f} (%{customdata[4]})<extra></extra>"
    )
    said = ["<br>" + plotly_text(note).replace("\n", "<br>") if note else "" for note in notes]
    customdata = np.array(list(zip(names, logits, probs, np.where(kept, renormalised, 0.0), status, said)),
                          dtype=object)

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.7, 0.3], horizontal_spacing=0.03,
                        subplot_titles=(_("probability p = softmax(z / T)"), _("logit z")))
    filtering = not kept.all()
    if filtering:
        # An outline behind each surviving bar reaches its renormalised probability: what sampling uses.
        fig.add_trace(go.Bar(x=renormalised[kept], y=rows[kept], orientation="h", name="renormalised",
                             marker=dict(color="rgba(0,0,0,0)", line=dict(color=RENORMALISED_COLOUR, width=1.5)),
                             text=[f"{p:.1%} → {r:.1%}" for p, r in zip(probs[kept], renormalised[kept])],
                             textposition="outside", cliponaxis=False,
                             customdata=customdata[kept], hovertemplate=hover), row=1, col=1)
    fig.add_trace(go.Bar(x=probs, y=rows, orientation="h", marker_color=colours, name="probability",
                         text=["" if filtering and k else f"{p:.1%}" for p, k in zip(probs, kept)],
                         textposition="outside", cliponaxis=False,
                         customdata=customdata, hovertemplate=hover), row=1, col=1)
    # Dots, not bars: logits have no natural zero, and bars from 0 would hide their differences.
    fig.add_trace(go.Scatter(x=logits, y=rows, mode="markers+text", marker=dict(color=colours, size=9), name="logit",
                             text=[f"{z:.1f}" for z in logits], textposition="middle right", cliponaxis=False,
                             customdata=customdata, hovertemplate=hover), row=1, col=2)
    fig.update_yaxes(tickmode="array", tickvals=rows, ticktext=names, autorange="reversed", row=1, col=1)
    # Room for the percentages written beside the bars, but never past 100%; small probabilities keep
    # their digits on the ticks (0.05%, not 0%). A bar too long for its number outside gets it inside.
    top = min(max(float(probs.max()), float(renormalised.max()), axis_top or 0.0) * 1.3, 1.0)
    fig.update_xaxes(range=[0, top], tickformat=".2~%", row=1, col=1)
    for trace in (t for t in fig.data if isinstance(t, go.Bar)):
        trace.textposition = ["inside" if x > 0.8 * top else "outside" for x in trace.x]
    spread = max(float(logits.max() - logits.min()), 1.0)
    fig.update_xaxes(range=[logits.min() - 0.1 * spread, logits.max() + 0.35 * spread], row=1, col=2)
    fig.update_layout(title=plotly_text(title) or None, showlegend=False, barmode="overlay",
                      height=max(220, 28 * n + 90), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def make_token_loss_figure(labels: Sequence[str], probability, loss=None, title: str = "",
                           _: Translate = identity) -> go.Figure:
    """One bar per predicted token: the probability the model gave the token that really came next.

    `labels` are the predicted tokens (the text's tokens from the second one on).
    """
    labels = [str(label) for label in labels]
    n = len(labels)
    if n == 0:
        raise ValueError("nothing to draw: no predicted tokens given")
    probability = _vector("probability", probability, n)
    if ((probability < 0) | (probability > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    loss = -np.log(np.maximum(probability, np.finfo(float).tiny)) if loss is None else _vector("loss", loss, n)

    positions = np.arange(1, n + 1)
    names = [plotly_text(label) for label in labels]
    fig = go.Figure(go.Bar(
        x=positions, y=probability, marker_color=ACTUAL_COLOUR,
        customdata=np.array(list(zip(names, loss)), dtype=object),
        hovertemplate=_("next token") + " %{customdata[0]}<br>p = %{y:.4f}<br>−ln p = %{customdata[1]:.3f}"
                      "<extra></extra>",
    ))
    fig.update_xaxes(tickmode="array", tickvals=positions, ticktext=names, tickangle=-45)
    fig.update_yaxes(range=[0, 1], title=_("p(actual next token)"))
    fig.update_layout(title=plotly_text(title) or None, height=300, margin=dict(l=10, r=10, t=40, b=10))
    return fig
