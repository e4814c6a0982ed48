"""The Attention page in AppTest: MiniLM and the classic encoder-decoder, head stepping from the cached
trace, and junk layer/head values in the URL."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import LanguageModel
from viz.loading import get_trace, trace_cache
from viz.views.attention import AVERAGE, HEAD_KEY, KIND_KEY, LAYER_KEY, MODE_KEY, QUERY_KEY

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "viz/pages/attention.py"
# Texts no other test traces, so the trace cache cannot hide a model run from the counter.
TEXT = "The attention page test watched the model look at it once"
CLASSIC_TEXT = "a cat"


@pytest.fixture(scope="module")
def traces():
    """Counts LanguageModel.trace calls made through the page."""
    counts = Counter()
    original = LanguageModel.trace

    def counting(self, *args, **kwargs):
        counts[self.name] += 1
        return original(self, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(LanguageModel, "trace", counting)
    yield counts
    patch.undo()


def _open(model: str, text: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model"] = model
    at.session_state["text"] = text
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _array(value) -> np.ndarray:
    """Plotly serialises numpy arrays as {"dtype", "bdata", "shape"}."""
    shape = [int(n) for n in value["shape"].split(",")] if "shape" in value else -1
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).reshape(shape)


def _heatmap(at: AppTest) -> dict:
    """The main view's weights trace (the first chart on the page)."""
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]


def _probs(model: str, text: str, layer: int, head: int, target: str | None = None, kind: str = "self_attn"):
    return getattr(get_trace(model, text, target).layers[layer], kind).probs[head].astype(np.float32)


def test_stepping_the_head_reads_the_cached_trace(traces):
    trace_cache().clear()
    at = _open("minilm-l6", TEXT)
    assert traces["minilm-l6"] == 1
    before = _heatmap(at)
    np.testing.assert_array_equal(_array(before["z"]), _probs("minilm-l6", TEXT, 0, 0))
    assert before["y"][0] == "[CLS]"

    at.button(key="head-next").click().run()
    assert not at.exception
    after = _heatmap(at)
    assert at.session_state[HEAD_KEY] == 1
    assert after["z"] != before["z"]
    np.testing.assert_array_equal(_array(after["z"]), _probs("minilm-l6", TEXT, 0, 1))

    at.button(key="layer-next").click().run()
    np.testing.assert_array_equal(_array(_heatmap(at)["z"]), _probs("minilm-l6", TEXT, 1, 1))
    assert traces["minilm-l6"] == 1  # three views, one model run


def test_average_over_heads_is_the_mean_of_the_heads():
    at = _open("minilm-l6", TEXT)
    at.radio(key=MODE_KEY).set_value(AVERAGE).run()
    probs = get_trace("minilm-l6", TEXT).layers[0].self_attn.probs.astype(np.float32)
    np.testing.assert_allclose(_array(_heatmap(at)["z"]), probs.mean(axis=0), rtol=1e-6)
    assert at.button(key="head-next").disabled


def test_a_preset_loads_its_text_and_a_new_text_resets_the_query():
    at = _open("minilm-l6", TEXT)
    at.button(key="preset-attention-1").click().run()  # "it … narrow"
    assert not at.exception
    assert at.session_state["text"].endswith("too narrow")
    assert any("street" in info.value for info in at.info)  # the preset's note
    assert _heatmap(at)["x"][-2] == "narrow"
    assert at.selectbox(key=QUERY_KEY).value == "it"  # the preset's focus word
    at.session_state["text"] = "no such pronoun here"
    at.run()
    assert not at.exception
    # The old choice does not belong to the new text: the picker falls back to its last token.
    assert at.selectbox(key=QUERY_KEY).value == "[SEP]"
    assert "it" not in at.selectbox(key=QUERY_KEY).options


def test_the_query_it_is_preselected_and_sinks_are_named():
    at = _open("minilm-l6", TEXT)
    assert at.selectbox(key=QUERY_KEY).value == "[SEP]"  # no preset: the last token
    at.selectbox(key=QUERY_KEY).set_value("it").run()
    assert at.selectbox(key=QUERY_KEY).value == "it"
    assert at.query_params[QUERY_KEY] == "it"
    assert any("[CLS" in info.value for info in at.info)  # "…goes to the special and first tokens: “\[CLS\]” …"
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    assert any("Where does “it” look?" in title for title in titles)


