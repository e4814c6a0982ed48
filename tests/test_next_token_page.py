"""The Next-token page in AppTest: SmolLM2's distribution, live temperature, step-by-step generation, encoders."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import LanguageModel
from viz.loading import cached_model
from viz.tokens import visible
from viz.views.generation import GEN_CACHE, GEN_IDS, GEN_LAST, GEN_START, token_chips

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "viz/pages/next_token.py"
# A text no other test traces, so the trace cache cannot hide a model run from the counter.
TEXT = "The page under test asks the model what comes after the word"


def _array(value) -> np.ndarray:
    """Plotly serialises numpy arrays as {"dtype", "bdata"}; plain lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=float)


def _chart(at: AppTest, title_part: str) -> dict:
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if title_part in spec["layout"].get("title", {}).get("text", ""):
            return spec
    raise AssertionError(f"no chart titled …{title_part}…")


def _bars(spec: dict, name: str) -> np.ndarray:
    return _array(next(t for t in spec["data"] if t.get("name") == name)["x"])


def _assert_softmax_at(spec: dict, temperature: float) -> None:
    """Shown probabilities are softmax(z / T) of the shown logits, up to the shared normaliser."""
    probs, logits = _bars(spec, "probability"), _bars(spec, "logit")
    np.testing.assert_allclose(probs / probs[0], np.exp((logits - logits[0]) / temperature), rtol=1e-4)


