"""The colours of the figures, chosen in one place: the screen's palette, and a presenter's palette that
survives a projector (high contrast, colour-blind safe).

A projector washes out light colours: the screen's pale-to-dark "Blues" leaves weak weights invisible
and its light end close to the white page. The presenter's palette uses Viridis (dark purple → yellow),
perceptually uniform and readable with the common colour-vision deficiencies; masked cells stay a
mid grey, a colour Viridis never takes, and the highlight is an orange that stands apart from every
Viridis colour (red and green would not, for a deuteranope).

Figure builders stay pure functions of their inputs for everything but this choice: they ask
`current()`, which calls a chooser the app sets once (`set_chooser`: the frame's "is this session
presenting?"). Outside the app, and in tests, the chooser says "screen".

The presenter's palette also carries the type a room reads: where a figure is shown (`dressed`, called by
the app as it hands a figure to the browser) every text of it, ticks, titles, legends, annotations,
buttons, colour bars, becomes at least that size and dark, the figure grows taller, and a heat map of a
short text gets square cells. The builders keep their screen sizes; this is the one place that scales them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go


@dataclass(frozen=True)
class Palette:
    name: str
    weights: str  # sequential Plotly colour scale for weights in [0, 1] (attention, probabilities)
    masked: str  # cells a mask forbids
    line: str  # lines and bars of one series
    highlight: str  # the chosen / current item, the model's answer
    # The figures' type; None keeps the sizes and colours the figure and Streamlit's theme give.
    font_px: int | None = None  # the smallest figure text: ticks, legends, annotations, buttons, colour bars
    axis_title_px: int | None = None
    title_px: int | None = None
    text: str | None = None  # the colour of figure text that names no colour of its own
    taller: float = 1.0  # heights (and set widths) grow by this factor: room for the larger type
    square_cells_up_to: int = 0  # a heat map with at most this many rows and columns gets square cells


SCREEN = Palette("screen", weights="Blues", masked="#9e9e9e", line="#08519c", highlight="#d62728")
# 18 px ticks at 1280 × 720 read from the back of a classroom (the projector); near-black text, not grey.
PRESENTER = Palette("presenter", weights="Viridis", masked="#9e9e9e", line="#3b0f70", highlight="#e66100",
                    font_px=18, axis_title_px=20, title_px=24, text="#111111", taller=1.35, square_cells_up_to=48)
PALETTES = {palette.name: palette for palette in (SCREEN, PRESENTER)}

_chooser: Callable[[], str] = lambda: SCREEN.name  # noqa: E731


def set_chooser(chooser: Callable[[], str]) -> None:
    """Install the function that names the palette of the figure being built (the app's: per session)."""
    global _chooser
    _chooser = chooser


def current() -> Palette:
    """The palette of the figure being built now; the screen's if the chooser fails or names none."""
    try:
        return PALETTES.get(_chooser(), SCREEN)
    except Exception:  # noqa: BLE001  (a figure is never lost to the choice of its colours)
        return SCREEN


# ---------------------------------------------------------------- type for a room


def dressed(fig: go.Figure) -> go.Figure:
    """The figure as the current palette shows it: itself on a screen; for a presenter a copy (a builder's figure
    may be cached) with every text at least the palette's size, taller, and square cells for a short heat map."""
    look = current()
    if look.font_px is None:
        return fig
    fig = go.Figure(fig)
    _dress_layout(fig, look)
    for trace in fig.data:
        _dress_trace(trace, look)
    _room_for_labels(fig, look)
    _square_cells(fig, look)
    return fig


def _grow(font, px: int, colour: str | None) -> None:
    """A Plotly font object in place: at least `px`, and coloured where it named no colour."""
    font.size = max(font.size or 0, px)
    font.color = font.color or colour


def _dress_layout(fig: go.Figure, look: Palette) -> None:
    layout = fig.layout
    _grow(layout.font, look.font_px, look.text)
    _grow(layout.title.font, _title_px(layout.title.text, look), look.text)
    _grow(layout.title.subtitle.font, look.font_px, look.text)
    _grow(layout.legend.font, look.font_px, look.text)
    _grow(layout.legend.title.font, look.font_px, look.text)
    _grow(layout.hoverlabel.font, look.font_px, None)
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        _grow(axis.tickfont, look.font_px, look.text)
        _grow(axis.title.font, look.axis_title_px, look.text)
    for annotation in layout.annotations:  # subplot titles, notes, a diagram's labels
        _grow(annotation.font, look.font_px, look.text)
    for menu in layout.updatemenus:  # the head buttons above the attention matrix, Play / Pause
        _grow(menu.font, look.font_px, look.text)
    for slider in layout.sliders:
        _grow(slider.font, look.font_px, look.text)
        _grow(slider.currentvalue.font, look.font_px, look.text)
    layout.height = round((layout.height or 450) * look.taller)  # 450: Plotly's own default
    if layout.width:
        layout.width = round(layout.width * look.taller)
    if layout.margin.t is not None:
        layout.margin.t = round(layout.margin.t * look.taller)


TITLE_ROOM_PX = 1150  # a title's width at 1280 × 720 with the sidebar folded away; Plotly does not wrap titles


def _title_px(title: str | None, look: Palette) -> int:
    """The title's size: the palette's, or smaller for a long title, down to the smallest text, so that it fits."""
    width = _longest([title], 1) if title else 0.0
    return int(np.clip(TITLE_ROOM_PX / width, look.font_px, look.title_px)) if width else look.title_px


def _dress_trace(trace, look: Palette) -> None:
    # Only a colour bar that shows: touching a hidden one's font would make Plotly draw it.
    marker = getattr(trace, "marker", None)
    if "colorbar" in trace and trace.showscale is not False:
        colorbar = trace.colorbar
    elif marker is not None and "colorbar" in marker and marker.showscale:
        colorbar = marker.colorbar
    else:
        colorbar = None
    if colorbar is not None:
        _grow(colorbar.tickfont, look.font_px, look.text)
        _grow(colorbar.title.font, look.font_px, look.text)
    textfont = getattr(trace, "textfont", None)
    if textfont is None:
        return
    if trace.type == "heatmap":  # cell text: Plotly fits its size to the cell unless a size was given
        if textfont.size:
            textfont.size = max(textfont.size, round(look.font_px * 0.8))
    elif getattr(trace, "text", None) is not None or getattr(trace, "texttemplate", None):
        _grow(textfont, look.font_px, None)


LABELS_BELOW_PX = 150  # what a figure keeps under its plot for slanted labels and an axis title, roughly


def _room_for_labels(fig: go.Figure, look: Palette) -> None:
    """A figure whose vertical axis names its ticks (tokens, every k-th of a long text) grows until the names,
    at the room's size, no longer overlap."""
    axis = fig.layout.yaxis
    names = axis.ticktext
    if names is None and axis.type == "category":
        names = next((trace.y for trace in fig.data if trace.type == "heatmap" and trace.y is not None), None)
    if names is None:
        return
    plot = fig.layout.height - (fig.layout.margin.t or 80) - LABELS_BELOW_PX
    need = len(names) * look.font_px * 1.25
    if need > plot:
        fig.layout.height = round(fig.layout.height + need - plot)


def _square_cells(fig: go.Figure, look: Palette) -> None:
    """One heat map of a few rows and columns (a short text's attention, its similarities) in square cells of a
    size a room sees, the figure as wide and tall as they need: a 12-token matrix on a wide screen is otherwise
    a thin strip."""
    heat = [trace for trace in fig.data if trace.type == "heatmap"]
    if not heat or any((trace.xaxis or "x") != "x" or (trace.yaxis or "y") != "y" for trace in fig.data):
        return
    xaxis, yaxis = fig.layout.xaxis, fig.layout.yaxis
    if xaxis.scaleanchor or yaxis.scaleanchor or xaxis.side == "top":
        return
    shapes = {np.shape(trace.z)[:2] if trace.z is not None else (0, 0) for trace in heat}
    labelled = all(axis is None or all(isinstance(v, str) for v in axis) for trace in heat for axis in (trace.x, trace.y))
    (rows, cols), limit = next(iter(shapes)), look.square_cells_up_to
    if not (labelled and len(shapes) == 1 and 0 < rows <= limit and 0 < cols <= limit and max(rows, cols) <= 2 * min(rows, cols)):
        return
    cell = float(np.clip(MATRIX_PX / max(rows, cols), look.font_px * 4 / 3, look.font_px * 8 / 3))
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain", constraintoward="top")
    fig.update_xaxes(constrain="domain", constraintoward="left")
    # Margins as Plotly's automargin will make them, estimated from the labels: the figure then holds the matrix
    # with little white beside it, and the colour bar sits next to it rather than across the page.
    x_labels = _longest(xaxis.ticktext or heat[0].x, look.font_px)
    y_labels = _longest(yaxis.ticktext or heat[0].y, look.font_px)
    slant = abs(np.sin(np.radians(xaxis.tickangle))) if isinstance(xaxis.tickangle, int | float) else 0.0
    titles = look.axis_title_px + 24
    bottom = max(x_labels * slant, look.font_px) + (titles if xaxis.title.text else 0) + 20
    left = y_labels + (titles if yaxis.title.text else 0) + 20
    right = 130 if any(trace.showscale is not False for trace in heat) else 20
    fig.layout.height = round((fig.layout.margin.t or 80) + rows * cell + bottom)
    buttons = max((sum(_longest([b.label], look.font_px) + 24 for b in menu.buttons) for menu in fig.layout.updatemenus
                   if menu.direction in (None, "right", "left")), default=0.0)  # a row of head buttons above the matrix
    title = _longest([fig.layout.title.text], fig.layout.title.font.size or look.title_px) if fig.layout.title.text else 0.0
    fig.layout.width = round(max(left + max(cols * cell + right, buttons + 20), title + 80))  # the title is never cut


MATRIX_PX = 860  # a matrix's side on a projector, unless its cells would be under 4/3 or over 8/3 of the type


def _longest(labels, px: int) -> float:
    """The width in pixels of the longest label at `px`: wide (CJK) characters a full em, others about 0.6."""
    return max((sum(px if ord(c) >= 0x2E80 else 0.6 * px for c in str(label)) for label in labels or ()), default=0.0)
