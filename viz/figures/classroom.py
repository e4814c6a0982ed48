"""Predict, then reveal: the class's guesses as bars, and once revealed, the model's answer beside them;
and the join link as a QR code for the room to scan.

Options are token labels (escaped here: Plotly reads a few HTML tags in text). Colours come from the
palette, so that a projector's presenter palette applies.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import segno

from ..i18n import Translate, identity
from . import palette
from .text import plotly_text

CLASS_COLOUR_SCREEN = "#6baed6"
QR_BORDER = 4  # modules of white around the code: the quiet zone a phone's camera needs


def make_guesses_figure(options: Sequence[str], counts, *, answer: int | None = None, shares=None,
                        title: str = "", height: int = 420, _: Translate = identity) -> go.Figure:
    """One bar per option: the share of the class's guesses (hover: how many). With `answer` (revealed),
    the model's answer is marked, and with `shares` the model's own weight or probability for each option
    stands beside the class's bar."""
    options = [str(option) for option in options]
    n = len(options)
    if n == 0 or len(set(options)) != n:
        raise ValueError("the options must be distinct labels, at least one")
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (n,) or (counts < 0).any():
        raise ValueError(f"counts must be {n} numbers ≥ 0, got {counts!r}")
    if answer is not None and not 0 <= answer < n:
        raise ValueError(f"answer {answer} is outside 0..{n - 1}")
    colours = palette.current()
    total = int(counts.sum())
    share = counts / total if total else np.zeros(n)
    names = [plotly_text(option) for option in options]
    bar_colours = [colours.highlight if i == answer else colours.line for i in range(n)]
    fig = go.Figure(go.Bar(
        x=names, y=share.astype(np.float32), name=_("the class"), marker_color=bar_colours,
        customdata=np.stack([counts, np.full(n, total)], axis=1), text=[str(c) if c else "" for c in counts],
        textposition="outside",
        hovertemplate="%{x}: %{customdata[0]} / %{customdata[1]}<extra></extra>"))
    tallest = share.copy()  # per option, the top of its bars: the answer's mark sits just above them
    if shares is not None and answer is not None:
        model = np.asarray(shares, dtype=np.float32)
        if model.shape != (n,):
            raise ValueError(f"shares must have one entry per option ({n}), got shape {model.shape}")
        fig.add_trace(go.Bar(x=names, y=model, name=_("the model"), marker_color=CLASS_COLOUR_SCREEN,
                             marker_pattern_shape="/", hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
        tallest = np.maximum(tallest, model)
    if answer is not None:  # over its own bars, clear of the count above them (not up in the legend's row)
        fig.add_annotation(x=names[answer], y=float(tallest[answer]), yanchor="bottom", yshift=22, showarrow=False,
                           text="✓ " + plotly_text(_("the model's answer")),
                           font=dict(color=colours.highlight, size=16))
    fig.update_xaxes(type="category", tickfont=dict(size=16))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.1], title_text=_("share"))
    fig.update_layout(
        title=dict(text=plotly_text(title or _("{count} guesses").format(count=total))),
        barmode="group", bargap=0.25, height=height, margin=dict(l=50, r=20, t=70, b=60),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=1, xanchor="right"), plot_bgcolor="white",
    )
    return fig


def make_join_qr(link: str) -> str:
    """The link as a QR code: an SVG document, black modules on white with the quiet zone, scaled by its
    container (a viewBox, no fixed size). The link is only encoded in the modules, never written as text."""
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="svg", border=QR_BORDER, omitsize=True, xmldecl=False,
                                                  dark="#000", light="#fff")
    return out.getvalue().decode()
