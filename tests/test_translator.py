"""The toy translation task, the training code and the committed tiny translator."""

import json
import random
import re

import numpy as np
import pytest
import torch

from core import Capability, InputError, ModelConfig, spec_of
from core.engine.model import Transformer
from core.loaders.translator import DATA_DIR, TOKENIZER_FILE, load_tokenizer, metrics
from core.runtime.language_model import LanguageModel
from core.text.translation_task import HELD_OUT_TRIPLES, Sentence, pairs, sentences
from core.training.train_translator import EVALUATION_SEED, TOKENIZER_CORPUS, evaluation_pairs
from core.training.trainer import Progress, copy_task, evaluate, greedy_decode, train
from core.training.translator_task import encode_pairs, train_tokenizer, translation_task
from tests.support.models import loaded

EXAMPLES = [
    # the three
    ("我是一名学生", "I am a student"),
    ("我有一只猫", "I have a cat"),
    ("明天我在学校看书", "I read books at school tomorrow"),
    # agreement: he/she → is, has, likes, reads, watches, eats
    ("他是一名老师", "He is a teacher"),
    ("她有两只狗", "She has two dogs"),
    ("他喜欢猫", "He likes cats"),
    ("她看一本书", "She reads a book"),
    ("他看电影", "He watches films"),
    ("她每天吃苹果", "She eats apples every day"),
    ("你是一名医生", "You are a doctor"),
    ("我们是学生", "We are students"),
    ("他们是三名医生", "They are three doctors"),
    # plurals after numbers above one, a / an
    ("我吃一个苹果", "I eat an apple"),
    ("你吃一个橙子", "You eat an orange"),
    ("他们有十只鸟", "They have ten birds"),
    ("我们看两部电影", "We watch two films"),
    # time and place move to the end; time may stand before or after the subject; a trailing 。
    ("他明天在公园看一部电影", "He watches a film in the park tomorrow"),
    ("今天她在家吃两个鸡蛋。", "She eats two eggs at home today"),
]


# ---------------------------------------------------------------- the task


@pytest.mark.parametrize(("chinese", "english"), EXAMPLES)
def test_the_grammar_translates_the_examples(chinese, english):
    sentence = Sentence.parse(chinese)
    assert sentence.english() == english
    assert sentence.chinese() == chinese


@pytest.mark.parametrize("chinese", ["我是两名学生", "我们是一名学生", "我有一本猫", "猫吃我", "我在学校是一名学生", "我看苹果"])
def test_the_grammar_refuses_what_it_does_not_generate(chinese):
    with pytest.raises(ValueError):
        Sentence.parse(chinese)


def test_the_generator_is_deterministic():
    assert pairs(200, 7) == pairs(200, 7)
    assert pairs(200, 7, "held-out") == pairs(200, 7, "held-out")
    assert pairs(200, 7) != pairs(200, 8)


def test_every_generated_pair_follows_the_rules():
    for chinese, english in pairs(2000, 3) + pairs(500, 3, "held-out"):
        assert Sentence.parse(chinese).english() == english
        assert english[0].isupper() and not english.endswith(".")
        words = english.split()
        for article, noun in zip(words, words[1:]):
            if article in ("a", "an"):
                assert article == ("an" if noun[0] in "aeiou" else "a"), english
        if "两" in chinese:
            assert "二" not in chinese


def test_the_held_out_split_holds_only_triples_never_seen_in_training():
    train_triples = {s.triple for s, _ in zip(sentences(0), range(20_000))}
    held = [s for s, _ in zip(sentences(0, "held-out"), range(2_000))]
    assert not train_triples & HELD_OUT_TRIPLES
    assert {s.triple for s in held} == HELD_OUT_TRIPLES
    # ... while every subject, place and time, and every pair of them, is seen in training
    full = {t for t in train_triples if None not in t}
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert {(t[i], t[j]) for t in full} == {(t[i], t[j]) for t in full | HELD_OUT_TRIPLES}


