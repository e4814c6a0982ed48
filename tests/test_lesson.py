"""The lesson path and presenter mode: the path is data in the catalogue, every stop says what to notice in
both languages, and previous/next walk the path (through a page's steps first) in presenter mode, in both
languages; presenter mode swaps the figures' colour scale for one a projector keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plotly.colors import get_colorscale
from streamlit.testing.v1 import AppTest

from tests.support.pages import open_page
from viz import catalog, frame, i18n, state
from viz.figures import palette

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MODEL = "smollm2-135m"  # trained, and it serves every page (the next-token ones too)
STOPS = catalog.lesson()


def test_the_path_is_catalogue_pages_in_catalogue_order():
    assert len(set(catalog.LESSON_PATH)) == len(catalog.LESSON_PATH)
    ids = [stop.id for stop in STOPS]
    assert len(ids) >= 10 and all(page_id in catalog.BY_ID for page_id in ids)
    assert [page.id for page in catalog.PAGES if page.id in ids] == ids, "the path follows the catalogue's order"
    assert set(ids) == set(catalog.BY_ID), "every page is a stop"
    assert catalog.lesson_neighbours(ids[0]) == (None, STOPS[1])
    assert catalog.lesson_neighbours(ids[-1]) == (STOPS[-2], None)
    assert catalog.lesson_neighbours("no-such-page") == (None, None)


def test_a_page_not_built_yet_is_simply_not_on_the_path(monkeypatch):
    monkeypatch.setattr(catalog, "LESSON_PATH", ("overview", "not_built_yet", "tokenization"))
    assert [stop.id for stop in catalog.lesson()] == ["overview", "tokenization"]


def test_every_stop_says_what_to_notice_in_one_paragraph_in_both_languages():
    for stop in STOPS:
        for language in i18n.LANGUAGES:
            path = i18n.explanation_path(frame.notice_name(stop.id), language)
            text = path.read_text(encoding="utf-8").strip()
            assert text and "\n\n" not in text, path
        chinese = i18n.explanation(frame.notice_name(stop.id), "zh")
        assert "\n" not in chinese and any("\u4e00" <= char <= "\u9fff" for char in chinese), stop.id


def test_the_pages_with_steps_are_on_the_path():
    assert {"attention", "attention_math"} <= set(frame.STEPS)
    assert set(frame.STEPS) <= set(catalog.LESSON_PATH)


# ---------------------------------------------------------------- in AppTest


def open_app(language: str, page: catalog.PageEntry | None = None) -> AppTest:
    return open_page(page, query={state.LANG: language, state.PRESENT: "true", state.MODEL: MODEL}, home_first=True,
                     check=False)


def step_count(at: AppTest, stop: catalog.PageEntry) -> int:
    steps = frame.STEPS.get(stop.id)
    if steps is not None and steps.now is not None:  # Attention's ranked heads, as the page last ranked them
        return len(at.session_state[state.RANKED_HEADS]) if state.RANKED_HEADS in at.session_state else 0
    return 0 if steps is None else steps.count()


def set_step(at: AppTest, stop: catalog.PageEntry, index: int) -> None:
    steps = frame.STEPS[stop.id]
    if steps.go is None:
        at.session_state[steps.key] = steps.first + index
    else:
        at.session_state[state.LAYER], at.session_state[state.HEAD] = at.session_state[state.RANKED_HEADS][index]
    at.run()


def step_of(at: AppTest, stop: catalog.PageEntry) -> int | None:
    steps = frame.STEPS[stop.id]
    if steps.now is None:
        return at.session_state[steps.key] - steps.first
    shown = (at.session_state[state.LAYER], at.session_state[state.HEAD])
    ranked = tuple(at.session_state[state.RANKED_HEADS])
    return ranked.index(shown) if shown in ranked else None


def assert_at(at: AppTest, stop: catalog.PageEntry, language: str) -> None:
    assert not at.exception, (stop.id, [e.value for e in at.exception])
    translate = i18n.translator(language)
    assert at.title[0].value == f"{stop.icon} {translate(stop.title)}", (stop.id, at.title[0].value)
    number = STOPS.index(stop) + 1
    where = translate("Lesson: stop {number} of {count}").format(number=number, count=len(STOPS))
    assert any(c.value.startswith(where) for c in at.caption), stop.id
    notice = i18n.explanation(frame.notice_name(stop.id), language)
    assert notice in [m.value for m in at.markdown], f"{stop.id}: what to notice is not shown"


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_next_walks_the_whole_path_in_presenter_mode_through_each_pages_steps(language):
    at = open_app(language)
    assert any("font-size" in element.proto.body for element in at.get("html")), "presenter styling"
    for index, stop in enumerate(STOPS):
        assert_at(at, stop, language)
        assert at.session_state[state.PRESENT] is True, "presenter mode stays on along the path"
        assert at.button(key="lesson-previous").disabled == (index == 0 and not step_count(at, stop))
        assert "page" in at.button(key="lesson-next").proto.shortcut.lower(), "a clicker's Page Down steps"
        count = step_count(at, stop)
        if count > 1:  # next goes through the page's steps before it leaves the page
            set_step(at, stop, count - 2)
            at.button(key="lesson-next").click().run()
            assert step_of(at, stop) == count - 1
            assert_at(at, stop, language)
        if index == len(STOPS) - 1:
            assert at.button(key="lesson-next").disabled
            break
        at.button(key="lesson-next").click().run()


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_previous_leads_back_from_every_stop(language):
    at = open_app(language)
    for stop, before in zip(STOPS[1:], STOPS[:-1]):
        at.switch_page(stop.script).run()
        if step_count(at, stop) > 1:
            set_step(at, stop, 1)
            at.button(key="lesson-previous").click().run()
            assert step_of(at, stop) == 0, "previous steps back inside the page first"
        previous = at.button(key="lesson-previous")
        assert previous.label == "◀ " + i18n.translator(language)(before.title)
        previous.click().run()
        assert_at(at, before, language)


def heat_map_scale(at: AppTest) -> list:
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            if trace.get("type") == "heatmap" and trace.get("name") != "masked" and trace.get("colorscale"):
                return trace["colorscale"]
    raise AssertionError("no heat map")


def test_presenter_mode_draws_attention_in_a_colour_blind_safe_high_contrast_scale():
    attention = catalog.BY_ID["attention"]
    presenting = heat_map_scale(open_app("en", attention))
    screen_app = AppTest.from_file(APP, default_timeout=180)
    screen_app.query_params[state.MODEL] = MODEL
    screen_app.run()
    screen = heat_map_scale(screen_app.switch_page(attention.script).run())
    assert [stop[1] for stop in presenting] == [stop[1] for stop in get_colorscale(palette.PRESENTER.weights)]
    assert [stop[1] for stop in screen] == [stop[1] for stop in get_colorscale(palette.SCREEN.weights)]


def test_outside_the_app_the_figures_take_the_screen_palette():
    assert palette.current() is palette.SCREEN


# ---------------------------------------------------------------- arriving by the path = opening the link

WIDGETS = ("slider", "select_slider", "selectbox", "multiselect", "radio", "toggle", "checkbox", "text_input",
           "text_area", "number_input")


def controls(at: AppTest) -> dict[str, object]:
    """Every keyed control's value on the page (the sidebar's too)."""
    values = {}
    for kind in WIDGETS:
        for widget in getattr(at, kind):
            if widget.key:
                values[widget.key] = widget.value
    return values


def fresh(at: AppTest, stop: catalog.PageEntry) -> AppTest:
    """The same page opened by its link alone, in a new session."""
    link = AppTest.from_file(APP, default_timeout=180)
    for key, value in at.query_params.items():
        link.query_params[key] = value
    return link.switch_page(stop.script).run()


def test_each_stop_opens_by_the_path_exactly_as_its_own_link_does():
    at = open_app("zh")
    for index, stop in enumerate(STOPS):
        assert_at(at, stop, "zh")
        by_link = fresh(at, stop)
        assert not by_link.exception, (stop.id, [e.value for e in by_link.exception])
        assert controls(at) == controls(by_link), stop.id
        if index == len(STOPS) - 1:
            break
        while at.button(key="lesson-next").label != i18n.translator("zh")(STOPS[index + 1].title) + " ▶":
            at.button(key="lesson-next").click().run()  # through the page's steps
        at.button(key="lesson-next").click().run()


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_on_attention_the_path_steps_through_the_ranked_heads_of_the_example(language):
    at = open_app(language)
    at.session_state[frame.GO] = "attention_math"  # as the path opens it (AppTest's switch_page would pin it)
    at.run()
    for _ in range(frame.STEPS["attention_math"].count() + 1):  # through its steps, then on
        if at.title[0].value.startswith(catalog.BY_ID["attention"].icon):
            break
        at.button(key="lesson-next").click().run()
    attention = catalog.BY_ID["attention"]
    assert_at(at, attention, language)
    ranked = tuple(at.session_state[state.RANKED_HEADS])
    assert len(ranked) == 5 and ranked[0] == (13, 8)  # SmolLM2: "it" → "animal", the example's point
    translate = i18n.translator(language)
    for index, (layer, head) in enumerate(ranked):
        assert (at.session_state[state.LAYER], at.session_state[state.HEAD]) == (layer, head)
        where = translate("{what} {number} of {count}").format(what=translate("ranked head"), number=index + 1,
                                                                count=len(ranked))
        assert any(where in caption.value for caption in at.caption), where
        at.button(key="lesson-next").click().run()
    assert_at(at, catalog.BY_ID["masks"], language)
