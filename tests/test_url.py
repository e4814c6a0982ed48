"""Every choice that changes a view is in the URL: a link restores it exactly, and junk in a link falls back
to the default with a visible notice, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.pages import open_page
from viz import state, url

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ATTENTION, NEXT_TOKEN, OVERVIEW = "viz/pages/attention.py", "viz/pages/next_token.py", "viz/pages/overview.py"
POSITIONS, MASKS = "viz/pages/positional_encoding.py", "viz/pages/masks.py"
TOKENIZER_TRAINING, EMBEDDINGS = "viz/pages/tokenizer_training.py", "viz/pages/embeddings.py"
ATTENTION_MATH, MULTI_HEAD = "viz/pages/attention_math.py", "viz/pages/multi_head.py"
TOKEN_ATTRIBUTION = "viz/pages/token_attribution.py"
INSIDE_BLOCK = "viz/pages/inside_block.py"
EMERGENCE = "viz/pages/emergence.py"
ENCODER_DECODER = "viz/pages/encoder_decoder.py"
TRAINING, HEAD_FINDER = "viz/pages/training.py", "viz/pages/head_finder.py"
PROMPTING = "viz/pages/prompting.py"
TEXT = "The cat sat on the mat because it was warm"

# parameter -> (page, model, a valid value other than the default, what session state then holds)
ROUND_TRIPS = {
    state.LANG: (OVERVIEW, "smollm2-135m", "zh", "zh"),
    state.PRESENT: (OVERVIEW, "smollm2-135m", "true", True),
    state.MODEL: (OVERVIEW, None, "minilm-l6", "minilm-l6"),
    state.TEXT: (OVERVIEW, "smollm2-135m", "我喜欢吃苹果", "我喜欢吃苹果"),
    state.TEXT2: (ATTENTION, "smollm2-135m", "The cat sat on the mat because it was cold",
                  "The cat sat on the mat because it was cold"),
    state.LAYER: (ATTENTION, "smollm2-135m", "7", 7),
    state.HEAD: (ATTENTION, "smollm2-135m", "3", 3),
    state.QUERY: (ATTENTION, "smollm2-135m", "cat", "cat"),
    state.ATTENTION: (ATTENTION, "classic", "cross", "cross"),
    state.SCALE: (ATTENTION, "smollm2-135m", "log", "log"),
    state.TEMPERATURE: (NEXT_TOKEN, "smollm2-135m", "0.5", 0.5),
    state.TOP_K: (NEXT_TOKEN, "smollm2-135m", "5", 5),
    state.TOP_P: (NEXT_TOKEN, "smollm2-135m", "0.9", 0.9),
    state.SEED: (NEXT_TOKEN, "smollm2-135m", "42", 42),
    state.PE_D: (POSITIONS, "smollm2-135m", "64", 64),
    state.PE_LEN: (POSITIONS, "smollm2-135m", "50", 50),
    state.PE_DIM: (POSITIONS, "smollm2-135m", "5", 5),
    state.ORDER: (POSITIONS, "minilm-l6", "shuffled", "shuffled"),
    state.PAD: (MASKS, "minilm-l6", "Hello there", "Hello there"),
    state.CORPUS: (TOKENIZER_TRAINING, "smollm2-135m", "own", "own"),
    state.MERGES: (TOKENIZER_TRAINING, "smollm2-135m", "300", 300),
    state.STEP: (TOKENIZER_TRAINING, "smollm2-135m", "5", 5),
    state.TOKEN: (EMBEDDINGS, "smollm2-135m", "3", 3),
    state.HIDDEN: (EMBEDDINGS, "smollm2-135m", "7", 7),
    state.AM_STEP: (ATTENTION_MATH, "smollm2-135m", "4", 4),
    state.AM_SEED: (ATTENTION_MATH, "smollm2-135m", "42", 42),
    state.AM_DK: (ATTENTION_MATH, "smollm2-135m", "2", 2),
    state.AM_N: (ATTENTION_MATH, "smollm2-135m", "4", 4),
    state.AM_CAUSAL: (ATTENTION_MATH, "smollm2-135m", "true", True),
    state.AM_QUERY: (ATTENTION_MATH, "smollm2-135m", "1", 1),
    state.ABLATE: (MULTI_HEAD, "smollm2-135m", "1,4", [1, 4]),
    state.ABLATE_MODE: (MULTI_HEAD, "smollm2-135m", "mean", "mean"),
    state.LATER: (MULTI_HEAD, "smollm2-135m", "2", 2),
    state.POSITION: (TOKEN_ATTRIBUTION, "smollm2-135m", "5", 5),
    state.NORM_AT: (INSIDE_BLOCK, "smollm2-135m", "mlp", "mlp"),
    state.FF_ALL: (INSIDE_BLOCK, "classic", "true", True),
    state.PATTERN: (EMERGENCE, "smollm2-135m", "toad", "toad"),
    state.TARGET: (ENCODER_DECODER, "classic", "I have a dog", "I have a dog"),
    state.DECODE_STEP: (ENCODER_DECODER, "classic", "3", 3),
    state.TR_TASK: (TRAINING, "smollm2-135m", "reverse", "reverse"),
    state.TR_LAYERS: (TRAINING, "smollm2-135m", "2", 2),
    state.TR_D: (TRAINING, "smollm2-135m", "64", 64),
    state.TR_HEADS: (TRAINING, "smollm2-135m", "4", 4),
    state.TR_STEPS: (TRAINING, "smollm2-135m", "500", 500),
    state.TR_BATCH: (TRAINING, "smollm2-135m", "64", 64),
    state.TR_SOURCE: (TRAINING, "smollm2-135m", "own", "own"),
    state.CLASS: (ATTENTION, "smollm2-135m", "ABCD", "ABCD"),
    state.ROLE: (NEXT_TOKEN, "smollm2-135m", "teacher", "teacher"),
    state.FOLLOW: (ATTENTION, "smollm2-135m", "ABCD", "ABCD"),
    state.LEAD: (OVERVIEW, "smollm2-135m", "ABCD", "ABCD"),
    state.HEAD_SCORE: (HEAD_FINDER, "smollm2-135m", "previous_token", "previous_token"),
    state.ICL_OFF: (HEAD_FINDER, "smollm2-135m", "3", 3),
    # The Prompting page's controls: the untrained encoder–decoder cannot be asked the task (the page says so at
    # once), yet draws every control; the format needs a model with a chat template.
    state.PR_TASK: (PROMPTING, "classic", "capitals", "capitals"),
    state.PR_LANG: (PROMPTING, "classic", "zh", "zh"),
    state.PR_FORMAT: (PROMPTING, "smollm2-135m", "chat", "chat"),
    state.PR_SHOTS: (PROMPTING, "classic", "4", 4),
    state.PR_EXAMPLE: (PROMPTING, "classic", "3", 3),
    state.PR_SEED: (PROMPTING, "classic", "5", 5),
}
HOSTILE = ['<script>alert(1)</script>', "NaN", "1e309", "-1", "99999999999999999999", "", "\u202e\u0000x"]


def open_link(page: str, query: dict[str, str]) -> AppTest:
    return open_page(page, query=query, check=False)  # the link opens this page directly


def test_every_url_parameter_has_a_round_trip_here():
    assert set(ROUND_TRIPS) == set(url.URL_PARAMS)


@pytest.mark.parametrize("key", list(ROUND_TRIPS))
def test_a_link_restores_each_choice_and_keeps_it_in_the_address(key):
    page, model, value, expected = ROUND_TRIPS[key]
    query = {key: value, state.TEXT: TEXT} if key != state.TEXT else {key: value}
    if model is not None and key != state.MODEL:
        query[state.MODEL] = model
    at = open_link(page, query)
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[key] == expected
    assert at.query_params[key] == value, f"the address lost {key}"
    assert not [w.value for w in at.warning if f"“{key}”" in w.value], "a valid link gave a notice"


def junk_cases():
    """Every hostile value for every parameter it is junk for. Any short string is a valid text (pages show
    it escaped: tests/test_app.py), and a query token not in the text falls back to the last token
    (tests/test_attention_page.py; an empty one means every query); a second sentence for the padding batch is
    any text too: for the text and the padding sentence only the empty value is junk, for the query token only
    an overlong one. The encoder–decoder's target is any text too."""
    texts = (state.TEXT, state.TEXT2, state.QUERY, state.PAD, state.TARGET)
    for key in ROUND_TRIPS:
        for junk in HOSTILE:
            if key not in texts or (key != state.QUERY and not junk):
                yield key, junk
    yield state.QUERY, "x" * 201
    yield state.TARGET, "x" * (state.MAX_TARGET_CHARS + 1)


