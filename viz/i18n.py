"""Two languages: gettext message catalogues for interface strings, Markdown files for explanations.

Interface strings are written in English inside `_()` (the msgid) and translated by
`viz/locales/<lang>/LC_MESSAGES/messages.po`, read at run time with Babel, so a
translator works in ordinary .po tools (`make messages` updates the catalogues
from the source). Longer explanations are `viz/explanations/<name>.<lang>.md`.

Nothing here knows about Streamlit: `viz.state` picks the language of a session,
and figure builders receive a translating function as their `_` argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"
SOURCE_LANGUAGE = "en"  # the msgids are English
LOCALES = Path(__file__).parent / "locales"
EXPLANATIONS = Path(__file__).parent / "explanations"
# A test-only language that wraps every translated string in marks, so a test can find any
# visible text that did not pass through the catalogues.
PSEUDO_LANGUAGE, PSEUDO_OPEN, PSEUDO_CLOSE = "qps", "⟦", "⟧"

Translate = Callable[[str], str]


def identity(message: str) -> str:
    return message


def catalogue_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """msgid -> translation for every translated, non-fuzzy message of `language`."""
    path = catalogue_path(language)
    if language == SOURCE_LANGUAGE or not path.exists():
        return {}
    with path.open("rb") as handle:
        messages = read_po(handle, locale=language)
    return {m.id: m.string for m in messages if m.id and m.string and not m.fuzzy and isinstance(m.id, str)}


@functools.cache
def translator(language: str) -> Translate:
    """A function from an English message to its translation (the message itself where none exists)."""
    if language == PSEUDO_LANGUAGE:
        return lambda message: f"{PSEUDO_OPEN}{message}{PSEUDO_CLOSE}"
    table = catalogue(language)
    return lambda message: table.get(message, message)


def explanation_path(name: str, language: str) -> Path:
    return EXPLANATIONS / f"{name}.{language}.md"


@functools.cache
def explanation(name: str, language: str) -> str:
    """The Markdown of an explanation in `language`, falling back to English."""
    if language == PSEUDO_LANGUAGE:
        return f"{PSEUDO_OPEN}{explanation(name, SOURCE_LANGUAGE)}{PSEUDO_CLOSE}"
    path = explanation_path(name, language)
    if not path.exists():
        path = explanation_path(name, SOURCE_LANGUAGE)
    return path.read_text(encoding="utf-8").strip()


def language_of_locale(locale: str | None) -> str | None:
    """'zh-CN', 'zh_Hans_TW', 'en-GB' -> 'zh' / 'en'; None for languages the app does not speak."""
    if not locale:
        return None
    code = str(locale).replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None
