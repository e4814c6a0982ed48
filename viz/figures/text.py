"""Text inside Plotly figures."""

import html


def plotly_text(text: str) -> str:
    """Plotly reads <b>, <s>, <a …> in text, so escape tags; it does not decode &quot;, so leave quotes."""
    return html.escape(str(text), quote=False)