@pytest.mark.parametrize(("key", "junk"), list(junk_cases()))
def test_junk_in_a_link_falls_back_with_a_notice(key, junk):
    page, model, _, _ = ROUND_TRIPS[key]
    query = {state.MODEL: model or "smollm2-135m", state.TEXT: TEXT, key: junk}
    at = open_link(page, query)
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params.get(key) != junk
    assert any(f"“{key}”" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_parameter_the_app_does_not_know_is_dropped_with_a_notice():
    at = open_link(OVERVIEW, {"evil": "<b>x</b>"})
    assert not at.exception
    assert "evil" not in at.query_params
    assert any("“evil”" in w.value for w in at.warning)


def test_every_view_parameter_survives_a_round_trip_together():
    query = {state.LANG: "zh", state.MODEL: "minilm-l6", state.TEXT: TEXT, state.LAYER: "4", state.HEAD: "2",
             state.QUERY: "it", state.PRESENT: "true"}
    at = open_link(ATTENTION, query)
    assert not at.exception
    for key, value in query.items():
        assert at.query_params[key] == value, key
    at.button(key="head-next").click().run()
    assert at.query_params[state.HEAD] == "3" and at.query_params[state.LAYER] == "4"


def test_switching_the_language_keeps_the_page_model_text_and_selections():
    query = {state.MODEL: "minilm-l6", state.TEXT: TEXT, state.LAYER: "4", state.HEAD: "2", state.QUERY: "it"}
    at = open_link(ATTENTION, query)
    before = at.title[0].value
    at.sidebar.radio(key=state.LANG).set_value("zh").run()
    assert not at.exception
    assert at.title[0].value != before and "注意力" in at.title[0].value  # the same page, now in Chinese
    for key, value in query.items():
        assert at.query_params[key] == value, key
    assert (at.session_state[state.LAYER], at.session_state[state.HEAD]) == (4, 2)
    assert at.query_params[state.LANG] == "zh"
