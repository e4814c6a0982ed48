"""A text of more than 2,048 tokens: the core keeps its first 2,048 with a notice, and every page of the
catalogue renders it without an exception. Pages read the lazy trace (one head, one query's row, the
summaries), so none of them asks for every head's T x T matrices."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runtime.language_model import DEFAULT_MAX_TOKENS
from viz import catalog, state, url
from viz.loading import cached_model

pytestmark = pytest.mark.long

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MODEL = "smollm2-135m"
CORPUS = (Path(__file__).resolve().parents[1] / "bench" / "corpus.txt").read_text()


@pytest.fixture(scope="module")
def long_text() -> str:
    """The benchmark's paragraph repeated to just past the model's 2,048 tokens, within the URL's limit."""
    tokenizer, text = cached_model(MODEL).tokenizer, CORPUS
    while len(tokenizer.encode(text).ids) <= DEFAULT_MAX_TOKENS:
        text += "\n" + CORPUS
    assert len(text) <= state.MAX_TEXT_CHARS
    return text


def test_a_text_that_fills_the_context_is_allowed_in_the_link(long_text):
    assert url.URL_PARAMS[state.TEXT].valid(long_text)


@pytest.mark.parametrize("page", catalog.PAGES, ids=lambda page: page.id)
def test_every_page_renders_2048_tokens(page, long_text):
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state[state.MODEL] = MODEL
    at.session_state[state.TEXT] = long_text
    at.switch_page(page.script).run()
    assert not at.exception, [e.value for e in at.exception]
    if page.id in ("attention", "next_token", "embeddings", "masks"):
        shown = f"{DEFAULT_MAX_TOKENS:,}"
        assert any(shown in warning.value and "only the first" in warning.value for warning in at.warning), page.id
