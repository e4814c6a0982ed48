"""The Positional-encoding page in AppTest: both languages, every preset, links that set the sinusoid's
controls, the figures against independent computations, and hostile text."""

from __future__ import annotations

import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.lessons.position_experiments import compare_orders, reorder
from tests.support import pages
from tests.support.models import loaded
from tests.support.pages import HOSTILE, chart, plotly_array, raw_html_bodies
from viz import i18n, state
from viz.loading import get_trace
from viz.presets import for_page

PAGE = "viz/pages/positional_encoding.py"


def open_page(text: str = "dog bites man", model: str = "smollm2-135m", **params: str) -> AppTest:
    return pages.open_page(PAGE, session={state.MODEL: model, state.TEXT: text}, query=params)


def formula(n: int, d: int) -> np.ndarray:
    pos, j = np.arange(n)[:, None], np.arange(d)[None, :]
    angle = pos / 10000 ** (2 * (j // 2) / d)
    return np.where(j % 2 == 0, np.sin(angle), np.cos(angle))


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_every_preset_in_both_languages(language):
    at = open_page(lang=language)
    translate = i18n.translator(language)
    for index, preset in enumerate(for_page("positional_encoding")):
        at.button(key=f"preset-positional_encoding-{index}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state[state.TEXT] == preset.text
        assert any(translate(preset.note) in info.value for info in at.info), preset.label
        for key, value in preset.settings:
            assert at.session_state[key] == value
        assert len(at.dataframe) >= 1, "the comparison table is missing"
    if language == "zh":
        assert any("\u4e00" <= char <= "\u9fff" for char in at.header[0].value)


def test_the_formula_preset_draws_the_papers_table():
    at = open_page()
    labels = [p.label for p in for_page("positional_encoding")]
    at.button(key=f"preset-positional_encoding-{labels.index('PE formula')}").click().run()
    z = plotly_array(chart(at, "PE(pos, i)")["data"][0]["z"])
    assert z.shape == (128, 512)
    np.testing.assert_allclose(z, formula(128, 512), atol=1e-6)


def test_a_link_sets_the_sinusoids_controls_and_the_figures_follow():
    at = open_page(pe_d="64", pe_len="50", pe_dim="9")
    assert (at.session_state[state.PE_D], at.session_state[state.PE_LEN], at.session_state[state.PE_DIM]) == (64, 50, 9)
    np.testing.assert_allclose(plotly_array(chart(at, "PE(pos, i)")["data"][0]["z"]), formula(50, 64), atol=1e-6)
    waves = chart(at, "waves")["data"]
    expected = formula(50, 64)
    assert len(waves) == 4  # pair 0 (dimensions 0 and 1) and the chosen dimension's pair (8 and 9)
    for wave, dim in zip(waves, (0, 1, 8, 9)):
        np.testing.assert_allclose(plotly_array(wave["y"]), expected[:, dim], atol=1e-6)
        assert f" {dim}" in wave["name"]
    dots = plotly_array(chart(at, "PE(p) · PE(q)")["data"][0]["z"])
    np.testing.assert_allclose(dots, expected @ expected.T, atol=1e-4)
    omegas = 1 / 10000 ** (np.arange(0, 64, 2) / 64)
    for curve in chart(at, "every start p")["data"]:
        k = np.arange(len(plotly_array(curve["y"])))
        np.testing.assert_allclose(plotly_array(curve["y"]), np.cos(np.outer(k, omegas)).sum(axis=1), atol=1e-4)


def test_the_dimension_follows_a_smaller_d_model():
    at = open_page(pe_d="128", pe_dim="100")
    at.slider(key=state.PE_D).set_value(64).run()
    assert not at.exception
    assert at.session_state[state.PE_DIM] == 63


def comparison_table(at: AppTest) -> dict[str, dict[str, str]]:
    """The comparison, one column per model: {model title: {row name: value}}."""
    return at.dataframe[0].value.to_dict()


def test_the_permutation_table_is_the_cores_comparison():
    at = open_page(text="我爱你")
    columns = comparison_table(at)
    encoder, decoder = loaded("minilm-l6"), loaded("smollm2-135m")
    assert list(columns) == [encoder.info.title, decoder.info.title]
    for lm in (encoder, decoder):
        ids = lm.encode("我爱你")[0].ids
        result = compare_orders(lm, ids, reorder(lm.tokenizer, ids, "reversed"))
        assert columns[lm.info.title]["max |difference|, with positions"] == f"{result.max_with:.3g}"
        assert columns[lm.info.title]["max |difference|, positions off"] == f"{result.max_without:.3g}"
    encoder_column, decoder_column = columns[encoder.info.title], columns[decoder.info.title]
    assert encoder_column["positions off gives"] == "the same vectors, permuted"
    assert encoder_column["positions"] == "learned"
    assert decoder_column["positions off gives"] == "different vectors" and decoder_column["mask"] == "causal"
    assert any("[UNK]" in caption.value for caption in at.caption)  # MiniLM spells neither 爱 nor 你
    assert any("你爱我" in code.value for code in at.code)  # SmolLM2's bytes, reversed in whole characters


def test_rope_circles_are_the_recorded_scores():
    text = "The capital of France is Paris"
    at = open_page(text=text, layer="3", head="5")
    trace = get_trace("smollm2-135m", text)
    t = len(trace.tokens)
    scores = trace.layers[3].self_attn.scores[5, t - 1].astype(np.float64)
    points = next(d for d in chart(at, "as a function of their distance")["data"] if d.get("mode") == "markers")
    offsets, values = plotly_array(points["x"]), plotly_array(points["y"])
    np.testing.assert_allclose(values, scores[(t - 1 - offsets).astype(int)], rtol=1e-6)
    assert sorted(offsets.tolist()) == [0, 1, t - 1]


def test_the_classic_model_adds_exactly_the_formula():
    at = open_page(model="classic")
    assert any("adds exactly this table" in success.value for success in at.success)


@pytest.mark.parametrize("text", [HOSTILE, "   ", "\x00\x01", "今天太冷了,能穿多少穿多少 👩‍👩‍👧‍👦"])
def test_odd_and_hostile_text_never_breaks_the_page(text):
    at = open_page(text=text)
    assert not at.error, [e.value for e in at.error]
    for body in raw_html_bodies(at):
        assert "<img" not in body and "<script" not in body
    if not text.strip():
        assert at.info, "an empty text gets a message"


def test_a_shuffled_order_is_kept_in_the_link():
    at = open_page(text="AI+编程 扬帆起航", order="shuffled")
    assert at.session_state[state.ORDER] == "shuffled" and at.query_params[state.ORDER] == "shuffled"
    for column in comparison_table(at).values():
        assert math.isfinite(float(column["max |difference|, positions off"]))
