"""The worked example, one real head's steps and the scaling table, against independent numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.lessons.attention_steps import (
    RANDOM_DKS,
    SCALING_DKS,
    SEED_ROW,
    head_steps,
    random_inputs,
    random_score_spread,
    scaling_table,
    worked_example,
)
from tests.support.models import loaded


def _softmax(rows: np.ndarray) -> np.ndarray:
    e = np.exp(rows - rows.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("n", "d_k", "seed"), [(3, 2, 0), (6, 4, 7), (5, 3, 123)])
def test_the_worked_example_equals_numpy(n, d_k, seed, causal):
    x, w_q, w_k, w_v = random_inputs(n, d_k, seed)
    assert x.shape == (n, 4) and w_q.shape == w_k.shape == w_v.shape == (4, d_k)
    ex = worked_example(x, w_q, w_k, w_v, causal=causal)
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ k.T
    scaled = scores / math.sqrt(d_k)
    mask = np.tril(np.ones((n, n), dtype=bool)) if causal else np.ones((n, n), dtype=bool)
    masked = np.where(mask, scaled, -np.inf)
    probs = _softmax(masked)
    np.testing.assert_allclose(ex.q, q, rtol=1e-12)
    np.testing.assert_allclose(ex.scores, scores, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ex.scaled, scaled, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ex.allowed, mask)
    np.testing.assert_array_equal(np.isinf(ex.masked), ~mask)
    np.testing.assert_allclose(ex.probs, probs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ex.z, probs @ v, rtol=1e-12, atol=1e-12)
    for query in range(n):
        np.testing.assert_allclose(ex.contributions(query).sum(axis=0), ex.z[query], atol=1e-12)
    assert np.all(ex.probs[~mask] == 0)


def test_random_inputs_follow_the_seed():
    a, b = random_inputs(4, 3, 5), random_inputs(4, 3, 5)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(random_inputs(4, 3, 6)[0], a[0])
    with pytest.raises(ValueError):
        random_inputs(7, 3, 0)


def test_the_seed_row_saturates_and_scaling_softens_it():
    plain, scaled = scaling_table()
    row = np.array(SEED_ROW)
    np.testing.assert_allclose(plain, _softmax(row), rtol=1e-12)
    assert plain[0] > 0.999999 and abs(plain[1] - math.exp(-20) / (1 + math.exp(-20))) < 1e-15
    assert plain[1] == pytest.approx(2.06e-9, rel=0.01)
    for d_k, probs in zip(SCALING_DKS, scaled):
        np.testing.assert_allclose(probs, _softmax(row / math.sqrt(d_k)), rtol=1e-12)
    assert scaled[-1].max() < scaled[0].max()  # a larger d_k, a flatter row


@pytest.fixture(scope="module")
def smollm():
    lm = loaded("smollm2-135m")
    return lm, lm.trace("The animal didn't cross the street because it was too tired", dtype=np.float32)


@pytest.mark.parametrize(("layer", "head", "query"), [(0, 0, 5), (13, 4, 8), (29, 8, 11)])
def test_a_real_heads_steps_are_the_traces_numbers(smollm, layer, head, query):
    lm, trace = smollm
    steps = head_steps(trace, layer, head, query, lm.config.attn_scale)
    record = trace.layers[layer].self_attn
    np.testing.assert_array_equal(steps.scores, record.scores[head, query])
    np.testing.assert_array_equal(steps.probs, record.probs[head, query])
    np.testing.assert_array_equal(steps.z, record.z[head, query])
    assert steps.kv_head == head // 3
    # ...and those numbers follow from q, k and v as the steps say.
    np.testing.assert_allclose(steps.dots * steps.scale, steps.scores, rtol=1e-5, atol=1e-5)
    masked = np.where(steps.allowed, steps.scores.astype(np.float64), -np.inf)
    np.testing.assert_allclose(steps.probs, _softmax(masked), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(steps.contributions.sum(axis=0), steps.z, rtol=1e-4, atol=1e-5)
    assert not steps.allowed[query + 1:].any() and steps.allowed[: query + 1].all()


def test_random_scores_spread_like_the_root_of_d_k_and_the_division_brings_them_to_one():
    raw, scaled = random_score_spread()
    d_ks = np.array(RANDOM_DKS, dtype=np.float64)
    # q · k of unit-variance numbers has variance d_k: its measured spread is √d_k to within sampling error
    # (8,192 pairs: about 2 % at d_k = 1, where a product of two normals has heavy tails; 1 % above).
    np.testing.assert_allclose(raw, np.sqrt(d_ks), rtol=0.06)
    np.testing.assert_allclose(scaled, raw / np.sqrt(d_ks), rtol=1e-12)
    np.testing.assert_allclose(scaled, 1.0, rtol=0.06)
    assert raw[-1] > 25 * raw[0]  # without the division, a 1024-wide head's scores spread 32 times wider
    again, _ = random_score_spread()
    np.testing.assert_array_equal(raw, again)
    assert not np.array_equal(raw, random_score_spread(seed=1)[0])
