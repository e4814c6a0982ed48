"""The whole app through AppTest: every page for every model, and the URLs and texts people really send.

A teacher's link carries the model and the text in its query string, and a
student may edit it: whatever arrives, a page shows a clear message or falls
back to something sane, and never a stack trace.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core.runtime.registry
from core import MODELS, available_models
from tests.support.pages import HOSTILE, open_page, raw_html_bodies
from viz import catalog, loading, state

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = [name for name, ok in available_models().items() if ok]


PAGES, DEFAULT_PAGE = [page.script for page in catalog.PAGES], catalog.PAGES[0].script
# The pages that study the text, so must say something when there is none.
TEXT_PAGES = [p for p in PAGES if Path(p).stem in {"tokenization", "positional_encoding", "attention", "masks",
                                                    "next_token"}]


def open_app(model: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    """The app as a new visitor opens it, on the default page.

    `model` is one chosen earlier in the session; `query` is the link's query string."""
    return open_page(query=query, session=None if model is None else {state.MODEL: model}, check=False)


def visit(at: AppTest, page: str) -> AppTest:
    return at.switch_page(page).run()


def messages(elements) -> list[str]:
    return [element.value for element in elements]


def assert_clean(at: AppTest) -> None:
    """No exception on the page, and no st.error (every model here is installed)."""
    assert not at.exception, messages(at.exception)
    assert not at.error, messages(at.error)


# ---------------------------------------------------------------- every page, every model


def test_navigation_lists_the_pages():
    at = open_app()
    assert at.title[0].value.endswith(catalog.PAGES[0].title)  # the catalogue's first page opens first
    assert {Path(p).stem for p in PAGES} >= {"overview", "tokenization", "attention", "next_token"}
    assert all((ROOT / p).is_file() for p in PAGES)


def test_missing_model_package_gives_a_clear_error_and_others_still_work(monkeypatch):
    spec = MODELS["smollm2-135m"]
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == spec.module else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(core.runtime.registry.importlib.util, "find_spec", find_spec)
    loading._installed_model.clear(spec.name)  # a model cached earlier in this process would hide the missing package
    try:
        assert available_models()[spec.name] is False
        at = visit(open_app(spec.name), "viz/pages/attention.py")
        assert not at.exception, messages(at.exception)
        errors = " ".join(messages(at.error))
        assert spec.packages[0] in errors and "pip install" in errors
        assert any("not installed" in caption.value for caption in at.sidebar.caption)

        other = next(name for name in INSTALLED if name != spec.name)
        at.selectbox(key=state.MODEL).set_value(other).run()
        assert_clean(at)
        assert at.session_state[state.MODEL] == other
        assert at.get("plotly_chart"), "the attention page drew nothing for an installed model"
    finally:
        loading._installed_model.clear(spec.name)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("model", INSTALLED)
def test_every_page_loads_for_every_installed_model(model, page):
    at = visit(open_app(model), page)
    assert_clean(at)
    assert at.title, f"{page} drew no title"
    assert at.session_state[state.MODEL] == model


# ---------------------------------------------------------------- the link's query string


@pytest.mark.parametrize("model", INSTALLED)
def test_model_in_the_link_selects_that_model(model):
    at = open_app(query={state.MODEL: model})
    assert_clean(at)
    assert at.session_state[state.MODEL] == model
    assert at.query_params.get(state.MODEL) in (None, model), "the link should name the model as it was given"


def test_text_in_the_link_is_the_text_studied():
    at = open_app(query={state.TEXT: "Go to the bank to get some money."})
    assert_clean(at)
    assert at.session_state[state.TEXT] == "Go to the bank to get some money."
    assert at.text_area(key=state.TEXT).value == "Go to the bank to get some money."


def test_unknown_model_in_the_link_falls_back_to_the_default():
    at = open_app(query={state.MODEL: "nope"})
    assert_clean(at)
    assert at.session_state[state.MODEL] == state.default_model()
    assert at.query_params.get(state.MODEL) != "nope"
    for page in PAGES:
        visit(at, page)
        assert_clean(at)


@pytest.mark.parametrize("query", [
    {"layer": "abc"},
    {"head": "-5"},
    {"layer": "99999", "head": "99999"},
    {"layer": "1.5", "head": ""},
    {"layer": "-1", "head": "abc"},
], ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()))
def test_bad_layer_and_head_in_the_link_fall_back_to_a_valid_one(query):
    at = visit(open_app("minilm-l6", query=query), "viz/pages/attention.py")
    assert_clean(at)
    for key in ("layer", "head"):
        chosen, slider = at.session_state[key], at.slider(key=key)
        assert isinstance(chosen, int) and slider.min <= chosen <= slider.max, (key, chosen)
        assert slider.value == chosen
    assert at.get("plotly_chart")
    for page in PAGES:
        visit(at, page)
        assert_clean(at)