def test_hiding_sinks_drops_cls_and_sep_and_renormalises():
    at = _open("minilm-l6", TEXT)
    at.toggle[0].set_value(True).run()
    heatmap = _heatmap(at)
    assert "[CLS]" not in heatmap["x"] and "[SEP]" not in heatmap["x"] and "[CLS]" in heatmap["y"]
    np.testing.assert_allclose(_array(heatmap["z"]).sum(axis=1), 1.0, rtol=1e-5)


def test_classic_shows_every_kind_of_attention():
    at = _open("classic", CLASSIC_TEXT)
    assert any("untrained" in warning.value for warning in at.warning)
    kinds = ["self", "cross", "encoder"]
    assert len(at.radio(key=KIND_KEY).options) == 3
    source_tokens = len(get_trace("classic", CLASSIC_TEXT, CLASSIC_TEXT).encoder.tokens)
    shapes = {}
    for kind in kinds:
        at.radio(key=KIND_KEY).set_value(kind).run()
        assert not at.exception, kind
        shapes[kind] = _array(_heatmap(at)["z"]).shape
    cross = "cross"
    np.testing.assert_array_equal(_array(_heatmap(at.radio(key=KIND_KEY).set_value(cross).run())["z"]),
                                  _probs("classic", CLASSIC_TEXT, 0, 0, CLASSIC_TEXT, "cross_attn"))
    # By default the decoder reads the source text too, behind its start token.
    assert set(shapes.values()) == {(source_tokens, source_tokens)}

    decoder = "self"
    at.radio(key=KIND_KEY).set_value(decoder).run()
    z = _array(_heatmap(at)["z"])
    np.testing.assert_array_equal(np.isnan(z), ~np.tril(np.ones(z.shape, dtype=bool)))  # the causal mask

    at.text_input[0].input("un chat").run()
    assert not at.exception
    assert _array(_heatmap(at)["z"]).shape == (len("un chat") + 1,) * 2
    at.radio(key=KIND_KEY).set_value(cross).run()
    assert _array(_heatmap(at)["z"]).shape == (len("un chat") + 1, source_tokens)


@pytest.mark.parametrize(("layer", "head", "expected"), [("abc", "1", (0, 1)), ("999", "-3", (5, 0)),
                                                         ("", "99", (0, 11)), ("4", "7", (4, 7))])
def test_junk_in_the_url_is_clamped(layer, head, expected):
    at = _open("minilm-l6", TEXT, layer=layer, head=head)
    assert (at.session_state[LAYER_KEY], at.session_state[HEAD_KEY]) == expected
    if (layer, head) != ("4", "7"):
        assert at.warning, "a junk value is replaced with a visible notice"
    np.testing.assert_array_equal(_array(_heatmap(at)["z"]), _probs("minilm-l6", TEXT, *expected))


def test_a_model_with_fewer_layers_clamps_the_layer():
    at = _open("minilm-l6", CLASSIC_TEXT, layer="5")
    assert at.session_state[LAYER_KEY] == 5
    at.session_state["model"] = "classic"
    at.run()
    assert not at.exception
    assert at.session_state[LAYER_KEY] == 1  # the classic decoder has 2 layers


def test_smollm2_masks_the_future_and_names_its_first_token_sink():
    at = _open("smollm2-135m", TEXT)
    z = _array(_heatmap(at)["z"])
    np.testing.assert_array_equal(np.isnan(z), ~np.tril(np.ones(z.shape, dtype=bool)))
    np.testing.assert_array_equal(z[~np.isnan(z)], _probs("smollm2-135m", TEXT, 0, 0)[~np.isnan(z)])
    assert any("“The”" in info.value for info in at.info)  # no start token: the first word soaks up attention
    assert at.selectbox(key=QUERY_KEY).value == "once"
