"""Token and user text inside st.markdown, shown as itself."""

from __future__ import annotations

import re


def markdown_literal(text: str) -> str:
    """Token text inside st.markdown: every Markdown/LaTeX character shown as itself."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$&])", r"\\\1", text)
