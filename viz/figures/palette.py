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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Palette:
    name: str
    weights: str  # sequential Plotly colour scale for weights in [0, 1] (attention, probabilities)
    masked: str  # cells a mask forbids
    line: str  # lines and bars of one series
    highlight: str  # the chosen / current item, the model's answer


SCREEN = Palette("screen", weights="Blues", masked="#9e9e9e", line="#08519c", highlight="#d62728")
PRESENTER = Palette("presenter", weights="Viridis", masked="#9e9e9e", line="#3b0f70", highlight="#e66100")
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
