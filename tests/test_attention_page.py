"""The Attention page in AppTest: MiniLM and the classic encoder-decoder, head stepping from the cached
trace, and junk layer/head values in the URL."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import LanguageModel
from core.lessons.head_ranking import rank_heads
from tests.support.pages import open_page, plotly_array
from viz.loading import get_trace, trace_cache
from viz.views.attention import (
    AVERAGE,
    EVERY_QUERY,
    HEAD_KEY,
    KIND_KEY,
    LAYER_KEY,
    LINE_WINDOW,
    MODE_KEY,
    QUERY_KEY,
    SCALE_KEY,
)

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
    return open_page(PAGE, session={"model": model, "text": text}, query=params)


def _heatmap(at: AppTest) -> dict:
    """The main view's weights trace: the visible head of the first chart on the page."""
    data = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    return next(t for t in data if t.get("visible", True) is not False and t["name"] != "masked")


def _probs(model: str, text: str, layer: int, head: int, target: str | None = None, kind: str = "self_attn"):
    return getattr(get_trace(model, text, target).layers[layer], kind).probs[head].astype(np.float32)


def test_stepping_the_head_reads_the_cached_trace(traces):
    trace_cache().clear()
    at = _open("minilm-l6", TEXT, layer="0", head="0")
    assert traces["minilm-l6"] == 1
    before = _heatmap(at)
    np.testing.assert_array_equal(plotly_array(before["z"]), _probs("minilm-l6", TEXT, 0, 0))
    assert before["y"][0] == "[CLS]"

    at.button(key="head-next").click().run()
    assert not at.exception
    after = _heatmap(at)
    assert at.session_state[HEAD_KEY] == 1
    assert after["z"] != before["z"]
    np.testing.assert_array_equal(plotly_array(after["z"]), _probs("minilm-l6", TEXT, 0, 1))

    at.button(key="layer-next").click().run()
    np.testing.assert_array_equal(plotly_array(_heatmap(at)["z"]), _probs("minilm-l6", TEXT, 1, 1))
    assert traces["minilm-l6"] == 1  # three views, one model run


def test_average_over_heads_is_the_mean_of_the_heads():
    at = _open("minilm-l6", TEXT, layer="0", head="0")
    at.radio(key=MODE_KEY).set_value(AVERAGE).run()
    record = get_trace("minilm-l6", TEXT).layers[0].self_attn
    np.testing.assert_array_equal(plotly_array(_heatmap(at)["z"]), record.mean_probs())
    # The trace averages the heads' probabilities before rounding them to float16; the mean of the rounded
    # heads agrees to float16's precision.
    np.testing.assert_allclose(record.mean_probs(), record.probs.astype(np.float32).mean(axis=0), rtol=2e-3, atol=1e-6)
    assert at.button(key="head-next").disabled


def test_a_preset_loads_its_text_and_a_new_text_resets_the_query():
    at = _open("minilm-l6", TEXT)
    at.button(key="preset-attention-3").click().run()  # "bank + water", on MiniLM
    assert not at.exception
    assert at.session_state["text"].endswith("some water.")
    assert any("water" in info.value for info in at.info)  # the preset's note
    assert _heatmap(at)["x"][-3] == "water"
    assert at.selectbox(key=QUERY_KEY).value == "bank"  # the preset's focus word
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
    at = _open("minilm-l6", TEXT, layer="0", head="0")
    at.toggle(key="attention_hide_sinks").set_value(True).run()
    heatmap = _heatmap(at)
    assert "[CLS]" not in heatmap["x"] and "[SEP]" not in heatmap["x"] and "[CLS]" in heatmap["y"]
    np.testing.assert_allclose(plotly_array(heatmap["z"]).sum(axis=1), 1.0, rtol=1e-5)


