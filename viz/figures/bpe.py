"""Figures of BPE training: how many tokens a text needs as the merges accumulate."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import Translate, identity
from .text import plotly_text

SENTENCE_COLOUR = "#d62728"
CORPUS_COLOUR = "#1f77b4"


def _counts(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.int64)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name} must be one count per number of merges (0, 1, …), got shape {array.shape}")
    return array


def make_merge_curve_figure(sentence_tokens, corpus_tokens, *, step: int | None = None, title: str = "",
                            _: Translate = identity) -> go.Figure:
    """Tokens of the sentence (top) and of the whole corpus (bottom) after 0, 1, 2, … merges; `step`
    marks the merge the page shows."""
    sentence, corpus = _counts("sentence_tokens", sentence_tokens), _counts("corpus_tokens", corpus_tokens)
    if len(sentence) != len(corpus):
        raise ValueError(f"both curves need the same merges, got {len(sentence)} and {len(corpus)} points")
    merges = np.arange(len(sentence))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=(_("your sentence"), _("the corpus it was trained on")))
    for row, (values, colour) in enumerate(((sentence, SENTENCE_COLOUR), (corpus, CORPUS_COLOUR)), start=1):
        share = values / max(int(values[0]), 1)
        fig.add_trace(go.Scatter(
            x=merges, y=values, mode="lines", line=dict(color=colour, width=2, shape="hv"), customdata=share,
            hovertemplate=_("after {merges} merges").format(merges="%{x}") + "<br>"
                          + _("tokens") + ": %{y:,} (%{customdata:.0%})<extra></extra>",
        ), row=row, col=1)
        fig.update_yaxes(title_text=_("tokens"), rangemode="tozero", row=row, col=1)
    if step is not None:
        for row in (1, 2):
            fig.add_vline(x=step, line=dict(color="#666", dash="dot"), row=row, col=1)
    fig.update_xaxes(title_text=_("merges learned"), row=2, col=1)
    fig.update_layout(title=plotly_text(title) or None, showlegend=False, height=420,
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig
