"""What each preset's note promises, checked against the model the preset picks (issue 20, item 5).

A preset's `expect` names the tokens its note promises and where they are: a next token among the top k (or,
where the note says the model fails, not among them), the word the best-ranked head of a query token looks at,
or the translator's output. Each is run here as the page runs it: through the model the preset loads (a Chinese
preset picks the model that reads Chinese where it is installed), with the page's own ranking of heads, and the
probability a note prints is checked to its printed precision in both languages."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from core.lessons.head_ranking import rank_query_rows
from tests.support.gemma import gemma_package
from tests.support.models import loaded
from viz import i18n, presets
from viz.presets import ATTENDS, GEMMA, NEXT, SMOLLM2, TRANSLATES, Expect, Preset
from viz.views.attention import attention_sources

PROMISING = [preset for preset in presets.PRESETS if preset.expect]
CASES = [(preset, expect) for preset in PROMISING for expect in preset.expect]


def _id(case) -> str:
    preset, expect = case
    return f"{preset.page}:{preset.label}:{expect.token.strip()}"


@functools.cache
def model(name: str):
    return loaded(name)


def page_trace(lm, text: str):
    """The trace as the pages keep it (viz.loading.get_trace): values in float16."""
    return lm.trace(text, dtype=np.float16)


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def measured_model(preset: Preset, expect: Expect) -> str:
    """The model the page runs the preset's text through; a preset that keeps the person's model is measured
    with the model its promise names."""
    if expect.model == GEMMA:
        gemma_package()  # skips cleanly where the Gemma packages are missing
    picked = presets.model_for(preset)
    if picked is not None:
        assert picked == expect.model, "the promise was measured with another model than the preset picks"
    return expect.model


def ranked_texts(lm, text: str) -> tuple[list[str], np.ndarray]:
    """Every token's text, most likely first, after `text`, with the probabilities in that order."""
    probs = softmax(page_trace(lm, text).last_logits)
    order = np.argsort(-probs, kind="stable")
    return [lm.tokenizer.token_text(int(i)) for i in order], probs[order]


def _shown(probability: float, shown: str) -> str:
    """The probability written with as many decimals as the note's text, "3.1%" or "63%"."""
    decimals = len(shown.rstrip("%").partition(".")[2])
    return f"{probability:.{decimals}%}"


@pytest.mark.parametrize(("preset", "expect"), CASES, ids=[_id(case) for case in CASES])
def test_every_promised_token_is_where_the_note_says(preset, expect):
    lm = model(measured_model(preset, expect))
    if expect.kind == NEXT:
        after = preset.text if expect.after is None else expect.after
        ids = lm.encode(preset.text)[0].ids
        assert ids[: len(lm.encode(after)[0].ids)] == lm.encode(after)[0].ids, "the page has no position after it"
        texts, probs = ranked_texts(lm, after)
        within = expect.token in texts[: expect.top]
        assert within != expect.absent, (expect.token, texts[: max(expect.top, 10)])
        if expect.shown:
            assert _shown(float(probs[texts.index(expect.token)]), expect.shown) == expect.shown
    elif expect.kind == ATTENDS:
        trace = page_trace(lm, preset.text)
        source = attention_sources(trace, lm.tokenizer)["self"]
        query_word = expect.query or preset.focus
        query = next(i for i, label in enumerate(source.queries) if label.strip("␣").lower() == query_word)
        best = rank_query_rows([record.query_rows(query) for record in source.records], query, source.sink_keys)[0]
        assert source.keys[best.key].strip("␣") == expect.token, best
    else:
        assert expect.kind == TRANSLATES
        assert lm.translate(preset.text) == expect.token


@pytest.mark.parametrize("language", [i18n.SOURCE_LANGUAGE, "zh"])
def test_the_notes_print_the_promised_numbers_in_both_languages(language):
    translate = i18n.translator(language)
    for preset in PROMISING:
        note = translate(preset.note)
        assert language == i18n.SOURCE_LANGUAGE or note != preset.note, f"untranslated: {preset.note}"
        for expect in preset.expect:
            assert not expect.shown or expect.shown in note, (expect.shown, note)
            assert expect.kind in (NEXT, ATTENDS, TRANSLATES) and expect.top >= 1


def test_every_next_token_promise_is_on_a_page_that_shows_next_tokens():
    for preset, expect in CASES:
        assert (expect.kind == NEXT) <= (preset.page in ("next_token", "logit_lens")), preset.label
        assert (expect.kind == TRANSLATES) <= (preset.page == "encoder_decoder"), preset.label


def test_the_chinese_next_token_presets_promise_only_what_the_model_that_reads_chinese_does():
    """Every Chinese example on the Next token and Logit lens pages that names a token makes a promise the
    tests check: the article's 喜马拉雅山 is said to fail, with the nearest wording that works beside it."""
    for page in ("next_token", "logit_lens"):
        for preset in presets.for_page(page):
            if preset.language == "zh" and preset.text2 is None and re.search(r"[\u4e00-\u9fff]", preset.note):
                mentions_a_token = any(word in preset.note for word in ("朋友", "吃", "衣服", "峰", "喜马拉雅山"))
                assert not mentions_a_token or preset.expect, preset.label
    mountain = next(p for p in presets.for_page("next_token") if p.text == "世界上最高的山是")
    assert any(e.absent and e.token == "喜" for e in mountain.expect)
    assert any(p.text.startswith("珠穆朗玛峰") and p.expect for p in presets.for_page("next_token"))


@pytest.mark.parametrize("name", [SMOLLM2, GEMMA])
@pytest.mark.parametrize(("first", "second", "word"), [
    ("The animal didn't cross the street because it was too tired",
     "The animal didn't cross the street because it was too narrow", "it"),
    ("Go to the bank to get some money.", "Go to the bank to get some water.", "bank"),
])
def test_a_model_that_reads_left_to_right_looks_from_the_word_alike_in_both_sentences(name, first, second, word):
    """What the notes of "it … narrow" and "bank + water" say of SmolLM2 and Gemma: the word that differs comes
    after the query, so every head's row of the query is the same in both sentences."""
    if name == GEMMA:
        gemma_package()
    lm = model(name)
    rows = []
    for text in (first, second):
        source = attention_sources(page_trace(lm, text), lm.tokenizer)["self"]
        query = next(i for i, label in enumerate(source.queries) if label.strip("␣").lower() == word)
        rows.append(np.stack([record.query_rows(query)[:, : query + 1] for record in source.records]))
    np.testing.assert_allclose(rows[0], rows[1], atol=1e-6)


def test_no_preset_calls_the_articles_seeds():
    chinese = i18n.translator("zh")
    for preset in presets.PRESETS:
        for text in (preset.note, preset.label):
            assert not re.search(r"\bseeds?\b", text, re.IGNORECASE), text
            assert "种子" not in chinese(text), chinese(text)
