"""core.runtime.generation against PyTorch's softmax and cross-entropy, plus the sampling rules it teaches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import InputError
from core.record.losses import next_token_losses
from core.runtime.generation import (
    Sampling,
    filter_distribution,
    next_token,
    softmax,
    step_rng,
    top_k_mask,
    top_p_mask,
)
from tests.support.models import loaded


def _entropy_bits(probs) -> float:
    p = probs[probs > 0]
    return float(-(p * np.log2(p)).sum())


def _logits(v: int = 50, seed: int = 0, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(v) * scale).astype(np.float32)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 2.0, 7.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_matches_torch(temperature, seed):
    logits = _logits(v=200, seed=seed, scale=10.0)
    expected = torch.softmax(torch.from_numpy(logits).double() / temperature, dim=-1).numpy()
    np.testing.assert_allclose(softmax(logits, temperature), expected, rtol=1e-12, atol=1e-15)


def test_softmax_of_rows_and_huge_logits_stays_finite():
    logits = np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    probs = softmax(logits)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs, torch.softmax(torch.from_numpy(logits).double(), dim=-1).numpy(), rtol=1e-12)


def test_three_word_example_equals_an_independent_computation():
    logits = np.array([2.5, 1.0, -0.5], dtype=np.float32)
    by_hand = np.exp(logits.astype(np.float64)) / np.exp(logits.astype(np.float64)).sum()
    np.testing.assert_allclose(softmax(logits), by_hand, rtol=1e-12)
    np.testing.assert_allclose(softmax(logits), torch.softmax(torch.tensor([2.5, 1.0, -0.5], dtype=torch.float64), 0),
                               rtol=1e-12)
    # The seed's "0.02" for cherry is not a rounding of the true value.
    assert round(float(softmax(logits)[2]), 2) != 0.02


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("nan"), float("inf"), "hot"])
def test_temperature_must_be_positive(bad):
    with pytest.raises(InputError, match="temperature"):
        softmax(_logits(), bad)
    with pytest.raises(InputError, match="temperature"):
        Sampling(temperature=bad)


def test_nan_logits_are_refused():
    with pytest.raises(InputError):
        softmax(np.array([1.0, np.nan]))


def test_low_temperature_approaches_one_hot_and_high_approaches_uniform():
    logits = _logits(v=30)
    top = int(np.argmax(logits))
    assert softmax(logits, 0.01)[top] > 0.999
    np.testing.assert_allclose(softmax(logits, 1e4), np.full(30, 1 / 30), atol=1e-3)
    temperatures = [0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 50.0]
    entropies = [_entropy_bits(softmax(logits, t)) for t in temperatures]
    assert all(a < b for a, b in zip(entropies, entropies[1:]))
    assert entropies[-1] <= np.log2(30) + 1e-9


@pytest.mark.parametrize("k", [1, 3, 10, 50, 80])
def test_top_k_keeps_exactly_k_highest(k):
    logits = _logits(v=50)
    keep = top_k_mask(logits, k)
    assert keep.sum() == min(k, 50)
    assert logits[keep].min() >= logits[~keep].max(initial=-np.inf)


def test_top_k_breaks_ties_by_lower_id():
    keep = top_k_mask(np.array([1.0, 2.0, 2.0, 2.0, 0.0]), 2)
    assert keep.tolist() == [False, True, True, False, False]


@pytest.mark.parametrize("p", [0.01, 0.3, 0.5, 0.9, 0.99, 1.0])
def test_top_p_keeps_the_minimal_set(p):
    probs = softmax(_logits(v=40, seed=3))
    keep = top_p_mask(probs, p)
    kept = np.sort(probs[keep])
    assert kept.sum() >= p - 1e-12
    assert probs[keep].min() >= probs[~keep].max(initial=0.0)
    # Dropping the least likely survivor would fall below p (unless only the top token is left).
    assert keep.sum() == 1 or kept[1:].sum() < p
    assert keep[np.argmax(probs)]


def test_top_p_with_ties_is_deterministic_and_keeps_the_top_token():
    probs = np.array([0.25, 0.25, 0.25, 0.25])
    assert top_p_mask(probs, 0.5).tolist() == [True, True, False, False]
    assert top_p_mask(probs, 1e-6).tolist() == [True, False, False, False]


def test_filter_applies_top_k_then_top_p_and_renormalises():
    logits = _logits(v=60, seed=4)
    filtered = filter_distribution(logits, Sampling(temperature=0.7, top_k=10, top_p=0.8))
    assert filtered.kept.sum() <= 10
    assert set(np.flatnonzero(filtered.kept)) <= set(np.flatnonzero(top_k_mask(logits, 10)))
    np.testing.assert_allclose(filtered.renormalised.sum(), 1.0)
    assert (filtered.renormalised[~filtered.kept] == 0).all()
    ratio = filtered.renormalised[filtered.kept] / filtered.probs[filtered.kept]
    np.testing.assert_allclose(ratio, ratio[0])


def test_greedy_is_argmax_whatever_the_rng():
    logits = _logits(v=100, seed=5)
    for seed in range(5):
        token, _ = next_token(logits, Sampling(greedy=True, temperature=3.0), np.random.default_rng(seed))
        assert token == int(np.argmax(logits))


def test_sampling_is_reproducible_with_a_seed_and_varies_without():
    logits = _logits(v=100, seed=6, scale=1.0)
    sampling = Sampling(temperature=1.5)

    def draws(seed):
        return [next_token(logits, sampling, step_rng(seed, position))[0] for position in range(40)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert len(set(draws(7))) > 5


def test_sampling_only_picks_surviving_tokens():
    logits = _logits(v=100, seed=9, scale=1.0)
    sampling = Sampling(temperature=2.0, top_k=5)
    allowed = set(np.flatnonzero(top_k_mask(logits, 5)))
    assert {next_token(logits, sampling, step_rng(0, i))[0] for i in range(100)} <= allowed


def test_sampling_frequencies_follow_the_distribution():
    logits = np.array([2.5, 1.0, -0.5], dtype=np.float32)
    rng = np.random.default_rng(0)
    counts = np.bincount([next_token(logits, Sampling(), rng)[0] for _ in range(4000)], minlength=3)
    np.testing.assert_allclose(counts / 4000, softmax(logits), atol=0.03)


def test_cross_entropy_matches_torch():
    logits = np.random.default_rng(1).standard_normal((9, 300)).astype(np.float32) * 4
    ids = np.random.default_rng(2).integers(0, 300, size=9)
    losses = next_token_losses(logits, ids)
    expected = F.cross_entropy(torch.from_numpy(logits[:-1]).double(), torch.from_numpy(ids[1:]), reduction="none")
    np.testing.assert_allclose(losses.loss, expected.numpy(), rtol=1e-10)
    np.testing.assert_allclose(losses.probability, np.exp(-expected.numpy()), rtol=1e-10)
    assert losses.mean_loss == pytest.approx(float(expected.mean()))


def test_cross_entropy_refuses_mismatched_shapes():
    with pytest.raises(InputError):
        next_token_losses(np.zeros((3, 5)), [1, 2])
    with pytest.raises(InputError):
        next_token_losses(np.zeros((2, 5)), [1, 7])


def test_generate_step_appends_the_argmax_of_the_models_logits(classic):
    decoder = loaded("smollm2-135m")
    ids = decoder.encode("The capital of France is")[0].ids
    step = decoder.generate_step(ids, Sampling(greedy=True), step_rng(0, len(ids)))
    full = decoder.trace(ids, capture=False, logits="all").logits[-1]
    assert step.ids == ids + [int(np.argmax(full))]
    np.testing.assert_allclose(step.logits, full, rtol=1e-4, atol=1e-4)
    again = decoder.generate_step(ids, Sampling(temperature=0.8, seed=3), step_rng(3, len(ids)))
    assert again.ids == decoder.generate_step(ids, Sampling(temperature=0.8, seed=3), step_rng(3, len(ids))).ids
    with pytest.raises(InputError, match="decoder"):
        classic.generate_step([1, 2], Sampling(), step_rng(0, 2))


def test_an_unfinished_character_is_held_back_until_its_last_byte():
    from core.runtime.generation import Unfinished, unfinished_character

    cold = "冷".encode()  # E5 86 B7
    assert unfinished_character([b" it", cold[:1]]) == Unfinished(1, cold[:1], 3)
    assert unfinished_character([b" it", cold[:1], cold[1:2]]) == Unfinished(2, cold[:2], 3)
    assert unfinished_character([b" it", cold[:1], cold[1:2], cold[2:]]) is None
    # A token with a whole character and the first byte of the next is held with it; four-byte characters too.
    assert unfinished_character(["好".encode() + cold[:1]]) == Unfinished(1, cold[:1], 3)
    assert unfinished_character([b"ok", "😀".encode()[:2]]) == Unfinished(1, "😀".encode()[:2], 4)
    # Bytes no character can begin with are not waited for: they will never complete.
    assert unfinished_character([b"\x86"]) is None
    assert unfinished_character([cold[:1], b"A"]) is None
    assert unfinished_character([]) is None
