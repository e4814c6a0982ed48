"""What a class reads (issue 20, item 12), in AppTest and both languages: the Training page says where the trained
model goes as its button does, presenter mode shows no cost line (not even the Attention page's own), the worked
example counts its steps from 1 as the lesson bar does, and the temperature chart keeps its axis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.lessons.attention_steps import STAGES
from tests.support import pages
from tests.support.pages import plotly_array
from viz import catalog, i18n, loading, state

APP = str(Path(__file__).resolve().parents[1] / "app.py")
LANGUAGES = list(i18n.LANGUAGES)


def open_page(page: str, query: dict[str, str]) -> AppTest:
    return pages.open_page(page, query={state.MODEL: "smollm2-135m", **query})


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_training_page_says_the_study_button_shows_the_model_on_the_other_pages(language):
    at = open_page(catalog.BY_ID["training"].script, {state.LANG: language})
    translate = i18n.translator(language)
    shown = i18n.explanation("training_model", language)
    assert shown in [m.value for m in at.markdown]
    where = shown.split("\n\n")[0]
    assert translate("Study this model on the other pages") in where, "it names the button that makes it visible"
    for contradiction in ("not added to the sidebar", "other pages do not show it", "不会加入侧边栏", "其他页面看不到它"):
        assert contradiction not in shown
    assert ("this session only" in where) if language == "en" else ("只在这个会话里" in where)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", ["attention", "masks", "embeddings"])
def test_presenter_mode_shows_no_cost_line_on_any_page(page, language):
    tokens = len(loading.get_trace("smollm2-135m", state.DEFAULT_TEXT).token_ids)
    translate = i18n.translator(language)
    cost = translate("{count:,} tokens").format(count=tokens) + " · "
    shown = open_page(catalog.BY_ID[page].script, {state.LANG: language})
    assert any(c.value.startswith(cost) for c in shown.caption), "the cost line is there without presenter mode"
    presented = open_page(catalog.BY_ID[page].script, {state.LANG: language, state.PRESENT: "true"})
    assert not [c.value for c in presented.caption if c.value.startswith(cost)]
    assert presented.get("plotly_chart"), "the figures themselves stay"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_worked_example_counts_steps_from_1_as_the_lesson_bar_does(language):
    at = open_page(catalog.BY_ID["attention_math"].script, {state.LANG: language, state.AM_STEP: "3"})
    translate = i18n.translator(language)
    heading = translate("Step {step} of {count}: {name}").split(":")[0].split("：")[0]
    assert at.subheader[0].value.startswith(heading.format(step=3, count=len(STAGES)))
    bar = translate("{what} {number} of {count}").format(what=translate("step"), number=3, count=len(STAGES))
    assert any(bar in c.value for c in at.caption), [c.value for c in at.caption]
    assert at.slider(key=state.AM_STEP).min == 1 and at.slider(key=state.AM_STEP).max == len(STAGES)
    at.button(key=f"{state.AM_STEP}-previous").click().run()
    at.button(key=f"{state.AM_STEP}-previous").click().run()
    assert at.session_state[state.AM_STEP] == 1 and at.button(key=f"{state.AM_STEP}-previous").disabled
    assert at.subheader[0].value.startswith(heading.format(step=1, count=len(STAGES)))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_temperature_chart_keeps_its_axis_while_the_bars_flatten(language):
    at = open_page(catalog.BY_ID["next_token"].script, {state.LANG: language,
                                                        state.TEXT: "The highest mountain in the world is"})
    translate = i18n.translator(language)
    title = translate("Next token after “…{context}”").split("“")[0]
    seen = []
    for temperature in (1.0, 2.0, 4.0):
        at.slider(key=state.TEMPERATURE).set_value(temperature).run()
        spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                    if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith(title))
        bars = next(t for t in spec["data"] if t["name"] == "probability")
        seen.append((tuple(spec["layout"]["xaxis"]["range"]), float(plotly_array(bars["x"])[0])))
    assert len({axis for axis, _ in seen}) == 1, seen  # from T = 1 up, the axis stays where T = 1 put it
    tallest = [top for _, top in seen]
    assert tallest == sorted(tallest, reverse=True) and tallest[-1] < tallest[0] / 2, tallest
    at.slider(key=state.TEMPERATURE).set_value(0.3).run()
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith(title))
    assert spec["layout"]["xaxis"]["range"][1] > seen[0][0][1]  # sharper: the top bar grows, the axis with it


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_heat_map_numbers_only_colliding_labels_and_its_axis_titles_say_why(language):
    note = i18n.translator(language)("·n: the token's position, where two tokens read the same")
    repeated = open_page(catalog.BY_ID["attention"].script, {state.LANG: language, state.TEXT: "the cat and the dog"})
    heat = next(json.loads(c.proto.spec) for c in repeated.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0]["type"] == "heatmap")
    ticks = heat["layout"]["xaxis"]["ticktext"]
    assert [t for t in ticks if "·" in t] == ["the·0", "the·3"] and "cat" in ticks, ticks
    assert note in heat["layout"]["xaxis"]["title"]["text"] and note in heat["layout"]["yaxis"]["title"]["text"]
    plain = open_page(catalog.BY_ID["attention"].script, {state.LANG: language, state.TEXT: "cat and a dog"})
    heat = next(json.loads(c.proto.spec) for c in plain.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0]["type"] == "heatmap")
    assert not any("·" in t for t in heat["layout"]["xaxis"]["ticktext"])
    assert note not in heat["layout"]["xaxis"]["title"]["text"]