# ---------------------------------------------------------------- training


def tiny_config(vocab_size: int) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, d_model=32, n_layers=1, n_heads=2, d_ff=64, max_positions=32,
                       architecture="encoder-decoder", positional="sinusoidal", norm_placement="post",
                       activation="relu", scale_embeddings=True, tie_embeddings=True)


def test_a_short_run_learns_to_copy():
    """300 steps of a 1 + 1-layer model (a few seconds on a CPU): the loss falls, and at least 90% of fresh
    sequences are copied exactly."""
    task = copy_task(symbols=8, min_length=3, max_length=6)
    seen: list[Progress] = []
    torch.set_num_threads(1)
    run = train(task, tiny_config(task.vocab_size), 300, batch_size=32, learning_rate=3e-3, warmup=30, seed=0,
                callback=seen.append, snapshot_every=100)
    assert np.mean(run.losses[-20:]) < np.mean(run.losses[:20]) / 5
    fresh = task.sample(random.Random(99), 200)
    figures = evaluate(run.module, task, fresh)
    assert figures["exact_match"] >= 0.9 and figures["token_accuracy"] >= 0.95
    assert [p.step for p in seen] == list(range(1, 301))
    shots = [p.snapshot for p in seen if p.snapshot is not None]
    assert [s.step for s in shots] == [100, 200, 300]
    source, target = task.probe
    assert shots[-1].cross.shape == (1, 2, len(target) + 1, len(source))
    assert shots[-1].encoder.shape == (1, 2, len(source), len(source))
    np.testing.assert_allclose(shots[-1].cross.sum(-1), 1.0, atol=1e-5)
    assert greedy_decode(run.module, task, [source])[0] == target or figures["exact_match"] < 1


def test_training_is_deterministic_and_a_callback_can_stop_it():
    task = copy_task(symbols=5, reverse=True)
    config = tiny_config(task.vocab_size)
    a = train(task, config, 8, batch_size=8, seed=3)
    b = train(task, config, 8, batch_size=8, seed=3)
    for (name, x), (_, y) in zip(a.module.state_dict().items(), b.module.state_dict().items()):
        assert torch.equal(x, y), name
    stopped = train(task, config, 50, batch_size=8, seed=3, callback=lambda p: p.step < 5)
    assert stopped.stopped and len(stopped.losses) == 5
    assert stopped.losses == a.losses[:5]


def test_the_reverse_task_reverses():
    task = copy_task(symbols=6, reverse=True)
    for source, target in task.sample(random.Random(0), 20):
        assert target == source[::-1]


# ---------------------------------------------------------------- the committed translator


@pytest.fixture(scope="module")
def lm():
    return loaded("tiny-translator", "cpu")


def test_the_registry_entry():
    spec = spec_of("tiny-translator")
    # It reads only its toy task's words: no page picks it to read a Chinese text.
    assert spec.trained and spec.languages == ()
    from viz.state import model_for_language
    assert model_for_language("zh") != "tiny-translator"
    assert spec.can(Capability.CROSS_ATTENTION) and spec.available()


def test_the_committed_tokenizer_is_the_one_the_command_learns():
    corpus = pairs(TOKENIZER_CORPUS, 0)
    learned = train_tokenizer([zh for zh, _ in corpus] + [en for _, en in corpus])
    committed = json.loads((DATA_DIR / TOKENIZER_FILE).read_text(encoding="utf-8"))
    assert json.loads(learned.to_str()) == committed


def test_the_committed_translator_reaches_its_stated_held_out_accuracy(lm):
    stated = metrics()
    assert stated["evaluation"]["seed"] == EVALUATION_SEED
    assert stated["held_out"]["exact_match"] >= 0.95 and stated["held_out"]["token_accuracy"] >= 0.95
    task = translation_task(lm.tokenizer)
    held_out = encode_pairs(lm.tokenizer, evaluation_pairs("held-out", stated["held_out"]["sentences"]))
    figures = evaluate(lm.module, task, held_out)
    assert figures["sentences"] == stated["held_out"]["sentences"]
    assert figures["exact_match"] >= 0.95
    assert figures["exact_match"] == pytest.approx(stated["held_out"]["exact_match"], abs=0.01)
    assert figures["token_accuracy"] == pytest.approx(stated["held_out"]["token_accuracy"], abs=0.01)


