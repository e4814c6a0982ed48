"""core/lessons/head_ranking.py: a head that points sharply past the query, its neighbour and the sinks ranks first; the
list a page offers names each word once, never a word the model parks on, and on real models finds the trophy
sentence's trophy or suitcase."""

import numpy as np
import pytest

from core.lessons.head_ranking import parking_keys, rank_heads, worth_a_look
from core.record.trace import AttentionRecord, sampled_queries
from tests.support.gemma import gemma_package


def uniform(heads: int, t: int) -> np.ndarray:
    causal = np.tril(np.ones((t, t)))
    return np.broadcast_to(causal / causal.sum(axis=1, keepdims=True), (heads, t, t)).copy()


def test_the_sharp_head_ranks_first_and_trivial_weight_is_ignored():
    layers = [uniform(3, 6), uniform(3, 6)]
    query = 4
    layers[0][0, query] = [0.9, 0, 0, 0, 0.1, 0]  # all on the sink: ignored
    layers[0][1, query] = [0, 0, 0, 0.8, 0.2, 0]  # the neighbour and itself: ignored
    layers[1][2, query] = [0.1, 0.7, 0.1, 0.05, 0.05, 0]  # sharply at token 1
    sinks = np.array([True, False, False, False, False, False])
    ranked = rank_heads(layers, query, sinks, top=6)
    assert (ranked[0].layer, ranked[0].head, ranked[0].key) == (1, 2, 1)
    assert ranked[0].score == pytest.approx(0.7) and ranked[0].share == pytest.approx(0.8)
    worst = {(s.layer, s.head): s.score for s in rank_heads(layers, query, sinks, top=100)}
    assert worst[(0, 0)] == 0 and worst[(0, 1)] == 0
    assert len(worst) == 6


def test_cross_attention_keeps_every_key_but_the_sinks():
    probs = np.zeros((1, 2, 3))
    probs[0, 1] = [0.2, 0.5, 0.3]  # a decoder query over three source tokens
    ranked = rank_heads([probs], 1, np.zeros(3, dtype=bool))
    assert ranked[0].key == 1 and ranked[0].score == pytest.approx(0.5)


def test_a_sink_mask_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        rank_heads([uniform(1, 4)], 2, np.zeros(3, dtype=bool))


# ---------------------------------------------------------------- one head per word, no parked words


def test_worth_a_look_names_each_target_once_with_its_best_head():
    layers = [uniform(4, 6)]
    query = 5
    layers[0][0, query] = [0.1, 0.6, 0.1, 0.1, 0.1, 0]  # token 1
    layers[0][1, query] = [0.1, 0.7, 0.1, 0.05, 0.05, 0]  # token 1 again, more sharply
    layers[0][2, query] = [0.1, 0.1, 0.5, 0.2, 0.1, 0]  # token 2
    layers[0][3, query] = [0.1, 0.1, 0.1, 0.2, 0.5, 0]  # the neighbour: no target
    ignored = np.array([True, False, False, False, False, False])
    picked = worth_a_look([layer[:, query] for layer in layers], query, ignored)
    assert [(s.head, s.key) for s in picked] == [(1, 1), (2, 2), (3, 3)]
    assert picked[0].score == pytest.approx(0.7)
    assert len(worth_a_look([layer[:, query] for layer in layers], query, ignored, top=1)) == 1


def test_a_key_most_heads_park_on_from_every_query_is_a_sink():
    means = np.array([[0.5, 0.4, 0.1], [0.6, 0.35, 0.05], [0.7, 0.1, 0.2], [0.9, 0.05, 0.05], [0.8, 0.1, 0.1]])
    assert parking_keys([means[:2], means[2:]]).tolist() == [True, True, False]  # 2 heads of 5 park on key 1
    assert parking_keys([means], heads=0.5).tolist() == [True, False, False]


def test_a_heads_mean_per_key_counts_the_queries_that_may_see_it():
    probs = np.stack([np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]])  # one head, uniform over the past
    record = AttentionRecord(q=None, k=None, v=None, scores=None, mask=np.tril(np.ones((4, 4), dtype=bool)),
                             probs=probs, z=None, out=None)
    expected = [(1 + 1 / 2 + 1 / 3 + 1 / 4) / 4, (1 / 2 + 1 / 3 + 1 / 4) / 3, (1 / 3 + 1 / 4) / 2, 1 / 4]
    np.testing.assert_allclose(record.key_means(), [expected], rtol=1e-6)
    assert range(837)[sampled_queries(837, 32)][-1] == 836 and len(range(837)[sampled_queries(837, 32)]) <= 32


# ---------------------------------------------------------------- real models: "it" in the trophy sentence

TROPHY = "The trophy didn't fit in the suitcase because it was too big."


def trophy_ranking(name: str):
    from viz.loading import cached_model
    from viz.tokens import axis_labels
    from viz.views.attention import attention_sources, no_targets, ranking

    lm = cached_model(name)
    trace = lm.trace(TROPHY)
    source = attention_sources(trace, lm.tokenizer)["self"]
    labels = axis_labels(source.keys)
    query = max(i for i, label in enumerate(labels) if label == "it")
    return ranking(source, query, labels), labels, no_targets(source, labels), trace, query


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_the_trophy_sentence_surfaces_trophy_or_suitcase_and_no_word_twice(name):
    if name.startswith("gemma"):
        gemma_package()
    ranked, labels, skipped, trace, query = trophy_ranking(name)
    targets = [labels[score.key] for score in ranked]
    assert len(ranked) == 5 and len(set(targets)) == 5, targets  # five heads, five different words
    assert {"trophy", "suitcase", "suit", "case"} & set(targets), targets
    assert not any(skipped[score.key] for score in ranked), targets  # no sink, parked word or full stop
    records = [layer.self_attn for layer in trace.layers]
    for score in ranked:  # the weight a button says is the head's true weight
        true = records[score.layer].probs[score.head, query, score.key]
        assert score.score == pytest.approx(float(true), abs=1e-3)


def test_smollm2_parks_on_the_trophy_sentences_the_and_the_ranking_leaves_it_out():
    ranked, labels, skipped, trace, _ = trophy_ranking("smollm2-135m")
    assert labels[6] == "the" and skipped[6]  # where 50 of its 270 heads send "it" (2 in 3 from every token)
    means = np.concatenate([layer.self_attn.key_means(10_000) for layer in trace.layers])
    full = np.concatenate([layer.self_attn.probs.astype(np.float32).sum(1) / np.tril(np.ones((15, 15))).sum(0)
                           for layer in trace.layers])
    np.testing.assert_allclose(means, full, atol=1e-3)  # the replayed means are the matrices' own
    assert "the" not in [labels[score.key] for score in ranked]
