"""Text inside Plotly figures."""

import html

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
