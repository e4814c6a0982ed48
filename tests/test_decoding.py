"""core/lessons/decoding.py: step-by-step greedy decoding is lm.translate; teacher forcing's one pass equals the decoder
run step by step; each step's cross-attention rows are the probabilities a trace records."""

from __future__ import annotations

import numpy as np
import pytest

from core import InputError
from core.lessons.decoding import (
    MAX_STEPS,
    end_id,
    first_difference,
    greedy_decode,
    reference_translation,
    target_ids,
    teacher_forced,
    unknown_target_words,
)
from tests.support.models import loaded

SENTENCES = ("我是一名学生", "我有一只猫", "明天我在学校看书", "他每天吃两个苹果")


@pytest.fixture(scope="module")
def lm():
    return loaded("tiny-translator")


@pytest.mark.parametrize("text", SENTENCES)
def test_step_by_step_greedy_decoding_is_translate(lm, text):
    decoding = greedy_decode(lm, text)
    assert decoding.finished and decoding.steps[-1].next_id == end_id(lm)
    assert lm.tokenizer.decode(list(decoding.output_ids), skip_special_tokens=True) == lm.translate(text)
    for index, step in enumerate(decoding.steps):
        assert step.inputs == (lm.tokenizer.bos_id, *decoding.output_ids[:index])  # it reads its own outputs
        assert step.next_id == step.predicted == int(np.argmax(step.logits))
        np.testing.assert_allclose(step.logits, lm.next_token_logits(step.inputs, decoding.source_ids),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(step.probs.sum(), 1.0, rtol=1e-5)


def test_the_seed_sentences_translate(lm):
    words = lambda text: lm.tokenizer.decode(list(greedy_decode(lm, text).output_ids), skip_special_tokens=True)  # noqa: E731
    assert words("我是一名学生") == "I am a student"
    assert words("我有一只猫") == "I have a cat"
    assert words("明天我在学校看书") == "I read books at school tomorrow"


@pytest.mark.parametrize("target", ["I read books at school tomorrow", "I read a book at home every day", "tomorrow"])
def test_teacher_forced_logits_are_the_traced_decoder_logits_of_the_shifted_target(lm, target):
    text = "明天我在学校看书"
    forced = teacher_forced(lm, text, target)
    reference = target_ids(lm, target)
    inputs = (lm.tokenizer.bos_id, *reference)
    trace = lm.trace(text, target=target, dtype=np.float32)
    assert tuple(trace.token_ids) == inputs  # the decoder reads <s> + the target
    assert [step.next_id for step in forced.steps] == [*reference, end_id(lm)]  # and is taught the next word
    for position, step in enumerate(forced.steps):
        assert step.inputs == inputs[: position + 1]
        np.testing.assert_allclose(step.logits, trace.logits[position], rtol=1e-4, atol=1e-4)
        # One pass equals the decoder run on the prefix alone: the mask hides each position's future.
        np.testing.assert_allclose(step.logits, lm.next_token_logits(step.inputs, forced.source_ids),
                                   rtol=1e-4, atol=1e-4)


def test_cross_attention_rows_are_the_trace_s_recorded_probabilities(lm):
    text = "明天我在学校看书"
    free = greedy_decode(lm, text)
    target = lm.tokenizer.decode(list(free.output_ids), skip_special_tokens=True)
    trace = lm.trace(text, target=target, dtype=np.float32)
    forced = teacher_forced(lm, text, target)
    for position, (step, taught) in enumerate(zip(free.steps, forced.steps)):
        assert step.cross.shape == (lm.config.n_layers, lm.config.n_heads, len(free.source_ids))
        for layer, record in enumerate(trace.layers):
            recorded = np.asarray(record.cross_attn.probs, dtype=np.float32)[:, position]  # (heads, S)
            np.testing.assert_allclose(step.cross[layer], recorded, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(taught.cross[layer], recorded, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(step.cross.sum(axis=-1), 1.0, rtol=1e-5)


def test_layer_1_head_2_aligns_each_position_with_the_source_word_of_the_next_english_word(lm):
    """The engineer's reading, checked: the row of a target word looks at the source of the word that follows."""
    text = "明天我在学校看书"
    free = greedy_decode(lm, text)
    source = [lm.tokenizer.id_to_token(i) for i in free.source_ids]
    looked = {lm.tokenizer.id_to_token(step.inputs[-1]): source[int(np.argmax(step.cross[1, 2]))]
              for step in free.steps}
    assert looked["<s>"] == "我" and looked["I"] == "看" and looked["read"] == "书"
    assert looked["at"] == "学校" and looked["school"] == "明天"


def test_teacher_forcing_keeps_to_the_target_and_free_running_to_its_own_words(lm):
    text = "他每天吃两个苹果"
    free = greedy_decode(lm, text)
    forced = teacher_forced(lm, text, "He eats apples every day")
    words = lambda ids: [lm.tokenizer.id_to_token(i) for i in ids]  # noqa: E731
    assert words(free.output_ids) == ["He", "eats", "two", "apples", "every", "day"]
    assert words(forced.output_ids) == ["He", "eats", "apples", "every", "day"]
    assert first_difference(forced, free) == 3  # after "eats" one reads "apples", the other its own "two"
    assert lm.tokenizer.id_to_token(forced.steps[2].predicted) == "two"  # what the model expected instead
    same = teacher_forced(lm, text, free.output_ids)
    assert first_difference(same, free) is None


def test_unknown_words_are_named_and_the_untrained_model_decodes_to_its_bound(lm, classic):
    with pytest.raises(InputError) as raised:
        greedy_decode(lm, "我有一只熊猫")
    assert "熊" in str(raised.value)
    with pytest.raises(InputError):
        teacher_forced(lm, "The cat", "I")
    assert unknown_target_words(lm, "I have a zebra") == ["zebra"]
    assert unknown_target_words(lm, "I have a cat") == []
    free = greedy_decode(classic, "我是一名学生")
    assert len(free.steps) <= MAX_STEPS
    forced = teacher_forced(classic, "我是一名学生", reference_translation("我是一名学生"))
    assert first_difference(forced, free) is not None


def test_the_task_s_reference_translation():
    assert reference_translation("明天我在学校看书") == "I read books at school tomorrow"
    assert reference_translation("我有一只猫。") == "I have a cat"
    assert reference_translation("<b>x</b>") is None
