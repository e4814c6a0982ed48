"""Which earlier tokens fed a prediction: attention rollout beside the change in log-probability when a token
is removed, one row per token. Numbers arrive computed (core/lessons/attribution.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from .attention import CURRENT_COLOUR, MASKED_COLOUR
from .text import checked_labels, numbered_repeats

ROLLOUT_COLOUR, HURT_COLOUR, HELP_COLOUR = "#3182bd", "#d62728", "#31a354"


def make_attribution_figure(labels: Sequence[str], rollout, removal, position: int, *,
                            _: Translate = identity) -> go.Figure:
    """Tokens on y; left the rollout share of each, right log P(y | token removed) − log P(y) (NaN where not
    measured: the position itself, later tokens and tokens beyond the budget)."""
    rollout, removal = np.asarray(rollout, dtype=np.float64), np.asarray(removal, dtype=np.float64)
    if rollout.ndim != 1 or rollout.shape != removal.shape:
        raise ValueError("rollout and removal are (T,) each")
    t = rollout.shape[0]
    if not 0 <= position < t:
        raise ValueError(f"position {position} is outside 0..{t - 1}")
    ys = numbered_repeats(checked_labels(labels, t, "the tokens"))
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=(_("attention rollout (share)"), _("removing the token: change in log P")))
    colours = [CURRENT_COLOUR if i == position else ROLLOUT_COLOUR for i in range(t)]
    fig.add_trace(go.Bar(y=ys, x=rollout.astype(np.float32), orientation="h", marker_color=colours,
                         name=_("rollout"), hovertemplate="%{y}: %{x:.4f}<extra></extra>"), row=1, col=1)
    measured = np.isfinite(removal)
    bar_colours = [MASKED_COLOUR if not m else (HURT_COLOUR if d < 0 else HELP_COLOUR)
                   for m, d in zip(measured, np.nan_to_num(removal))]
    fig.add_trace(go.Bar(y=ys, x=np.where(measured, removal, 0.0).astype(np.float32), orientation="h",
                         marker_color=bar_colours, name=_("removal"),
                         customdata=np.where(measured, np.char.mod("%+.4f", np.nan_to_num(removal)), _("not measured")),
                         hovertemplate="%{y}: %{customdata}<extra></extra>"), row=1, col=2)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(showlegend=False, height=max(260, 24 * t + 100), margin=dict(l=10, r=10, t=40, b=10))
    return fig