def test_classic_shows_every_kind_of_attention():
    at = _open("classic", CLASSIC_TEXT, layer="0", head="0")
    assert any("untrained" in warning.value for warning in at.warning)
    kinds = ["self", "cross", "encoder"]
    assert len(at.radio(key=KIND_KEY).options) == 3
    source_tokens = len(get_trace("classic", CLASSIC_TEXT, CLASSIC_TEXT).encoder.tokens)
    shapes = {}
    for kind in kinds:
        at.radio(key=KIND_KEY).set_value(kind).run()
        assert not at.exception, kind
        shapes[kind] = plotly_array(_heatmap(at)["z"]).shape
    cross = "cross"
    np.testing.assert_array_equal(plotly_array(_heatmap(at.radio(key=KIND_KEY).set_value(cross).run())["z"]),
                                  _probs("classic", CLASSIC_TEXT, 0, 0, CLASSIC_TEXT, "cross_attn"))
    # By default the decoder reads the source text too, behind its start token.
    assert set(shapes.values()) == {(source_tokens, source_tokens)}

    decoder = "self"
    at.radio(key=KIND_KEY).set_value(decoder).run()
    z = plotly_array(_heatmap(at)["z"])
    np.testing.assert_array_equal(np.isnan(z), ~np.tril(np.ones(z.shape, dtype=bool)))  # the causal mask

    at.text_input[0].input("un chat").run()
    assert not at.exception
    assert plotly_array(_heatmap(at)["z"]).shape == (len("un chat") + 1,) * 2
    at.radio(key=KIND_KEY).set_value(cross).run()
    assert plotly_array(_heatmap(at)["z"]).shape == (len("un chat") + 1, source_tokens)


@pytest.mark.parametrize(("layer", "head", "expected"), [("abc", "1", (0, 1)), ("999", "-3", (5, 0)),
                                                         ("", "99", (0, 11)), ("4", "7", (4, 7))])
def test_junk_in_the_url_is_clamped(layer, head, expected):
    at = _open("minilm-l6", TEXT, layer=layer, head=head)
    assert (at.session_state[LAYER_KEY], at.session_state[HEAD_KEY]) == expected
    if (layer, head) != ("4", "7"):
        assert at.warning, "a junk value is replaced with a visible notice"
    np.testing.assert_array_equal(plotly_array(_heatmap(at)["z"]), _probs("minilm-l6", TEXT, *expected))


def test_a_model_with_fewer_layers_clamps_the_layer():
    at = _open("minilm-l6", CLASSIC_TEXT, layer="5")
    assert at.session_state[LAYER_KEY] == 5
    at.session_state["model"] = "classic"
    at.run()
    assert not at.exception
    assert at.session_state[LAYER_KEY] == 1  # the classic decoder has 2 layers


def test_smollm2_masks_the_future_and_names_its_first_token_sink():
    at = _open("smollm2-135m", TEXT, layer="0", head="0")
    z = plotly_array(_heatmap(at)["z"])
    np.testing.assert_array_equal(np.isnan(z), ~np.tril(np.ones(z.shape, dtype=bool)))
    np.testing.assert_array_equal(z[~np.isnan(z)], _probs("smollm2-135m", TEXT, 0, 0)[~np.isnan(z)])
    assert any("“The”" in info.value for info in at.info)  # no start token: the first word soaks up attention
    assert at.selectbox(key=QUERY_KEY).value == "once"


def test_an_attention_preset_opens_the_head_its_ranking_finds():
    at = _open("smollm2-135m", "Hello")
    at.button(key="preset-attention-0").click().run()  # "it … tired": which word does "it" attend to?
    assert not at.exception
    trace = get_trace("smollm2-135m", at.session_state["text"])
    labels = [t.strip("␣") for t in at.selectbox(key=QUERY_KEY).options[1:]]
    query = labels.index("it")
    sinks = np.zeros(len(labels), dtype=bool)
    sinks[0] = True
    best = rank_heads([layer.self_attn.probs for layer in trace.layers], query, sinks)[0]
    assert (at.session_state[LAYER_KEY], at.session_state[HEAD_KEY]) == (best.layer, best.head)
    assert labels[best.key] == "animal"  # the head shows the preset's point
    assert (best.layer, best.head) == (13, 8)  # as the README's Attention row says
    worth = [b for b in at.button if b.key and b.key.startswith("worth-")]
    assert worth and worth[0].key == f"worth-{best.layer}-{best.head}"
    worth[1].click().run()
    assert at.session_state[LAYER_KEY] != best.layer or at.session_state[HEAD_KEY] != best.head


def test_every_head_of_the_layer_is_in_the_figure_with_a_button_each():
    at = _open("minilm-l6", TEXT, layer="2", head="3")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    heads = [t for t in spec["data"] if t["name"].startswith("head ")]
    probs = get_trace("minilm-l6", TEXT).layers[2].self_attn.probs.astype(np.float32)
    assert len(heads) == len(probs)
    for h, trace in enumerate(heads):
        np.testing.assert_array_equal(plotly_array(trace["z"]), probs[h])
        assert trace.get("visible", True) == (h == 3)
    buttons = spec["layout"]["updatemenus"][0]["buttons"]
    assert [b["label"] for b in buttons] == [f"h{h}" for h in range(len(probs))]
    assert spec["layout"]["updatemenus"][0]["active"] == 3
    for h, button in enumerate(buttons):
        assert button["args"][0]["visible"][: len(probs)] == [i == h for i in range(len(probs))]
        assert button["args"][1]["title.text"].endswith(f"head {h}")


