"""The Emergence page (Conway's Game of Life) in AppTest: both languages, every pattern, step, jump, start
again, random cells and clear, and the animation's frames against core/lessons/life.py."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.lessons import life
from tests.support import pages
from viz import i18n, state
from viz.views import emergence as views

PAGE = "viz/pages/emergence.py"


def open_page(**params: str) -> AppTest:
    return pages.open_page(PAGE, query=params)


def grid(at: AppTest) -> np.ndarray:
    return at.session_state[views.BASE]


def animation(at: AppTest) -> dict:
    (element,) = at.get("plotly_chart")
    return json.loads(element.proto.spec)


def cells(z) -> np.ndarray:
    """A heat map's z as Plotly sends it: a list of rows, or a typed array (base64 bytes, dtype, shape)."""
    if isinstance(z, dict):
        shape = tuple(int(n) for n in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape).astype(bool)
    return np.array(z, dtype=bool)


def button(at: AppTest, label: str):
    return next(b for b in at.button if label in b.label)


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_page_in_both_languages(language):
    at = open_page(lang=language)
    translate = i18n.translator(language)
    assert translate("Emergence") in at.title[0].value
    shown = " ".join(m.value for m in at.markdown)
    assert translate("blinker") in " ".join(at.radio[0].options)
    assert ("涌现" in shown) if language == "zh" else ("emergence" in shown)
    assert at.radio[0].value == views.DEFAULT_PATTERN


@pytest.mark.parametrize("name", list(life.PATTERNS))
def test_every_pattern_starts_on_the_grid_and_its_animation_follows_the_rules(name):
    at = open_page(pattern=name)
    pattern = life.PATTERNS[name]
    np.testing.assert_array_equal(grid(at), life.place(pattern, (views.SIDE, views.SIDE)))
    spec = animation(at)
    expected = life.run(grid(at), at.slider(key=views.PLAY_GENERATIONS).value, wrap=True)
    assert len(spec["frames"]) == len(expected)
    for frame, expected_cells in zip(spec["frames"], expected):
        np.testing.assert_array_equal(cells(frame["data"][0]["z"]), expected_cells)
    assert at.query_params.get(state.PATTERN, views.DEFAULT_PATTERN) == name


def test_step_jump_start_again_random_and_clear():
    at = open_page(pattern="blinker")
    start = grid(at).copy()
    button(at, "Step").click().run()
    np.testing.assert_array_equal(grid(at), life.step(start, wrap=True))
    assert at.session_state[views.GENERATION] == 1 and at.metric[0].value == "1"
    button(at, "Step").click().run()
    np.testing.assert_array_equal(grid(at), start)  # a blinker's period is 2
    at.slider(key=views.PLAY_GENERATIONS).set_value(20).run()
    button(at, "Jump").click().run()
    assert at.session_state[views.GENERATION] == 22
    np.testing.assert_array_equal(grid(at), start)
    button(at, "Random").click().run()
    assert grid(at).any() and at.session_state[views.GENERATION] == 0
    button(at, "Clear").click().run()
    assert not grid(at).any()
    assert any("empty" in c.value for c in at.caption)
    button(at, "Start again").click().run()
    np.testing.assert_array_equal(grid(at), start)
    assert not at.exception


def test_choosing_another_pattern_replaces_the_grid_and_the_speed_sets_the_frame_time():
    at = open_page()
    at.radio(key=state.PATTERN).set_value("block").run()
    np.testing.assert_array_equal(grid(at), life.place(life.PATTERNS["block"], (views.SIDE, views.SIDE)))
    assert at.query_params[state.PATTERN] == "block"
    assert any("still life" in c.value for c in at.caption)
    at.slider(key=views.SPEED).set_value(10).run()
    play = animation(at)["layout"]["updatemenus"][0]["buttons"][0]
    assert play["args"][1]["frame"]["duration"] == 100
