"""Prompting (core/lessons/prompting.py, the Prompting page): the labelled sets, the few-shot prompt builder
(demonstrations only from the training half, k of them, balanced, seeded), the marked tokens, SmolLM2's chat template
as tokens with roles, the accuracy table against plain forward passes, and the page in both languages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core import InputError
from core.engine.model import Transformer
from core.lessons import prompting as core
from core.runtime.language_model import LanguageModel
from core.text.chat import apply_chat_template
from core.text.tokenizers import bytes_tokenizer
from tests.support.models import loaded
from tests.support.pages import HOSTILE, charts, open_page, plotly_array, raw_html_bodies
from tests.support.small_models import SMALL, small_lm
from viz import catalog, i18n, state
from viz.figures.prompting import prompt_tokens_html

SMOLLM2 = "smollm2-135m"
ENTRY = catalog.BY_ID["prompting"]
TASKS = [(task, language) for task in core.TASKS for language in core.LANGUAGES]


# ---------------------------------------------------------------- the labelled sets and the demonstrations


@pytest.mark.parametrize("task,language", TASKS)
def test_each_task_has_a_training_half_and_at_least_20_held_out_questions(task, language):
    data = core.load_task(task, language)
    assert len(data.test) >= 20 and len(data.train) >= max(core.SHOTS)
    train = {tuple(sorted(e.fields.items())) for e in data.train}
    assert not train & {tuple(sorted(e.fields.items())) for e in data.test}, "a held-out question is in training"
    for example in data.test:
        assert example.label in example.choices and len(set(example.choices)) == len(example.choices) >= 2
    if data.labels:  # both labels equally often among the held-out questions: guessing one label gets half
        counts = {label: sum(e.label == label for e in data.test) for label in data.labels}
        assert len(set(counts.values())) == 1, counts


def test_article_004s_necklace_is_a_held_out_question_asked_as_its_blank():
    data = core.load_task("sentiment", "zh")
    necklace = data.test[0]
    assert data.bare["input"].format(**necklace.fields) == "给女朋友买了这个项链，她很喜欢，这个项链太"
    assert (data.word(necklace.label), data.bare["after"]) == ("好", "了。")


@pytest.mark.parametrize("task,language", TASKS)
def test_demonstrations_come_from_the_training_half_k_of_them_balanced_and_seeded(task, language):
    data = core.load_task(task, language)
    most = core.demonstrations(data, max(core.SHOTS), seed=3)
    for k in core.SHOTS:
        demos = core.demonstrations(data, k, seed=3)
        assert len(demos) == k and all(demo in data.train for demo in demos) and len(set(map(id, demos))) == k
        assert demos == core.demonstrations(data, k, seed=3) == most[:k]  # seeded; k-shot begins the 8-shot
        counts = [sum(d.label == label for d in demos) for label in {e.label for e in data.train}]
        assert max(counts) - min(counts) <= 1  # balanced: every label in turn
    assert core.demonstrations(data, 8, seed=4) != most
    with pytest.raises(InputError, match="demonstrations"):
        core.demonstrations(data, len(data.train) + 1)


# ---------------------------------------------------------------- prompts as marked tokens (a byte-level model)


def test_a_bare_prompt_is_the_description_then_each_demonstration_then_the_question_marked_token_by_token():
    lm = small_lm("gemma")
    data = core.load_task("sentiment", "zh")
    question, demos = data.test[5], core.demonstrations(data, 2)
    prompt = core.build_prompt(lm, data, question, 2)
    bare = data.bare
    expected = bare["description"] + bare["separator"] + "".join(
        bare["input"].format(**d.fields) + bare["answer"].format(label=data.word(d.label)) + bare["after"]
        + bare["separator"] for d in demos) + bare["input"].format(**question.fields)
    assert lm.tokenizer.decode(list(prompt.ids), skip_special_tokens=True) == expected
    assert prompt.parts[0] == "special"  # the start token, before the first segment only
    text_of = {}
    for span in prompt.spans():
        text_of.setdefault((span.part, span.demo), []).append(lm.tokenizer.decode(list(prompt.ids[span.start:span.end])))
    assert text_of[("question", None)] == [bare["input"].format(**question.fields)]
    assert prompt.ids[prompt.question_start:] == tuple(lm.tokenizer.encode(text_of[("question", None)][0]).ids[1:])
    for i, demo in enumerate(demos):
        assert text_of[("answer", i)] == [data.word(demo.label)]
        assert text_of[("demonstration", i)] == [bare["input"].format(**demo.fields), bare["after"] + bare["separator"]]
    assert [s.part for s in prompt.spans()][1] == "instruction" and core.formats(lm) == (core.BARE,)
    with pytest.raises(InputError, match="chat template"):
        core.build_prompt(lm, data, question, 2, core.CHAT)  # no template in this model: no instruction format


def test_the_cached_batched_table_equals_plain_forward_passes_with_sliding_windows_and_multi_token_choices():
    """On a small Gemma-shaped model (sliding windows of 5 tokens) with a byte tokenizer, every Chinese choice is
    several tokens: the table, read from one shared prefix in batches, equals one plain pass per prompt and choice."""
    lm = small_lm("gemma")
    table = core.shot_table(lm, "capitals", "zh", seed=1)
    data = core.load_task("capitals", "zh")
    for k, index in ((0, 0), (2, 7), (8, 23)):
        prompt = core.build_prompt(lm, data, data.test[index], k, seed=1)
        options = [core.choice_ids(lm, data, c) for c in data.test[index].choices]
        assert min(map(len, options)) > 1
        np.testing.assert_allclose(table.probs[(core.BARE, k)][index], core.direct_distribution(lm, prompt, options),
                                   atol=1e-5)
        np.testing.assert_allclose(core.question_distribution(lm, data, index, k, seed=1),
                                   table.probs[(core.BARE, k)][index], atol=1e-5)  # the row alone, before the table
    known = core.known_table(lm, "capitals", "zh", seed=1)
    assert all(np.array_equal(known.probs[cell], table.probs[cell]) for cell in core.cells(lm))
    for k in core.SHOTS:
        np.testing.assert_allclose(table.probs[(core.BARE, k)].sum(axis=1), 1.0)


def test_the_table_is_measured_a_cell_at_a_time_and_a_cell_is_kept_once_measured():
    lm = small_lm("llama")
    assert core.known_cells(lm, "sentiment", "en", seed=2) == {} and core.known_table(lm, "sentiment", "en", 2) is None
    cell = core.shot_cell(lm, "sentiment", "en", core.BARE, 2, seed=2)
    assert core.known_cells(lm, "sentiment", "en", seed=2).keys() == {(core.BARE, 2)}
    assert core.shot_cell(lm, "sentiment", "en", core.BARE, 2, seed=2) is cell  # kept: not measured again
    assert core.known_table(lm, "sentiment", "en", 2) is None  # four cells of five still to measure
    table = core.shot_table(lm, "sentiment", "en", seed=2)
    assert table.probs[(core.BARE, 2)] is cell and core.known_cells(lm, "sentiment", "en", 2).keys() == set(core.cells(lm))


def test_a_model_that_cannot_be_asked_the_task_gets_a_message():
    short = dataclasses.replace(SMALL["llama"], max_positions=64)
    torch.manual_seed(0)
    lm = LanguageModel("short", "short", Transformer(short), bytes_tokenizer(), "random", torch.device("cpu"))
    with pytest.raises(InputError, match="reads at most 64"):
        core.shot_table(lm, "sentiment", "en")
    with pytest.raises(InputError, match="does not predict a next token"):
        core.shot_table(loaded("minilm-l6"), "sentiment", "en")


def test_chain_of_thought_reads_every_number_after_both_prompts():
    lm = small_lm("llama")
    thought = core.chain_of_thought(lm, "en")
    assert thought.direct.shape == thought.after_steps.shape == (len(core.NUMBERS),)
    np.testing.assert_allclose([thought.direct.sum(), thought.after_steps.sum()], 1.0)
    assert thought.direct_prompt.endswith("The answer is") and "\n\n" not in thought.steps
    again = core.chain_of_thought(lm, "en")  # greedy: the same steps, the same numbers
    assert again.steps == thought.steps and np.array_equal(again.after_steps, thought.after_steps)


def test_token_text_reaches_the_page_escaped():
    names = {"question": HOSTILE}
    body = prompt_tokens_html([HOSTILE, "a"], ["question", "special"], [None, None], names=names)
    assert "<script" not in body and "<img" not in body and "&lt;script&gt;" in body


# ---------------------------------------------------------------- the real models


@pytest.fixture(scope="module")
def smollm():
    return loaded(SMOLLM2)


def test_smollm2s_chat_template_as_tokens_with_roles_and_the_special_tokens_between_them(smollm):
    data = core.load_task("sentiment", "en")
    question, demo = data.test[2], core.demonstrations(data, 1)[0]
    prompt = core.build_prompt(smollm, data, question, 1, core.CHAT)
    messages = [{"role": "system", "content": data.chat["system"]},
                {"role": "user", "content": demo.fields["text"]}, {"role": "assistant", "content": data.word(demo.label)},
                {"role": "user", "content": question.fields["text"]}]
    assert smollm.tokenizer.decode(list(prompt.ids)) == apply_chat_template(smollm.chat_template, messages)
    tokens = [smollm.tokenizer.id_to_token(i) for i in prompt.ids]
    specials = [i for i, part in enumerate(prompt.parts) if part == "special"]
    assert {tokens[i] for i in specials} == {"<|im_start|>", "<|im_end|>"} and tokens[0] == "<|im_start|>"
    starts = [i for i in specials if tokens[i] == "<|im_start|>"]
    assert [prompt.roles[i] for i in starts] == ["system", "user", "assistant", "user", "assistant"]
    template_spans = {span.start: span for span in prompt.spans() if span.part == "template"}
    for i in starts:  # each message opens with its role's name, written by the template
        span = template_spans[i + 1]
        assert smollm.tokenizer.decode(list(prompt.ids[span.start:span.end])) == prompt.roles[i] + "\n"
    for span in prompt.spans():
        text = smollm.tokenizer.decode(list(prompt.ids[span.start:span.end]))
        if span.part == "answer":
            assert (span.role, text, span.demo) == ("assistant", data.word(demo.label), 0)
        elif span.part == "question":
            assert (span.role, text) == ("user", question.fields["text"])
        elif span.part == "instruction":
            assert (span.role, text) == ("system", data.chat["system"])
    assert smollm.tokenizer.decode(list(prompt.ids[prompt.question_start:])) == (
        f"<|im_start|>user\n{question.fields['text']}<|im_end|>\n<|im_start|>assistant\n")


def test_one_accuracy_cell_recomputed_from_plain_forward_passes_equals_the_tables(smollm):
    """SmolLM2, English sentiment, one demonstration, bare prompts: every held-out question asked again by one plain
    forward pass per choice; the same probabilities, so the same accuracy."""
    table = core.shot_table(smollm, "sentiment", "en")
    data = core.load_task("sentiment", "en")
    direct = np.stack([core.direct_distribution(smollm, core.build_prompt(smollm, data, question, 1),
                                                [core.choice_ids(smollm, data, c) for c in question.choices])
                       for question in data.test])
    np.testing.assert_allclose(table.probs[(core.BARE, 1)], direct, atol=2e-4)
    correct = np.array([q.choices.index(q.label) for q in data.test])
    assert table.accuracy(core.BARE, 1) == float((direct.argmax(axis=1) == correct).mean())
    assert table.formats == core.FORMATS  # an instruct model: both formats
    assert table.mean_change(core.BARE) == pytest.approx(
        float(np.mean(direct[np.arange(len(correct)), correct] - table.correct_probs(core.BARE, 0))))


# ---------------------------------------------------------------- the page


def _charts_of(at, mode):
    return [spec for spec in charts(at) if any(trace.get("mode") == mode or trace.get("type") == mode
                                               for trace in spec["data"])]


@pytest.mark.parametrize("language,seed", [("en", 5), ("zh", 6)])  # seeds no other test measures: nothing kept
def test_the_page_shows_the_prompt_and_the_choices_at_once_and_the_measured_accuracy_when_asked(language, seed,
                                                                                               smollm):
    query = {state.LANG: language, state.MODEL: SMOLLM2, state.PR_TASK: "sentiment", state.PR_LANG: "en",
             state.PR_SHOTS: "2", state.PR_EXAMPLE: "4", state.PR_SEED: str(seed)}
    at = open_page(ENTRY, query=query)
    assert not at.exception, [e.value for e in at.exception]
    assert core.known_cells(smollm, "sentiment", "en", seed) == {}  # the page drew without measuring the table
    assert not _charts_of(at, "lines+markers+text")
    data = core.load_task("sentiment", "en")
    bars = [trace for trace in _charts_of(at, "bar")[0]["data"] if trace.get("type") == "bar"]
    for trace, k in zip(bars, (2, 0)):  # this prompt, then zero-shot
        np.testing.assert_allclose(plotly_array(trace["x"]), core.question_distribution(smollm, data, 4, k, seed=seed),
                                   atol=1e-6)
    translate = i18n.translator(language)
    assert any(translate("The chat template") == h.value for h in at.header)
    bodies = raw_html_bodies(at)
    assert any("pr-demo" in body and "&lt;|im_start|&gt;" in body for body in bodies)  # demonstrations, the template
    assert len(at.metric) == 2  # chain of thought: answered at once, after its steps

    at.button(key="pr-measure").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = core.known_table(smollm, "sentiment", "en", seed)
    lines = [t for t in _charts_of(at, "lines+markers+text")[0]["data"] if t.get("mode") == "lines+markers+text"]
    assert table is not None and len(lines) == 2  # measured once, for everyone; bare and chat
    for trace, fmt in zip(lines, table.formats):
        np.testing.assert_allclose(plotly_array(trace["y"]), [table.accuracy(fmt, k) for k in core.SHOTS])
    again = open_page(ENTRY, query=query)  # another session: the table at once, no button
    assert _charts_of(again, "lines+markers+text") and not [b for b in again.button if b.key == "pr-measure"]


def test_every_choice_is_in_the_link_and_a_link_opens_it(smollm):
    query = {state.LANG: "en", state.MODEL: SMOLLM2, state.PR_TASK: "sentiment", state.PR_LANG: "en",
             state.PR_FORMAT: "chat", state.PR_SHOTS: "4", state.PR_EXAMPLE: "3", state.PR_SEED: "0"}
    at = open_page(ENTRY, query=query)
    assert at.segmented_control(key=state.PR_FORMAT).value == "chat"
    assert at.segmented_control(key=state.PR_SHOTS).value == 4
    assert at.selectbox(key=state.PR_EXAMPLE).value == 3
    at.segmented_control(key=state.PR_SHOTS).set_value(8).run()
    at.selectbox(key=state.PR_EXAMPLE).set_value(5).run()
    assert not at.exception
    assert (at.query_params[state.PR_SHOTS], at.query_params[state.PR_EXAMPLE]) == ("8", "5")
    hostile = open_page(ENTRY, query={state.LANG: "zh", state.MODEL: SMOLLM2, state.PR_TASK: HOSTILE,
                                      state.PR_LANG: "en", state.PR_SHOTS: "3", state.PR_EXAMPLE: "99"})
    assert hostile.segmented_control(key=state.PR_TASK).value == "sentiment"
    assert hostile.segmented_control(key=state.PR_SHOTS).value == 1
    assert hostile.selectbox(key=state.PR_EXAMPLE).value == 0
    assert len(hostile.warning) >= 2  # the link's bad values said


def test_presenter_mode_and_a_preset_that_sets_the_controls(smollm):
    """In presenter mode (Chinese), the instruction preset: English reviews asked zero-shot in the chat template."""
    at = open_page(ENTRY, query={state.LANG: "zh", state.MODEL: SMOLLM2, state.PRESENT: "true", state.PR_LANG: "en"})
    assert any(b.label == "这个项链太____了" for b in at.button)  # article 004's necklace, one click away
    instruction = next(b for b in at.button if b.label == i18n.translator("zh")("instruction"))
    instruction.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.segmented_control(key=state.PR_FORMAT).value == "chat"
    assert at.segmented_control(key=state.PR_SHOTS).value == 0
    assert at.query_params[state.PR_FORMAT] == "chat" and at.query_params[state.PR_SHOTS] == "0"
    assert any("指示学习" in info.value for info in at.info)  # the preset's note, in Chinese


def test_prompting_is_on_the_lesson_path_right_after_next_token():
    assert catalog.LESSON_PATH.index("prompting") == catalog.LESSON_PATH.index("next_token") + 1
