"""core/head_ranking.py: a head that points sharply past the query, its neighbour and the sinks ranks first."""

import numpy as np
import pytest

from core.head_ranking import rank_heads


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
