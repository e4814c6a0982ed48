"""The page on how a tokenizer is learned, in AppTest: both languages, the preset, stepping through the
merges, a pasted corpus (hostile, empty, too long) and links with a step out of range."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.text import bpe_training as bpe
from tests.support import pages
from viz import i18n, state
from viz.presets import for_page
from viz.views.models import tokenizer_models
from viz.views.tokenizer_training import OWN_TEXT_KEY, SNAPSHOTS, trained

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "viz/pages/tokenizer_training.py"
HOSTILE = '<img src=x onerror=alert(1)> <script>alert("x")</script> <img src=x onerror=alert(1)>'


class Chips(HTMLParser):
    """The text of each token chip in one st.html block (a chip is a span with a title)."""

    def __init__(self, markup: str):
        super().__init__()
        self.texts, self.tags, self._depth = [], [], 0
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if "title" in dict(attrs):
            self.texts.append("")
            self._depth = 1
        elif tag == "span" and self._depth:
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "span" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth == 1:
            self.texts[-1] += data


def open_page(text: str = "AI+编程 扬帆起航", **params: str) -> AppTest:
    return pages.open_page(PAGE, session={state.TEXT: text}, query=params, home_first=True)


def chip_blocks(at: AppTest) -> list[list[str]]:
    return [Chips(h.value).texts for h in at.html if 'class="ts-chips"' in h.value]


def plotly_array(value) -> np.ndarray:
    """Plotly sends numpy arrays as {"dtype", "bdata"}."""
    if isinstance(value, list):
        return np.array(value)
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def lesson(merges: int = bpe.DEFAULT_MERGES) -> bpe.TrainedBPE:
    return trained(bpe.lesson_corpus(), merges)


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_lesson_corpus_trains_and_the_page_speaks_both_languages(language):
    at = open_page(lang=language)
    translate = i18n.translator(language)
    assert translate("How a tokenizer is learned") in at.title[0].value
    assert metric(at, translate("Merges learned")) == "1,000"
    assert metric(at, translate("Bytes = tokens before any merge")) == f"{len(bpe.lesson_corpus().encode()):,}"
    assert at.latex, "the formula is shown"
    if language == "zh":
        assert any("\u4e00" <= c <= "\u9fff" for m in at.markdown for c in m.value)


def test_the_preset_watches_a_chinese_word_become_one_token():
    at = open_page("Hello")
    preset = for_page("tokenizer_training")[0]
    next(b for b in at.button if b.label == preset.label).click().run()
    assert not at.exception
    assert at.session_state[state.TEXT] == preset.text
    assert any(preset.note in info.value for info in at.info)
    blocks = chip_blocks(at)
    # The slider's view, then 0, 10, 100, 1,000 merges, then one block per real tokenizer.
    after = {k: blocks[1 + i] for i, k in enumerate(SNAPSHOTS)}
    assert len(after[0]) == len(preset.text.encode("utf-8"))  # bytes, one token each
    assert "编程" in after[1_000] and "编程" not in after[0]
    assert len(after[1_000]) == len(lesson().tokenizer(1_000).encode(preset.text).ids) < len(after[0])
    curve = plotly_array(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"])
    assert curve[0] == len(preset.text.encode("utf-8"))
    assert list(curve) == list(lesson().tokens_after_each_merge(preset.text))
    assert len(blocks) == 1 + 4 + len(tokenizer_models())


def test_stepping_through_the_merges_shows_each_pair_and_its_count():
    at = open_page()
    result = lesson()
    at.slider(key=state.STEP).set_value(6).run()
    assert not at.exception
    merge = result.merges[5]
    shown = next(m.value for m in at.markdown if m.value.startswith("**Merge 6:**"))
    assert f"**{merge.count:,}**" in shown and "`␣t` + `he` → `␣the`" in shown
    assert at.query_params[state.STEP] == "6"
    at.button(key=f"{state.STEP}-next").click().run()
    assert at.slider(key=state.STEP).value == 7
    assert any(m.value.startswith("**Merge 7:**") for m in at.markdown)
    # The sentence's chips under the slider are the library's tokens after 7 merges.
    assert len(chip_blocks(at)[0]) == len(result.tokenizer(7).encode("AI+编程 扬帆起航").ids)
    table = at.dataframe[0].value
    assert list(table.iloc[:, 5]) == [m.count for m in result.merges[1:12]]


def test_a_pasted_hostile_corpus_trains_and_shows_as_text():
    at = open_page(HOSTILE)
    at.radio(key=state.CORPUS).set_value("own").run()
    assert any("Paste a text" in i.value for i in at.info)
    at.text_area(key=OWN_TEXT_KEY).input(HOSTILE * 3).run()
    assert not at.exception
    expected = bpe.train(HOSTILE * 3, bpe.DEFAULT_MERGES)
    assert metric(at, "Merges learned") == f"{expected.n_merges:,}" and expected.n_merges > 10
    for h in at.html:
        assert "<img" not in h.value and "<script" not in h.value
        assert set(Chips(h.value).tags) <= {"style", "div", "span", "br", "p"}
    assert any("&lt;" in h.value for h in at.html)  # the sentence itself, escaped
    assert at.query_params[state.CORPUS] == "own"


def test_a_corpus_over_the_limit_is_cut_with_a_notice():
    at = open_page("short")
    at.radio(key=state.CORPUS).set_value("own").run()
    at.text_area(key=OWN_TEXT_KEY).input("Tokens and merges. " * 20_000).run()  # 380,000 bytes
    assert not at.exception
    assert any("training uses its first" in w.value for w in at.warning)


def test_a_step_beyond_the_merges_learned_is_clamped_with_a_notice():
    at = open_page(**{state.STEP: "3000", state.MERGES: "100"})
    assert at.slider(key=state.STEP).value == 100
    assert any("out of range" in w.value for w in at.warning)


def test_without_a_sentence_the_page_asks_for_one_and_still_trains():
    at = open_page("")
    assert any("Type a text" in i.value for i in at.info)
    assert metric(at, "Merges learned") == "1,000"
    assert chip_blocks(at) == []
