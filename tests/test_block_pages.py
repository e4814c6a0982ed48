"""The Inside-a-block and Logit-lens pages in AppTest: both languages with their presets, figures drawn from the
core's numbers, the token and layer from a link, post-norm and encoder models, and hostile text."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.lessons import block_anatomy, logit_lens
from tests.support import pages
from tests.support.pages import HOSTILE, chart, plotly_array, raw_html_bodies
from viz import i18n, state
from viz.loading import cached_model, get_trace
from viz.presets import for_page

BLOCK, LENS = "viz/pages/inside_block.py", "viz/pages/logit_lens.py"
TEXT = "The highest mountain in the world is"


def open_page(page: str, text: str = TEXT, model: str = "smollm2-135m", **params: str) -> AppTest:
    return pages.open_page(page, session={state.MODEL: model, state.TEXT: text}, query=params)


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
@pytest.mark.parametrize("page,page_id", [(BLOCK, "inside_block"), (LENS, "logit_lens")])
def test_every_preset_in_both_languages(page, page_id, language):
    at = open_page(page, text="something else", lang=language)
    translate = i18n.translator(language)
    for index, preset in enumerate(for_page(page_id)):
        if preset.settings:  # the comparison of every installed model: tested below on its own
            continue
        at.button(key=f"preset-{page_id}-{index}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state[state.TEXT] == preset.text
        assert any(translate(preset.note) in info.value for info in at.info), preset.label
        assert len(at.get("plotly_chart")) >= 3
    if language == "zh":
        assert any("\u4e00" <= char <= "\u9fff" for char in at.header[0].value)


def test_the_block_page_draws_the_cores_numbers_for_the_linked_token_and_layer():
    at = open_page(BLOCK, token="2", layer="5", norm_at="mlp")
    assert (at.session_state[state.TOKEN], at.session_state[state.LAYER]) == (2, 5)
    trace = get_trace("smollm2-135m", TEXT)
    numbers = block_anatomy.residual_norms(trace, False)
    z = plotly_array(chart(at, "after every layer")["data"][0]["z"])
    np.testing.assert_allclose(z, numbers.stream.T, rtol=1e-6)
    bars = [d for d in chart(at, "What each sub-layer added")["data"] if d["type"] == "bar"]
    np.testing.assert_allclose(plotly_array(bars[0]["y"]), numbers.attention[:, 2], rtol=1e-6)
    np.testing.assert_allclose(plotly_array(bars[1]["y"]), numbers.feed_forward[:, 2], rtol=1e-6)
    compared = block_anatomy.compare_norms(cached_model("smollm2-135m"), trace, 5, 2, "mlp")
    histograms = chart(at, "before and after")["data"]
    np.testing.assert_allclose(plotly_array(histograms[-1]["x"]), compared.out.astype(np.float32))
    units = chart(at, "hidden units")["data"]
    np.testing.assert_array_equal(plotly_array(units[1]["x"]), block_anatomy.feed_forward_activity(
        trace, cached_model("smollm2-135m").config, 5, 2).top)


def test_relu_against_the_others_compares_the_installed_models():
    at = open_page(BLOCK, text="I am a student", model="classic")
    preset = next(i for i, p in enumerate(for_page("inside_block")) if p.settings)
    at.button(key=f"preset-inside_block-{preset}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    spec = chart(at, "Every hidden unit")
    names, zero = spec["data"][0]["x"], plotly_array(spec["data"][0]["y"])
    relu = [i for i, name in enumerate(names) if "ReLU" in name]
    assert relu and all(zero[i] > 0.2 for i in relu)
    assert len(relu) < len(names) and all(z < 0.01 for i, z in enumerate(zero) if i not in relu)


def test_the_lens_page_shows_the_grid_lines_and_attribution_of_the_linked_position():
    at = open_page(LENS, token="4")
    assert at.session_state[state.TOKEN] == 4
    trace = get_trace("smollm2-135m", TEXT)
    grid = logit_lens.lens_grid(trace, 0)
    spec = chart(at, "most likely next token")
    np.testing.assert_allclose(plotly_array(spec["data"][0]["z"]), grid.top_probs[:, :, 0], rtol=1e-6)
    np.testing.assert_array_equal(plotly_array(spec["data"][1]["y"]), grid.decided)
    a = logit_lens.attribute(trace, 4)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["The model's logit"] == f"{a.logit:.4f}" and metrics["Sum of the contributions"] == f"{a.total:.4f}"
    assert abs(a.total - a.logit) < 1e-3


def test_a_post_norm_model_gets_the_lens_without_attribution_and_an_encoder_is_refused():
    at = open_page(LENS, model="classic")
    assert any("post-norm" in info.value for info in at.info)
    assert len(at.get("plotly_chart")) == 2
    at = open_page(LENS, model="minilm-l6")
    assert any(b.key and b.key.startswith("switch-") for b in at.button)


@pytest.mark.parametrize("page", [BLOCK, LENS])
def test_hostile_text_is_shown_as_text(page):
    at = open_page(page, text=HOSTILE)
    assert not [body for body in raw_html_bodies(at) if "<script" in body or "onerror" in body]
    spec = chart(at, "")
    assert "<script>" not in str(spec)


def test_the_residual_map_leaves_the_sinks_out_of_its_colour_range_and_says_so():
    from viz.figures.block import make_residual_norm_figure

    norms = np.array([[20_000.0, 3.0, 5.0], [21_000.0, 8.0, 13.0]], dtype=np.float32)  # (layers, tokens)
    fig = make_residual_norm_figure(norms, ["The", "cat", "sat"], sinks=[True, False, False])
    heat = fig.data[0]
    assert (heat.zmin, heat.zmax) == (3.0, 13.0)
    np.testing.assert_array_equal(np.asarray(heat.z), norms.T)  # the hover reads the true values
    assert "The 21,000" in fig.layout.title.subtitle.text
    plain = make_residual_norm_figure(norms, ["The", "cat", "sat"])
    assert (plain.data[0].zmin, plain.data[0].zmax) == (3.0, 21_000.0) and not plain.layout.title.subtitle.text
    small = make_residual_norm_figure([[2.0, 3.0, 5.0], [2.1, 8.0, 13.0]], ["a", "b", "c"], sinks=[1, 0, 0])
    assert (small.data[0].zmin, small.data[0].zmax) == (2.0, 13.0)  # a sink that is not larger: every value, no note
    assert not small.layout.title.subtitle.text
    with pytest.raises(ValueError, match="sinks"):
        make_residual_norm_figure(norms, ["a", "b", "c"], sinks=[True, False])


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_block_page_shows_the_other_tokens_beside_smollm2s_huge_first_token(language):
    at = open_page(BLOCK, lang=language)
    stream = block_anatomy.residual_norms(get_trace("smollm2-135m", TEXT), False).stream  # (layers, tokens)
    translate = i18n.translator(language)
    spec = chart(at, translate("‖h‖ of every token after every layer"))
    heat = spec["data"][0]
    assert stream[:, 0].max() > 10 * stream[:, 1:].max()  # the first token's ~20,000 against the others' < 1,000
    assert heat["zmax"] == pytest.approx(float(stream[:, 1:].max()), rel=1e-6)
    np.testing.assert_allclose(plotly_array(heat["z"]), stream.T, rtol=1e-6)
    note = translate("Colours span the other tokens: larger norms ({tokens}) take the top colour; hover shows every "
                     "true value.").split("{tokens}")[0]
    assert spec["layout"]["title"]["subtitle"]["text"].startswith(note)
