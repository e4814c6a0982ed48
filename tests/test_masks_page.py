"""The Masks page in AppTest: both languages, its presets, the two ways of masking on the chosen head,
the padding proof from the core, every kind of attention of the encoder–decoder, and hostile text."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.lessons.mask_experiments import padding_check, two_ways
from tests.support import pages
from tests.support.models import loaded
from tests.support.pages import HOSTILE, chart, plotly_array, raw_html_bodies, table
from viz import i18n, state
from viz.loading import get_trace
from viz.presets import for_page

PAGE = "viz/pages/masks.py"


def open_page(text: str = "I am a student", model: str = "smollm2-135m", **params: str) -> AppTest:
    return pages.open_page(PAGE, session={state.MODEL: model, state.TEXT: text}, query=params)


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_every_preset_in_both_languages(language):
    at = open_page(text="something else", lang=language)
    translate = i18n.translator(language)
    for index, preset in enumerate(for_page("masks")):
        at.button(key=f"preset-masks-{index}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state[state.TEXT] == preset.text
        assert any(translate(preset.note) in info.value for info in at.info), preset.label
        assert len(at.get("plotly_chart")) >= 5 and len(at.metric) == 3
    if language == "zh":
        assert any("\u4e00" <= char <= "\u9fff" for char in at.header[0].value)


def test_the_two_ways_are_drawn_from_the_chosen_heads_recorded_scores():
    text = "I am a student who reads"
    at = open_page(text=text, layer="2", head="1")
    assert (at.session_state[state.LAYER], at.session_state[state.HEAD]) == (2, 1)
    record = get_trace("smollm2-135m", text).layers[2].self_attn
    ways = two_ways(record.scores[1], record.mask)
    data = chart(at, "masked two ways")["data"]
    heatmaps = [d for d in data if d["type"] == "heatmap"]
    np.testing.assert_allclose(plotly_array(heatmaps[0]["z"]), ways.wrong, atol=1e-6)
    np.testing.assert_allclose(plotly_array(heatmaps[1]["z"]), ways.right, atol=1e-6)
    bars = next(d for d in data if d["type"] == "bar")
    np.testing.assert_allclose(plotly_array(bars["x"]), ways.leaked, rtol=1e-6)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Leaked weight, all rows"] == f"{ways.total_leaked:.3f}"
    assert metrics["Right way, on masked keys"] == "0.0"


def test_the_padding_table_is_the_cores_proof():
    at = open_page(text="The animal didn't cross the street because it was too tired", pad="Hello there")
    assert at.session_state[state.PAD] == "Hello there"
    rows = {row["model"]: row for row in table(at)[-1]}
    for name in ("smollm2-135m", "minilm-l6"):
        lm = loaded(name)
        check = padding_check(lm, ("The animal didn't cross the street because it was too tired", "Hello there"))
        row = rows[lm.info.title]
        assert row["max |difference|, padding masked"] == f"{check.max_masked:.2g}"
        assert row["max |difference|, padding not masked"] == f"{check.max_unmasked:.2g}"
        assert check.max_masked < 1e-3
    assert float(rows[loaded("minilm-l6").info.title]["max |difference|, padding not masked"]) > 0.01
    padding = chart(at, "shorter sentence's mask")["data"][0]
    assert (plotly_array(padding["z"]) == 1).any()  # orange padding cells


def test_an_empty_second_sentence_takes_the_first_half_of_the_text():
    at = open_page(text="one two three four five six")
    frames = [frame.value for frame in at.dataframe]
    tokens = frames[0]  # the batch, one row per sentence
    assert "four" not in " ".join(str(v) for v in tokens.iloc[1].tolist())


def test_the_encoder_decoder_shows_every_kind_of_attention():
    at = open_page(model="classic", text="a cat")
    titles = [c for c in ("encoder self-attention", "self-attention, layers", "cross-attention")]
    for title in titles:
        chart(at, title)
    assert any("sliding window" in caption.value for caption in at.caption)


def test_an_encoder_is_chosen_and_the_decoder_still_shows_the_two_ways():
    at = open_page(model="minilm-l6")
    chart(at, "full (bidirectional)")
    chart(at, "masked two ways")  # the installed decoder's head, found by its causal mask


@pytest.mark.parametrize("text", [HOSTILE, "   ", "\x00"])
def test_odd_and_hostile_text_never_breaks_the_page(text):
    at = open_page(text=text)
    assert not at.error, [e.value for e in at.error]
    for body in raw_html_bodies(at):
        assert "<img" not in body and "<script" not in body
    if not text.strip():
        assert at.info
