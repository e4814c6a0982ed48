"""The live training page's loss curve: the loss of every step's batch, and its moving average (the numbers
come from core/training/jobs.py and core/training/live_training.py). The attention snapshots use the Attention page's heat map."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..i18n import Translate, identity

RAW_COLOUR = "rgba(31, 59, 115, 0.25)"
SMOOTH_COLOUR = "#1f3b73"


def make_loss_figure(steps, losses, smoothed=None, total_steps: int | None = None, *,
                     marks=(), _: Translate = identity) -> go.Figure:
    """steps (n,) and losses (n,) of every step; `smoothed` (n,) a moving average drawn over them;
    `total_steps` fixes the x axis to the whole run, so the curve grows from the left; `marks` are the
    steps of the attention snapshots, drawn as ticks on the axis."""
    steps, losses = np.asarray(steps, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if steps.shape != losses.shape or steps.ndim != 1:
        raise ValueError(f"steps and losses must be two arrays of one length, got {steps.shape} and {losses.shape}")
    if smoothed is not None and np.shape(smoothed) != losses.shape:
        raise ValueError("smoothed must have one value per step")
    step_word, loss_word = _("step"), _("loss")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=steps, y=losses, mode="lines", name=_("loss of each batch"),
                             line=dict(color=RAW_COLOUR, width=1),
                             hovertemplate=f"{step_word} %{{x}}<br>{loss_word} %{{y:.4f}}<extra></extra>"))
    if smoothed is not None:
        fig.add_trace(go.Scatter(x=steps, y=np.asarray(smoothed, dtype=np.float64), mode="lines",
                                 name=_("moving average"), line=dict(color=SMOOTH_COLOUR, width=2.5),
                                 hovertemplate=f"{step_word} %{{x}}<br>{loss_word} %{{y:.4f}}<extra></extra>"))
    marks = np.asarray(marks, dtype=np.float64)
    if marks.size:
        low = float(np.nanmin(losses)) if losses.size else 0.0
        fig.add_trace(go.Scatter(x=marks, y=np.full(marks.shape, low), mode="markers", name=_("attention snapshot"),
                                 marker=dict(symbol="triangle-up", size=7, color="#c0392b"),
                                 hovertemplate=_("snapshot at step {step}").format(step="%{x}") + "<extra></extra>"))
    fig.update_layout(title_text=_("Cross-entropy loss while training"), height=340,
                      margin=dict(l=50, r=10, t=50, b=40), legend=dict(orientation="h", y=1.02, x=1, xanchor="right",
                                                                      yanchor="bottom"))
    fig.update_xaxes(title_text=_("step"), range=[0, total_steps] if total_steps else None)
    fig.update_yaxes(title_text=_("loss (nats per token)"), rangemode="tozero")
    return fig
