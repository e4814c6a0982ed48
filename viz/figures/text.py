"""Text inside Plotly figures."""

import html
from collections.abc import Sequence

from ..i18n import Translate, identity
from ..tokens import position_note

# Probabilities as a student reads them, never with Plotly's SI prefixes (100μ, 10n, 5m): percentages on a linear
# axis (0.25 → 25%, 0.00002 → 0.002%), powers of ten on a log one (10⁻⁴).
PERCENT_TICKS = dict(tickformat=".3~p")
LOG_TICKS = dict(type="log", exponentformat="power", dtick=1)
SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(exponent: int) -> str:
    """10⁻⁴ for -4; 1 for 0."""
    return "1" if exponent == 0 else "10" + str(exponent).translate(SUPERSCRIPTS)


def plotly_text(text: str) -> str:
    """Plotly reads <b>, <s>, <a …> in text, so escape tags; it does not decode &quot;, so leave quotes."""
    return html.escape(str(text), quote=False)


def checked_labels(labels: Sequence[str], n: int, what: str) -> list[str]:
    """`n` labels for `what` (an axis, a column), escaped for Plotly; ValueError for another count."""
    if len(labels) != n:
        raise ValueError(f"{what} needs {n} labels, got {len(labels)}")
    return [plotly_text(label) for label in labels]


def numbered_repeats(labels: list[str]) -> list[str]:
    """Category axes merge equal labels: number the repeated ones."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def token_axis_title(title: str, labels: Sequence[str], _: Translate = identity) -> str | None:
    """The title of an axis of tokens and, on a smaller second line, what the position beside some labels means
    where the axis has any (viz.tokens.axis_labels: "明·3"); None for no title at all."""
    note = position_note(labels, _)
    lines = [title] + ([f"<span style='font-size:0.85em'>{plotly_text(note)}</span>"] if note else [])
    return "<br>".join(line for line in lines if line) or None