@pytest.fixture(scope="module")
def calls():
    counts = Counter()
    patch = pytest.MonkeyPatch()
    for method in ("trace", "next_token_logits", "read"):
        original = getattr(LanguageModel, method)

        def counting(self, *args, _original=original, _name=method, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        patch.setattr(LanguageModel, method, counting)
    yield counts
    patch.undo()


@pytest.fixture(scope="module")
def at(calls):
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["model"] = "smollm2-135m"
    app.session_state["text"] = TEXT
    app.run()
    return app.switch_page(PAGE).run()


def test_page_shows_the_models_distribution(at, calls):
    assert not at.exception
    spec = _chart(at, "Next token after")
    _assert_softmax_at(spec, 1.0)
    assert _bars(spec, "probability").sum() <= 1.0 + 1e-6
    assert calls["trace"] == 1
    assert any("softmax" in latex.value for latex in at.latex)


def test_the_source_articles_three_word_example_is_computed(at):
    table = at.dataframe[0].value
    exact = np.exp([2.5, 1.0, -0.5]) / np.exp([2.5, 1.0, -0.5]).sum()
    np.testing.assert_allclose(table["exact softmax(z)"], exact, atol=5e-5)
    assert list(table["source article's figure"]) == [0.8, 0.18, 0.02]


def test_temperature_redraws_without_running_the_model(at, calls):
    before = _bars(_chart(at, "Next token after"), "probability")
    runs = dict(calls)
    at.slider(key="temp").set_value(0.5).run()
    spec = _chart(at, "Next token after")
    assert not np.allclose(_bars(spec, "probability"), before)
    _assert_softmax_at(spec, 0.5)
    assert dict(calls) == runs
    assert "softmax(z / 0.5)" in at.dataframe[0].value.columns


def test_top_k_greys_the_removed_tokens(at):
    at.number_input(key="top_k").set_value(3).run()
    spec = _chart(at, "Next token after")
    colours = next(t for t in spec["data"] if t["name"] == "probability")["marker"]["color"]
    assert len(set(colours[:3])) == 1 and len(set(colours[3:])) == 1 and colours[0] != colours[3]
    at.number_input(key="top_k").set_value(0).run()


def test_next_token_button_appends_one_marked_token(at, calls):
    prompt_ids = list(at.session_state[GEN_IDS])
    at.button(key="nt_next").click().run()
    assert not at.exception
    ids = at.session_state[GEN_IDS]
    assert ids[:-1] == prompt_ids and at.session_state[GEN_START] == len(prompt_ids)
    assert calls["read"] == 1 and calls["next_token_logits"] == 0
    assert at.session_state[GEN_CACHE].ids == prompt_ids and at.session_state[GEN_CACHE].layers.length == len(prompt_ids)
    chips = at.html[0].proto.body
    assert chips.count("nt-generated") == 1 and chips.count("nt-chip") == len(ids)
    # Greedy by default: the chosen token is the top bar of the step's distribution.
    step = _chart(at, "Last step: chose")
    first = next(t for t in step["data"] if t["name"] == "probability")
    assert _array(first["x"]).argmax() == 0 and step["layout"]["yaxis"]["ticktext"][0] in step["layout"]["title"]["text"]


def test_each_click_reads_one_new_token_and_predicts_as_the_whole_text_would(at):
    """The session's key/value cache: the second click reads only the token the first one chose, and the
    distribution it draws from equals the one computed from the whole text without a cache."""
    at.button(key="nt_next").click().run()
    ids = at.session_state[GEN_IDS]
    cache = at.session_state[GEN_CACHE]
    assert cache.ids == ids[:-1] and cache.layers.length == len(ids) - 1
    step, _ = at.session_state[GEN_LAST]
    whole = cached_model("smollm2-135m").next_token_logits(ids[:-1])
    np.testing.assert_allclose(step.logits, whole, atol=2e-3)
    assert int(np.argmax(step.logits)) == int(np.argmax(whole)) == ids[-1]


def test_generate_n_and_study_the_continuation(at):
    before = len(at.session_state[GEN_IDS])
    at.number_input(key="nt_steps").set_value(2).run()
    at.button(key="nt_generate").click().run()
    ids = at.session_state[GEN_IDS]
    assert len(ids) - before in (1, 2)  # one fewer if the model ended the text with a special token
    assert at.html[0].proto.body.count("nt-generated") == len(ids) - at.session_state[GEN_START]
    at.button(key="nt_study").click().run()
    assert at.session_state["text"].startswith(TEXT) and len(at.session_state["text"]) > len(TEXT)


def test_an_encoder_gets_an_explanation_and_a_way_back(at):
    at.session_state["model"] = "minilm-l6"
    at.run()
    assert not at.exception
    assert any("does not predict next tokens" in info.value for info in at.info)
    at.button(key="switch-smollm2-135m").click().run()
    assert at.session_state["model"] == "smollm2-135m"
    assert not at.exception


class _FakeTokenizer:
    """Token texts chosen to break naive HTML; id 0 is special."""

    texts = {0: "<|end|>", 1: "<img src=x onerror=alert(1)>", 2: " the", 3: "\n"}
    special_ids = frozenset({0})

    def id_to_token(self, token_id):
        return self.texts[token_id]

    def token_bytes(self, token_id):
        return self.texts[token_id].encode()

    def is_unknown(self, token_id):
        return False


def test_chips_escape_token_text_and_mark_only_the_continuation():
    body = token_chips(_FakeTokenizer(), [1, 2, 3, 0], start=2)
    assert "<img" not in body and "&lt;img␣src=x␣onerror=alert(1)&gt;" in body
    assert body.count("nt-generated") == 2 and body.count("nt-chip") == 4
    assert body.index("nt-generated") > body.index("␣the")


def test_visible_whitespace():
    assert visible(" the\n") == "␣the↵"
    assert visible("\x00") == "<00>"


def test_a_long_text_shows_its_loss_as_coloured_text():
    from viz.loading import get_trace

    text = " ".join(f"Sentence number {i} says something." for i in range(12))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model"] = "smollm2-135m"
    at.session_state["text"] = text
    at.switch_page(PAGE).run()
    assert not at.exception
    shown = [h.value for h in at.html if "ts-loss" in h.value]
    assert len(shown) == 1 and shown[0].count('class="ts-loss"') == len(get_trace("smollm2-135m", text).token_ids) - 1
    assert not any(json.loads(c.proto.spec)["layout"].get("yaxis", {}).get("title", {}).get("text", "")
                   .startswith("p(actual") for c in at.get("plotly_chart"))


def test_the_progress_bar_goes_once_generation_is_done(at):
    at.number_input(key="nt_steps").set_value(3).run()
    at.button(key="nt_generate").click().run()
    assert not at.exception
    assert not at.get("progress")


def _fresh_page(text: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["model"] = "smollm2-135m"
    app.session_state["text"] = text
    app.run()
    return app.switch_page(PAGE).run()


def test_clicks_give_the_tokens_generate_gives():
    """Three clicks, each reading one new token with the session's key/value cache, give the greedy continuation
    `generate` gives (the browser test checks that a click reruns the generation's fragment alone)."""
    text = "A click on the button below asks the model for"
    at = _fresh_page(text)
    for _ in range(3):
        at.button(key="nt_next").click().run()
        assert not at.exception
    expected = cached_model("smollm2-135m").generate(text, 3)
    assert at.session_state[GEN_IDS] == expected.prompt_ids + expected.ids
    assert at.html[0].proto.body.count("nt-generated") == 3


def _byte_token(tokenizer, value: int) -> int:
    return next(i for i in range(tokenizer.vocab_size) if tokenizer.token_bytes(i) == bytes([value]))


def test_a_character_in_pieces_shows_once_whole_and_never_as_raw_bytes(monkeypatch):
    """SmolLM2 spells 冷 (E5 86 B7) with up to three byte tokens: while only its first bytes are generated the
    chips, the caption and the text to study show no <E5> or U+FFFD, only a character being written; the
    third byte completes it and 冷 appears."""
    import viz.views.generation as generation
    from core.runtime.generation import Step, filter_distribution

    text = "Cold in Chinese is"
    at = _fresh_page(text)
    tokenizer = cached_model("smollm2-135m").tokenizer
    queue = [_byte_token(tokenizer, byte) for byte in "冷".encode()]

    def one_byte(lm, ids, sampling, rng, cache=None):
        logits = np.zeros(lm.tokenizer.vocab_size, dtype=np.float32)
        token = queue.pop(0)
        return Step(list(ids) + [token], token, logits, filter_distribution(logits, sampling))

    monkeypatch.setattr(LanguageModel, "generate_step", one_byte)
    for count in (1, 2):
        at.button(key="nt_next").click().run()
        chips = at.html[0].proto.body
        assert "nt-unfinished" in chips and "<E5>" not in chips and "&lt;E5&gt;" not in chips and "冷" not in chips
        assert any(f"{count} of its 3 bytes" in caption.value for caption in at.caption)
        ids, start = at.session_state[GEN_IDS], at.session_state[GEN_START]
        assert generation.continuation(tokenizer, text, ids, start) == text  # held back, not U+FFFD
    at.button(key="nt_next").click().run()
    chips = at.html[0].proto.body
    assert "nt-unfinished" not in chips and "冷" in chips and "&lt;E" not in chips
    assert chips.count("nt-generated") == 3
    ids, start = at.session_state[GEN_IDS], at.session_state[GEN_START]
    assert generation.continuation(tokenizer, text, ids, start) == text + "冷"
