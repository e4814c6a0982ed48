"""The Encoder–decoder page in AppTest: every preset in both languages, stepping the decoding from the cached
decoding, teacher forcing against free running, the untrained model, unknown words and hostile text."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.lessons import decoding
from tests.support.pages import APP, open_page, raw_html_bodies
from viz import i18n, presets, state

PAGE = "viz/pages/encoder_decoder.py"
HOSTILE = '<img src=x onerror=alert(1)><script>alert("x")</script>'


def _open(model: str | None = "tiny-translator", text: str | None = None, **params: str) -> AppTest:
    chosen = {key: value for key, value in ((state.MODEL, model), (state.TEXT, text)) if value is not None}
    return open_page(PAGE, session=chosen, query=params)


@pytest.fixture
def runs(monkeypatch):
    """Counts the decoder runs of core/lessons/decoding.py."""
    counts = Counter()
    original = decoding._run

    def counting(lm, *args, **kwargs):
        counts[lm.name] += 1
        return original(lm, *args, **kwargs)

    monkeypatch.setattr(decoding, "_run", counting)
    return counts


PRESETS = presets.for_page("encoder_decoder")


def test_the_presets_are_the_seed_rows_and_the_reordering_sentence():
    texts = {preset.text for preset in PRESETS}
    assert {"我是一名学生", "我有一只猫", "明天我在学校看书"} <= texts
    assert any(dict(preset.settings).get(state.TARGET) for preset in PRESETS)  # row 17: a reference to force
    assert {preset.model for preset in PRESETS} == {"tiny-translator"}


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
@pytest.mark.parametrize("index", range(len(PRESETS)), ids=lambda i: PRESETS[i].text)
def test_every_preset_in_both_languages(index, language):
    preset = PRESETS[index]
    at = _open(model="classic", lang=language)
    at.button(key=f"preset-encoder_decoder-{index}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.MODEL] == "tiny-translator" and at.session_state[state.TEXT] == preset.text
    translate = i18n.translator(language)
    assert any(translate(preset.note) in info.value for info in at.info)
    assert len(at.get("plotly_chart")) == 3  # the attention map, the step's cross-attention, the next word
    assert at.get("arrow_data_frame") or at.dataframe
    if language == "zh":
        assert any("\u4e00" <= char <= "\u9fff" for char in at.title[0].value)
    for key, value in preset.settings:
        if not key.startswith("_") and key != state.DECODE_STEP:
            assert at.session_state[key] == value, key


def test_the_reordering_preset_opens_the_crossing_head():
    index = next(i for i, preset in enumerate(PRESETS) if preset.text == "明天我在学校看书")
    at = _open()
    at.button(key=f"preset-encoder_decoder-{index}").click().run()
    assert at.session_state[state.ATTENTION] == "cross"
    assert (at.session_state[state.LAYER], at.session_state[state.HEAD]) == (1, 2)


def test_next_word_steps_through_the_cached_decoding_to_the_end(runs):
    at = _open(text="她有三只狗")  # a sentence no other test decodes: the first visit runs the decoder
    first = sum(runs.values())
    assert first > 0
    assert any("She has three dogs" in m.value for m in at.markdown)
    assert at.session_state[state.DECODE_STEP] == 1  # counted from 1, as the text says "Step 1 of 5"
    for step in range(2, 6):
        at.button(key="dstep-next").click().run()
        assert not at.exception
        assert at.session_state[state.DECODE_STEP] == step
        assert at.query_params[state.DECODE_STEP] == str(step)
    assert at.button(key="dstep-next").disabled  # 5 steps: She, has, three, dogs, </s>
    assert at.success and "</s>" in at.success[0].value
    assert sum(runs.values()) == first, "stepping ran the decoder again"
    at.button(key="dstep-previous").click().run()
    assert at.session_state[state.DECODE_STEP] == 4


def test_a_linked_step_beyond_the_decoding_shows_the_last_one():
    at = _open(text="我是一名学生", dstep="30")
    assert at.session_state[state.DECODE_STEP] == 5  # I am a student </s>


def test_teacher_forcing_keeps_to_a_wrong_target_and_free_running_to_its_own_words():
    at = _open(text="他每天吃两个苹果", tgt="He eats apples every day")
    parted = [info.value for info in at.info if "From step" in info.value]
    assert parted and "step 4" in parted[0] and "“apples”" in parted[0] and "“two”" in parted[0]
    at.text_input(key=state.TARGET).input("").run()  # the model's own translation: nothing to part
    assert not at.exception
    assert any("Both decoders read the same words" in info.value for info in at.info)


def test_a_new_source_empties_a_target_typed_for_the_old_one():
    at = _open(text="我有一只猫", tgt="I have a dog")
    assert at.text_input(key=state.TARGET).value == "I have a dog"
    at.text_area(key=state.TEXT).input("我是一名学生").run()
    assert not at.exception
    assert at.text_input(key=state.TARGET).value == ""


def test_the_untrained_model_reads_the_task_s_reference_and_parts_at_once():
    at = _open(model="classic", text="我是一名学生")
    assert at.warning and "untrained" in at.warning[0].value
    assert any("I am a student" in caption.value for caption in at.caption)
    assert any("From step 2" in info.value for info in at.info)


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_unknown_words_give_the_core_s_message_naming_them(language):
    at = _open(text="我有一只熊猫", lang=language)
    assert any("熊" in info.value for info in at.info), [info.value for info in at.info]
    assert not at.get("plotly_chart")


def test_hostile_text_shows_as_text():
    at = _open(text=HOSTILE)
    assert any("alert" in info.value for info in at.info)  # named among the unknown words
    at = _open(text="我有一只猫", tgt=HOSTILE)
    assert any("onerror" in warning.value for warning in at.warning)  # the target's unknown words
    for body in raw_html_bodies(at):
        assert "<img" not in body and "<script" not in body
    at = _open(model="classic", text=HOSTILE, tgt=HOSTILE)
    for body in raw_html_bodies(at):
        assert "<img" not in body and "<script" not in body
    assert len(at.get("plotly_chart")) == 3


# ---------------------------------------------------------------- the lesson path, the alignment head, the labels


def _aligned(text: str) -> tuple[int, int]:
    from core.lessons.head_ranking import alignment_head
    from viz.loading import cached_model, get_trace
    from viz.views.attention import attention_sources

    lm = cached_model("tiny-translator")
    free = decoding.greedy_decode(lm, text)
    trace = get_trace("tiny-translator", text, (lm.tokenizer.bos_id, *free.output_ids))
    cross = attention_sources(trace, lm.tokenizer)["cross"]
    return alignment_head([record.probs for record in cross.records], cross.sink_keys)


def test_a_first_visit_opens_the_head_that_aligns_the_sentences():
    at = _open(text="我是一名学生")
    aligned = _aligned("我是一名学生")
    assert (at.session_state[state.LAYER], at.session_state[state.HEAD]) == aligned != (0, 0)
    assert any("aligns best" in caption.value for caption in at.caption)
    named = _open(text="我是一名学生", layer="0", head="0")  # the link's choice wins
    assert (named.session_state[state.LAYER], named.session_state[state.HEAD]) == (0, 0)


def test_the_alignment_head_looks_at_a_different_source_word_from_each_row():
    from core.lessons.head_ranking import alignment_head

    diagonal = np.full((1, 4, 5), 0.02)
    diagonal[0, np.arange(4), np.arange(1, 5)] = 0.92  # each row at its own word (key 0 is <s>)
    one_word = np.full((1, 4, 5), 0.02)
    one_word[0, :, 1] = 0.92  # sharp, but every row at the same word
    sinks = np.array([True, False, False, False, False])
    assert alignment_head([one_word, diagonal], sinks) == (1, 0)
    assert alignment_head([diagonal, one_word], sinks) == (0, 0)


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_lesson_path_opens_the_translator_on_its_example_and_gives_the_lesson_s_model_back(language):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params[state.LANG], at.query_params[state.MODEL] = language, "smollm2-135m"
    at.run()
    at.session_state["_lesson_go"] = "token_attribution"  # as the lesson path opens it
    at.run()
    text = at.session_state[state.TEXT]
    at.button(key="lesson-next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert (at.session_state[state.MODEL], at.session_state[state.TEXT]) == ("tiny-translator", "我是一名学生")
    assert not at.info or not any("不认识" in i.value or "does not know" in i.value for i in at.info)
    assert (at.session_state[state.LAYER], at.session_state[state.HEAD]) == _aligned("我是一名学生")
    assert len(at.get("plotly_chart")) == 3
    at.button(key="lesson-next").click().run()  # on to training: the lesson's own model and text again
    assert (at.session_state[state.MODEL], at.session_state[state.TEXT]) == ("smollm2-135m", text)
    at.button(key="lesson-previous").click().run()
    assert at.session_state[state.MODEL] == "tiny-translator" and not at.exception


def test_unknown_words_are_named_one_by_one_as_the_translator_cuts_them():
    at = _open(text="我喜欢苹果和香蕉")
    message = next(info.value for info in at.info if "香" in info.value)
    assert "和, 香, 蕉" in message and "和香蕉" not in message


def test_chinese_key_labels_stand_upright():
    import json

    at = _open(text="我是一名学生")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["tickangle"] == 0
    assert "一" in spec["layout"]["xaxis"]["ticktext"]