@pytest.mark.parametrize("scale", ["row", "log"])
def test_a_colour_scale_shows_small_weights_and_hover_keeps_the_true_ones(scale):
    at = _open("minilm-l6", TEXT, layer="0", head="0")
    at.selectbox(key=SCALE_KEY).set_value(scale).run()
    trace, exact = _heatmap(at), _probs("minilm-l6", TEXT, 0, 0)
    z, hover = plotly_array(trace["z"]), plotly_array(trace["customdata"])
    np.testing.assert_array_equal(hover, exact)
    expected = exact / exact.max(axis=1, keepdims=True) if scale == "row" else np.log10(np.maximum(exact, 1e-4))
    np.testing.assert_allclose(z, expected, rtol=1e-6)


def test_the_line_view_of_a_long_text_is_a_window_around_the_query():
    long_text = " ".join(f"word{i}" for i in range(80)) + " and it ends"
    at = _open("minilm-l6", long_text)
    lines = next(spec for spec in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                 if any(t.get("name") == "queries" for t in spec["data"]))
    queries = next(t for t in lines["data"] if t["name"] == "queries")["text"]
    assert len(queries) == LINE_WINDOW
    assert any("[SEP]" in q for q in queries)  # the default query, the last token, is inside the window


def test_the_layer_survives_a_visit_to_a_smaller_model():
    at = _open("smollm2-135m", CLASSIC_TEXT, layer="20")
    assert at.session_state[LAYER_KEY] == 20
    at.session_state["model"] = "minilm-l6"
    at.run()
    assert at.session_state[LAYER_KEY] == 5 and not at.exception
    at.session_state["model"] = "smollm2-135m"
    at.run()
    assert at.session_state[LAYER_KEY] == 20


def test_an_untrained_model_gets_no_preset_point_to_look_for():
    at = _open("classic", "Hello")
    at.button(key="preset-attention-0").click().run()  # it picks SmolLM2; the person goes back to the untrained model
    assert at.session_state["model"] == "smollm2-135m"
    at.session_state["model"] = "classic"
    at.run()
    assert not at.exception
    assert not any("attend to" in info.value for info in at.info)
    assert any("untrained" in warning.value for warning in at.warning)


def test_the_sink_notice_says_what_the_switch_has_done():
    at = _open("minilm-l6", TEXT, layer="0", head="0")
    sink = next(i.value for i in at.info if "attention sinks" in i.value)
    assert "Hide them" in sink
    at.toggle(key="attention_hide_sinks").set_value(True).run()
    sink = next(i.value for i in at.info if "attention sinks" in i.value)
    assert "hidden below" in sink and "Hide them" not in sink


def test_a_long_text_shows_an_image_and_a_zoom_with_exact_weights():
    long_text = " ".join(f"word{i}" for i in range(120)) + " and it ends"
    at = _open("minilm-l6", long_text, layer="1", head="2")
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    image = charts[0]
    assert image["data"][0]["type"] == "image" and len(at.get("plotly_chart")[0].proto.spec) < 2_000_000
    zoom = charts[1]
    assert "Zoom" in zoom["layout"]["title"]["text"]
    trace = next(t for t in zoom["data"] if t.get("visible", True) is not False and t["name"] != "masked")
    probs = _probs("minilm-l6", long_text, 1, 2)
    window = plotly_array(trace["customdata"])
    last = probs.shape[0]
    np.testing.assert_array_equal(window, probs[last - LINE_WINDOW :, last - LINE_WINDOW :])
    assert any("tokens · model" in c.value for c in at.caption)


def test_token_text_in_buttons_and_captions_is_shown_as_itself():
    at = _open("smollm2-135m", "The price was 5 *")
    assert not at.exception
    assert at.selectbox(key=QUERY_KEY).value.strip("␣") == "*"  # the last token, chosen by default
    caption = next(c.value for c in at.caption if "worth a look" in c.value)
    assert "“\\*”" in caption  # escaped: Markdown would otherwise start an emphasis here