def test_empty_text_in_the_link_gives_a_message_or_the_default_text():
    at = open_app("smollm2-135m", query={state.TEXT: ""})
    assert_clean(at)
    for page in TEXT_PAGES:
        visit(at, page)
        assert not at.exception, messages(at.exception)
        if at.session_state[state.TEXT] != state.DEFAULT_TEXT:
            assert at.session_state[state.TEXT] == ""
            assert at.info or at.warning, f"{page} says nothing about the empty text"


@pytest.mark.parametrize("page", TEXT_PAGES)
def test_an_emptied_text_box_gives_a_message_on_every_page(page):
    at = open_app("smollm2-135m")
    at.text_area(key=state.TEXT).input("").run()
    assert at.session_state[state.TEXT] == ""
    visit(at, page)
    assert not at.exception, messages(at.exception)
    assert at.info or at.warning, f"{page} says nothing about the empty text"


def test_a_100000_character_text_in_the_link_is_cut_to_the_limit():
    at = open_app("classic", query={state.TEXT: "ab " * 33_334})
    assert_clean(at)
    assert at.session_state[state.TEXT] == ("ab " * 33_334)[: state.MAX_TEXT_CHARS]
    assert len(at.query_params[state.TEXT]) == state.MAX_TEXT_CHARS
    for page in PAGES:
        visit(at, page)
        assert not at.exception, messages(at.exception)


ODD_TEXTS = {
    "emoji-zwj": "family 👩‍👩‍👧‍👦 and flag 🏳️‍🌈 and skin 👍🏽",
    "rtl": "مرحبا بالعالم and שלום עולם mixed \u202eevil\u202c",
    "combining": "e\u0301\u0302\u0303 Z\u0351\u0352\u0353\u0354 a\u20dd",
    "nul-and-controls": "before\x00after\x01\x7f\ttab\r\nline",
    "bom-and-zero-width": "\ufeffstart\u200b\u200czero\u200dwidth\u2060",
    "chinese": "今天太冷了,能穿多少穿多少",
    "only-spaces": "   \n\t ",
}


def assert_every_page_survives(model: str, text: str) -> None:
    at = open_app(model)
    # Typed into the text box, as a person would.
    at.text_area(key=state.TEXT).input(text).run()
    assert at.session_state[state.TEXT] == text
    for page in PAGES:
        visit(at, page)
        assert_clean(at)


@pytest.mark.parametrize("text", ODD_TEXTS.values(), ids=ODD_TEXTS.keys())
def test_odd_unicode_never_breaks_a_page(text):
    # The tokenization page shows WordPiece ([UNK]) and byte-level BPE anyway; SmolLM2 runs the rest.
    assert_every_page_survives("smollm2-135m", text)


@pytest.mark.parametrize("model", ["classic", "minilm-l6"])
def test_all_the_odd_unicode_at_once_never_breaks_a_page(model):
    assert_every_page_survives(model, " ".join(ODD_TEXTS.values()))


def test_hostile_html_in_the_text_is_never_raw_html():
    for page in PAGES:
        at = visit(open_app("smollm2-135m", query={state.TEXT: HOSTILE}), page)
        assert_clean(at)
        assert at.session_state[state.TEXT] == HOSTILE
        bodies = raw_html_bodies(at)
        for body in bodies:
            assert "<img" not in body and "<script" not in body, (page, body[:300])
        if Path(page).stem == "tokenization":
            assert any("&lt;" in body for body in bodies), "the tokens never reached the page's HTML"


# ---------------------------------------------------------------- state across pages


def test_model_and_text_persist_across_page_switches():
    text = "Go to the bank to get some water."
    at = open_app()
    at.selectbox(key=state.MODEL).set_value("minilm-l6").run()
    at.text_area(key=state.TEXT).input(text).run()
    for page in [*PAGES[1:], PAGES[0], *PAGES]:
        visit(at, page)
        assert_clean(at)
        assert at.session_state[state.MODEL] == "minilm-l6", page
        assert at.session_state[state.TEXT] == text, page
        assert at.selectbox(key=state.MODEL).value == "minilm-l6", page
        assert at.text_area(key=state.TEXT).value == text, page


def test_the_sidebar_counts_both_stacks_and_the_model_cannot_be_cleared():
    at = open_app("classic")
    assert_clean(at)
    assert any("2 + 2" in caption.value for caption in at.sidebar.caption)
    picker = at.selectbox(key=state.MODEL)
    assert picker.proto.HasField("default") and picker.value == "classic"  # a default: no "Choose an option"


@pytest.mark.parametrize("page", ["embeddings", "masks", "attention"])
def test_a_page_that_traces_the_text_says_what_it_cost(page):
    """Once, small: the text's tokens, the model's time for it, and what the page (or its figure) took."""
    at = open_page(catalog.BY_ID[page].script, session={state.MODEL: "smollm2-135m"}, check=False)
    assert not at.exception
    tokens = len(loading.get_trace("smollm2-135m", state.DEFAULT_TEXT).token_ids)
    costs = [c.value for c in at.caption if c.value.startswith(f"{tokens:,} tokens · model ")]
    assert len(costs) == 1, costs
    assert costs[0].endswith(" s") and (" · figure " in costs[0]) == (page == "attention")
