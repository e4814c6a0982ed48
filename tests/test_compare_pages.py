"""Compare mode on every page that has it: every pair preset in both languages, hostile and overlong second
texts, the sidebar switch; and the download buttons of the views."""

from __future__ import annotations

import html

import pytest
from streamlit.testing.v1 import AppTest

from tests.support import pages
from tests.support.pages import APP
from viz import i18n, presets, state

PAGES = {"attention": "viz/pages/attention.py", "next_token": "viz/pages/next_token.py",
         "logit_lens": "viz/pages/logit_lens.py"}
HEADINGS = {"attention": "Compare: the same head in text 2", "next_token": "Compare: the next token after text 2",
            "logit_lens": "Compare: the last position of each text, layer by layer"}
TEXT = "The cat sat on the mat because it was warm"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def open_page(page: str, query: dict[str, str]) -> AppTest:
    return pages.open_page(PAGES[page], query=query, check=False)


def headings(at: AppTest) -> list[str]:
    return [h.value for h in (*at.header, *at.subheader)]


def chips(at: AppTest) -> str:
    return " ".join(str(e.proto.body) for e in at.get("html") if "ts-pair" in str(e.proto.body))


def pair_cases():
    for page in PAGES:
        for index, preset in enumerate(presets.for_page(page)):
            if preset.text2 is not None:
                for language in i18n.LANGUAGES:
                    yield page, index, language


@pytest.mark.parametrize(("page", "index", "language"), list(pair_cases()))
def test_every_pair_preset_shows_both_texts_and_what_changed(page, index, language):
    preset = presets.for_page(page)[index]
    at = open_page(page, {"lang": language, "model": "smollm2-135m"})
    at.button(key=f"preset-{page}-{index}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params[state.TEXT2] == preset.text2 and at.session_state[state.TEXT] == preset.text
    assert i18n.translator(language)(HEADINGS[page]) in headings(at)
    shown = chips(at)
    assert "ts-diff" in shown  # the tokens that differ are marked
    if language == "zh":
        assert "文本 1" in shown
    assert not [w.value for w in at.warning if "“text2”" in w.value]


@pytest.mark.parametrize("page", list(PAGES))
def test_hostile_text_in_text2_is_shown_as_text(page):
    at = open_page(page, {"model": "smollm2-135m", state.TEXT: TEXT, state.TEXT2: XSS})
    assert not at.exception, [e.value for e in at.exception]
    assert HEADINGS[page] in headings(at)
    shown = chips(at)
    assert "<script" not in shown and "<img" not in shown
    assert html.escape(">") in shown and "alert" in shown  # shown as text


@pytest.mark.parametrize("page", list(PAGES))
def test_a_second_text_equal_to_the_first_says_so(page):
    at = open_page(page, {"model": "smollm2-135m", state.TEXT: TEXT, state.TEXT2: TEXT})
    assert not at.exception, [e.value for e in at.exception]
    assert any("same tokens" in c.value for c in at.caption)


def test_an_overlong_second_text_in_the_link_is_cut_with_a_notice():
    at = open_page("next_token", {"model": "smollm2-135m", state.TEXT: TEXT,
                                  state.TEXT2: "warm " * (state.MAX_TEXT_CHARS // 5 + 10)})
    assert not at.exception, [e.value for e in at.exception]
    assert any("second text was cut" in w.value for w in at.warning)
    assert len(at.query_params[state.TEXT2]) <= state.MAX_TEXT_CHARS


def test_an_empty_second_text_in_the_link_falls_back_with_a_notice_and_compare_stays_off():
    at = open_page("attention", {"model": "smollm2-135m", state.TEXT: TEXT, state.TEXT2: ""})
    assert not at.exception
    assert any("“text2”" in w.value for w in at.warning)
    assert state.TEXT2 not in at.query_params and HEADINGS["attention"] not in headings(at)


def test_the_sidebar_switch_turns_compare_mode_on_and_off():
    at = open_page("next_token", {"model": "smollm2-135m", state.TEXT: TEXT})
    assert HEADINGS["next_token"] not in headings(at)
    at.sidebar.toggle(key=state.COMPARE).set_value(True).run()
    assert at.session_state[state.TEXT2] == TEXT  # the second text starts as the first, to be edited
    at.sidebar.text_area(key=state.TEXT2).input("The cat sat on the mat because it was cold").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params[state.TEXT2] == "The cat sat on the mat because it was cold"
    assert HEADINGS["next_token"] in headings(at)
    at.sidebar.toggle(key=state.COMPARE).set_value(False).run()
    assert state.TEXT2 not in at.query_params and HEADINGS["next_token"] not in headings(at)


def test_a_single_text_preset_leaves_compare_mode():
    at = open_page("attention", {"model": "smollm2-135m", state.TEXT: TEXT, state.TEXT2: TEXT + " too"})
    single = next(i for i, p in enumerate(presets.for_page("attention")) if p.text2 is None)
    at.button(key=f"preset-attention-{single}").click().run()
    assert not at.exception
    assert state.TEXT2 not in at.query_params and HEADINGS["attention"] not in headings(at)


@pytest.mark.parametrize(("page", "labels"), [
    ("attention", {"Attention matrix (CSV)", "Download the whole trace (.npz)"}),
    ("next_token", {"Next-token distribution (CSV)", "Per-token loss (CSV)", "Download the whole trace (.npz)"}),
])
def test_the_views_offer_their_downloads(page, labels):
    at = open_page(page, {"model": "smollm2-135m", state.TEXT: TEXT})
    assert not at.exception
    assert labels <= {b.proto.label for b in at.get("download_button")}


def test_the_embeddings_page_offers_its_vectors():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["model"], at.query_params[state.TEXT] = "minilm-l6", TEXT
    at.switch_page("viz/pages/embeddings.py").run()
    assert not at.exception
    assert "Embeddings (CSV)" in {b.proto.label for b in at.get("download_button")}