@pytest.mark.parametrize(("chinese", "english"), EXAMPLES)
def test_translate(lm, chinese, english):
    assert lm.translate(chinese) == english


def test_translate_accepts_a_full_stop_and_spaces(lm):
    assert lm.translate("我是一名学生。") == "I am a student"
    assert lm.translate(" 我 有 一只 猫 ") == "I have a cat"


@pytest.mark.parametrize(("text", "unknown"), [
    ("我有一只熊猫", "熊"),
    ("hello 世界", "hello, 世, 界"),  # each character it does not know is a word of its own to it
    ("我喜欢苹果和香蕉", "和, 香, 蕉"),  # not one word 和香蕉: the entries it would need
    ("我们去公园吧", "去, 吧"),
    ("I am a student", "I, am, a, student"),  # in the shared vocabulary, but the encoder never read English
    ("我有<s>猫", "<s>"),  # a special token typed into the text
])
def test_unknown_words_are_named(lm, text, unknown):
    with pytest.raises(InputError) as info:
        lm.translate(text)
    error = info.value
    assert error.message.fields == {"words": unknown}
    assert "{words}" in error.message.template and unknown in str(error)
    assert error.render(lambda template: "«" + template + "»").startswith("«")


def test_the_translator_traces_unknown_words_and_a_target(lm):
    trace = lm.trace("我有一只熊猫", target="I have a")
    assert trace.encoder.tokens == ["<s>", "我", "有", "一", "只", "[UNK]", "猫"]
    assert trace.stack.tokens == ["<s>", "I", "have", "a"]
    words = lm.tokenizer.decode(lm.tokenizer.encode("I have a cat").ids, skip_special_tokens=True)
    assert words == "I have a cat"


def test_translate_needs_an_encoder_decoder():
    config = ModelConfig(vocab_size=8, d_model=8, n_layers=1, n_heads=1, d_ff=8, max_positions=8)
    decoder = LanguageModel("some-decoder", "a decoder", Transformer.empty(config), load_tokenizer(), "random",
                            torch.device("cpu"))
    with pytest.raises(InputError, match="does not translate"):
        decoder.translate("我是一名学生")


def test_greedy_decoding_matches_translate(lm):
    task = translation_task(lm.tokenizer)
    texts = [zh for zh, _ in EXAMPLES]
    sources = [lm.tokenizer.encode(t).ids for t in texts]
    for text, ids in zip(texts, greedy_decode(lm.module, task, sources)):
        assert lm.tokenizer.decode(ids, skip_special_tokens=True) == lm.translate(text)


def test_held_out_triples_are_named_in_the_figures():
    named = metrics()["held_out_triples"]
    assert len(named) == len(HELD_OUT_TRIPLES)
    assert all(re.fullmatch(r"\S+ · 在\S+ · \S+", t) for t in named)


def test_a_decoder_alone_trains_on_the_targets():
    """For a character-level language model: no encoder, the decoder reads <s> + target; snapshots have no
    encoder or cross-attention."""
    task = copy_task(symbols=5)
    config = ModelConfig(vocab_size=task.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_positions=32,
                         positional="learned")
    seen: list[Progress] = []
    run = train(task, config, 30, batch_size=16, learning_rate=3e-3, warmup=5, callback=seen.append, snapshot_every=30)
    assert np.isfinite(run.losses).all() and np.mean(run.losses[-5:]) < np.mean(run.losses[:5])
    shot = seen[-1].snapshot
    assert shot.encoder is None and shot.cross is None
    assert shot.decoder.shape == (1, 2, len(task.probe[1]) + 1, len(task.probe[1]) + 1)
