"""The Embeddings page in AppTest: both languages, the presets with the model's true numbers, the token
picker and its link, contexts layer by layer, a decoder's identical vectors, and hostile or empty text."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.lessons import embeddings as emb
from tests.support import pages
from viz import i18n, state
from viz.loading import get_model, get_trace
from viz.presets import for_page

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "viz/pages/embeddings.py"
HOSTILE = '<img src=x onerror=alert(1)>\n<script>alert("x")</script>\n<b>bold</b> bank'
BANK = next(p for p in for_page("embeddings") if p.focus == "bank")


def open_page(text: str, model: str = "smollm2-135m", **params: str) -> AppTest:
    return pages.open_page(PAGE, session={state.TEXT: text, state.MODEL: model}, query=params, home_first=True)


def click_preset(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart(at: AppTest, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if key in c.proto.id)


def array(value) -> np.ndarray:
    if isinstance(value, list):
        return np.array(value, dtype=np.float64)
    shape = [int(n) for n in value["shape"].split(",")] if "shape" in value else -1
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).reshape(shape)


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_every_preset_in_both_languages(language):
    at = open_page("Hello", lang=language)
    translate = i18n.translator(language)
    assert translate("Embeddings") in at.title[0].value
    for preset in for_page("embeddings"):
        click_preset(at, translate(preset.label))
        assert at.session_state[state.TEXT] == preset.text
        assert any(translate(preset.note) in info.value for info in at.info), preset.label
        assert not at.error
        if language == "zh":
            assert any("\u4e00" <= c <= "\u9fff" for h in at.header for c in h.value)


def test_the_heat_map_and_nearest_tokens_are_the_model_s_numbers():
    text = "The animal didn't cross the street because it was too tired"
    at = open_page(text)
    trace = get_trace("smollm2-135m", text)
    heat = chart(at, "embeddings_heatmap")["data"][0]
    np.testing.assert_array_equal(array(heat["z"]), trace.stack.embeddings.astype(np.float32))
    position = at.selectbox(key=state.TOKEN).value
    assert trace.tokens[position] == "Ġanimal"  # the first word of four letters or more
    lm = get_model("smollm2-135m")
    table = at.dataframe[0].value
    expected = emb.nearest_tokens(lm, trace.token_ids[position], 10)
    assert list(table["id"]) == [n.token_id for n in expected]
    at.selectbox(key=state.TOKEN).set_value(4).run()
    assert at.query_params[state.TOKEN] == "4"
    assert list(at.dataframe[0].value["id"]) == [n.token_id for n in emb.nearest_tokens(lm, trace.token_ids[4], 10)]


def test_monkey_banana_and_atomic_energy_with_the_true_cosines():
    at = click_preset(open_page("Hello"), "monkey / banana / atomic energy")
    matrix = array(chart(at, "embeddings_similarity")["data"][0]["z"]).reshape(3, 3)
    minilm = get_model("minilm-l6")
    expected = emb.cosine_matrix(np.stack([minilm.sentence_embedding(w) for w in ("monkey", "banana",
                                                                                   "atomic energy")]))
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    assert round(float(matrix[0, 1]), 2) == 0.63 and round(float(matrix[2, 1]), 2) == 0.22
    assert any("Closest: **monkey** and **banana** (0.63)" in m.value for m in at.markdown)


def test_the_chinese_words_are_unknown_to_the_sentence_model_and_the_page_says_so():
    at = click_preset(open_page("Hello"), "猴子 / 香蕉 / 原子能")
    warning = next(w.value for w in at.warning if "[UNK]" in w.value)
    assert "猴" in warning and "蕉" in warning


def test_bank_moves_apart_layer_by_layer_in_the_encoder():
    at = click_preset(open_page("Hello"), BANK.label)
    assert at.session_state[state.MODEL] == "minilm-l6"
    figure = chart(at, "embeddings_layers")
    lines = [BANK.text.splitlines()[i] for i in range(3)]
    stacks = [get_trace("minilm-l6", line).stack for line in lines]
    bank = get_model("minilm-l6").tokenizer.encode("bank").ids[1]
    positions = [s.token_ids.index(bank) for s in stacks]
    money_water = emb.layer_cosines(stacks[0].hidden_states, positions[0], stacks[1].hidden_states, positions[1])
    np.testing.assert_allclose(array(figure["data"][0]["y"]), money_water, atol=1e-6)
    assert money_water[0] == pytest.approx(1.0, abs=1e-3) and money_water[-1] < 0.95
    assert round(float(money_water[-1]), 2) == 0.93  # the last layer, as the README's Embeddings row prints it
    assert at.slider(key=state.HIDDEN).value == 6  # the last layer first
    at.slider(key=state.HIDDEN).set_value(2).run()
    assert not at.exception and at.query_params[state.HIDDEN] == "2"
    scatter = chart(at, "embeddings_context-2d")
    assert sum(len(array(trace["x"])) for trace in scatter["data"]) == sum(len(s.token_ids) for s in stacks)


def test_a_decoder_keeps_bank_identical_and_says_why():
    at = open_page(BANK.text)
    assert any("in a decoder each token sees only the tokens before it" in i.value for i in at.info)
    switch = next(b for b in at.button if b.key == "embeddings-switch-minilm-l6")
    switch.click().run()
    assert at.session_state[state.MODEL] == "minilm-l6" and not at.exception


def test_hostile_text_shows_as_text():
    at = open_page(HOSTILE)
    for model in ("smollm2-135m", "minilm-l6", "classic"):
        at.selectbox(key=state.MODEL).set_value(model).run()
        assert not at.exception
        for spec in (json.loads(c.proto.spec) for c in at.get("plotly_chart")):
            assert "<img" not in json.dumps(spec) and "<script" not in json.dumps(spec)
        assert not [h for h in at.html if "<img" in h.value or "<script" in h.value]
    labels = chart(at, "embeddings_similarity")["data"][0]["x"]
    assert labels[0] == "&lt;img src=x onerror=alert(1)&gt;"


def test_a_single_line_compares_its_words_and_an_empty_text_asks_for_one():
    at = open_page("The cat sat on the mat")
    assert any("its words are compared" in c.value for c in at.caption)
    assert chart(at, "embeddings_similarity")["data"][0]["x"] == ["The", "cat", "sat", "on", "mat"]
    at = open_page("")
    assert any("Type a text" in i.value for i in at.info) and not at.get("plotly_chart")


def test_only_the_open_projection_tab_is_drawn():
    """A hidden 3-D scene is not sent: it cost the browser more than the rest of the page (software WebGL)."""
    at = click_preset(open_page("Hello"), BANK.label)
    ids = [c.proto.id for c in at.get("plotly_chart")]
    assert any("embeddings_context-2d" in i for i in ids) and not any("-3d" in i for i in ids)
    at.session_state["embeddings_context-tabs"] = "3-D"
    at.run()
    ids = [c.proto.id for c in at.get("plotly_chart")]
    assert any("embeddings_context-3d" in i for i in ids) and not any("embeddings_context-2d" in i for i in ids)
    scatter = chart(at, "embeddings_context-3d")
    assert scatter["data"][0]["type"] == "scatter3d"