def test_every_query_is_a_choice_the_link_keeps():
    at = _open("minilm-l6", TEXT)
    at.selectbox(key=QUERY_KEY).set_value(EVERY_QUERY).run()
    assert at.query_params[QUERY_KEY] == EVERY_QUERY
    again = _open("minilm-l6", TEXT, q=EVERY_QUERY)
    assert again.selectbox(key=QUERY_KEY).value == EVERY_QUERY and not again.warning


# ---------------------------------------------------------------- long texts, new texts, new queries

PARAGRAPH = ("The Transformer reads a whole sentence at once. Each token is turned into a vector, and every layer "
             "lets each token look at the others through attention. A head computes a query for the token that "
             "looks, a key for every token it may look at, and a value that carries what it will take.\n") * 3


def test_a_long_text_opens_on_the_log_scale_and_a_word_not_a_line_break():
    at = _open("smollm2-135m", PARAGRAPH)
    from viz.views.attention import is_content, long_text

    labels = at.selectbox(key=QUERY_KEY).options[1:]
    assert long_text(len(labels), len(labels)) and labels[-1] == "↵·" + str(len(labels) - 1)
    assert at.selectbox(key=SCALE_KEY).value == "log" and SCALE_KEY not in at.query_params
    query = at.selectbox(key=QUERY_KEY).value
    assert is_content(query) and query.startswith("take"), query  # the last word, not "." or "↵"
    chosen = _open("smollm2-135m", PARAGRAPH, scale="linear", q=labels[-2])  # the link's choice wins
    assert chosen.selectbox(key=SCALE_KEY).value == "linear" and chosen.selectbox(key=QUERY_KEY).value == labels[-2]
    short = _open("smollm2-135m", TEXT)
    assert short.selectbox(key=SCALE_KEY).value == "linear"


def test_a_new_query_and_a_new_text_open_their_own_best_head():
    at = _open("smollm2-135m", "The trophy didn't fit in the suitcase because it was too big.")
    at.selectbox(key=QUERY_KEY).set_value("it").run()
    first = next(b for b in at.button if b.key and b.key.startswith("worth-"))
    assert first.key == f"worth-{at.session_state[LAYER_KEY]}-{at.session_state[HEAD_KEY]}" != "worth-0-0"
    assert "trophy" in first.label
    at.button(key="head-next").click().run()  # a head of the person's own choosing stays while the query does
    chosen = (at.session_state[LAYER_KEY], at.session_state[HEAD_KEY])
    at.toggle(key="attention_hide_sinks").set_value(True).run()
    assert (at.session_state[LAYER_KEY], at.session_state[HEAD_KEY]) == chosen
    at.session_state["text"] = "The animal didn't cross the street because it was too tired"
    at.run()
    assert (at.session_state[LAYER_KEY], at.session_state[HEAD_KEY]) == (13, 8)  # "it" → "animal"


def test_the_sink_notice_says_the_heads_average_and_the_querys_own_row_apart():
    at = _open("smollm2-135m", "The animal didn't cross the street because it was too tired", layer="13", head="8",
               q="it")
    notice = next(i.value for i in at.info if "Averaged over every query" in i.value)
    record = get_trace("smollm2-135m", "The animal didn't cross the street because it was too tired").layers[13]
    probs = record.self_attn.probs[8].astype(np.float32)
    mask = np.asarray(record.self_attn.mask, dtype=bool)
    average = float(np.where(mask, probs, 0)[:, 0].sum() / np.where(mask, probs, 0).sum())
    assert f"**{average:.0%}**" in notice
    assert f"The row of “it” alone gives them **{float(probs[8, 0]):.0%}**" in notice


def _mosaic_spec(at: AppTest) -> str:
    specs = [chart.proto.spec for chart in at.get("plotly_chart") if "Click a head" in chart.proto.spec]
    assert len(specs) == 1
    return specs[0]


def test_the_layers_thumbnails_stay_the_same_chart_through_a_head_step_and_change_with_the_layer():
    """A head step sends the grid of the layer's thumbnails again byte for byte, so the browser leaves it as it is
    (a changed chart is drawn anew); a layer step sends that layer's."""
    at = _open("smollm2-135m", TEXT, layer="2", head="0")
    before = _mosaic_spec(at)
    at.session_state[HEAD_KEY] = 5
    at.run()
    assert _mosaic_spec(at) == before
    at.session_state[LAYER_KEY] = 3
    at.run()
    after = _mosaic_spec(at)
    assert after != before and json.loads(after)["layout"]["yaxis"]["ticktext"] == ["L3"]
