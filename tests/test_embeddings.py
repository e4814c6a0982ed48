"""core/lessons/embeddings.py against direct numpy computations, and the numbers the Embeddings page states."""

from __future__ import annotations

import numpy as np
import pytest

from core import InputError
from core.lessons import embeddings as emb
from tests.support.models import loaded

BANK = ("Go to the bank to get some money.", "Go to the bank to get some water.", "We sat on the river bank.")


@pytest.fixture(scope="module")
def minilm():
    return loaded("minilm-l6")


@pytest.fixture(scope="module")
def smollm():
    return loaded("smollm2-135m")


def test_cosine_matrix_is_numpy_s():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(7, 11))
    direct = np.array([[a @ b / np.linalg.norm(a) / np.linalg.norm(b) for b in vectors] for a in vectors])
    matrix = emb.cosine_matrix(vectors)
    np.testing.assert_allclose(matrix, direct, atol=1e-12)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    assert emb.cosine(vectors[0], vectors[1]) == pytest.approx(direct[0, 1])
    assert emb.cosine(np.zeros(3), np.ones(3)) == 0.0  # no direction: 0, not NaN
    np.testing.assert_allclose(emb.norms(vectors), np.sqrt((vectors**2).sum(axis=1)))


@pytest.mark.parametrize("unit", [False, True])
def test_pca_is_the_svd_of_the_centred_points_up_to_sign(unit):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(12, 6)) * np.array([5, 3, 2, 1, 0.5, 0.1])
    x = points / np.linalg.norm(points, axis=1, keepdims=True) if unit else points
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred)
    projection = emb.pca(points, 3, unit=unit)
    for axis in range(3):
        expected = centred @ vt[axis]
        got = projection.coords[:, axis]
        sign = np.sign(got @ expected)
        np.testing.assert_allclose(got, sign * expected, atol=1e-10)
        np.testing.assert_allclose(projection.components[axis], sign * vt[axis], atol=1e-10)
        # Each axis is signed so that its largest loading is positive.
        assert projection.components[axis][np.abs(projection.components[axis]).argmax()] > 0
    np.testing.assert_allclose(projection.explained, s[:3] ** 2 / (s**2).sum())
    np.testing.assert_allclose(projection.mean, x.mean(axis=0))


def test_pca_of_too_few_points_fills_the_missing_axes_with_zeros():
    projection = emb.pca(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), 3)
    assert projection.coords.shape == (2, 3)
    # Zero up to rounding: the second axis comes out of the SVD as ~1e-17 (its share ~1e-35) on some BLAS
    # builds; a wrong fill is of the points' own scale (about 1).
    np.testing.assert_allclose(projection.coords[:, 1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(projection.explained, [1.0, 0.0, 0.0], atol=1e-12)
    single = emb.pca(np.ones((1, 4)), 2)
    np.testing.assert_allclose(single.coords, 0.0)
    np.testing.assert_allclose(single.explained, 0.0)
    with pytest.raises(ValueError):
        emb.pca(np.ones(4), 2)


@pytest.mark.parametrize("model", ["minilm", "smollm"])
def test_nearest_tokens_are_a_brute_force_search(model, request):
    lm = request.getfixturevalue(model)
    table = emb.embedding_table(lm).float().cpu().numpy().astype(np.float64)
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    for token_id in lm.tokenizer.encode(" bank money").ids:
        cosines = unit @ unit[token_id]
        cosines[token_id] = -np.inf
        expected = np.argsort(-cosines, kind="stable")[:10]
        found = emb.nearest_tokens(lm, token_id, 10)
        assert [n.token_id for n in found] == list(expected)
        np.testing.assert_allclose([n.cosine for n in found], cosines[expected], atol=1e-5)
    with pytest.raises(InputError):
        emb.nearest_tokens(lm, lm.info.vocab_size, 10)


def test_nearest_tokens_of_bank_are_banks(smollm):
    bank = smollm.tokenizer.encode(" bank").ids[0]
    found = [smollm.tokenizer.id_to_token(n.token_id) for n in emb.nearest_tokens(smollm, bank, 5)]
    assert found[:2] == ["ĠBank", "Ġbanks"]


def test_layer_cosines_and_occurrences():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 6, 5))
    got = emb.layer_cosines(a, 1, b, 4)
    np.testing.assert_allclose(got, [emb.cosine(a[layer, 1], b[layer, 4]) for layer in range(4)])
    assert emb.occurrences([[5, 7, 5], [1], [7, 5]], 5) == [(0, 0), (0, 2), (2, 1)]
    assert emb.occurrences([[5] * 9], 5, limit=4) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    with pytest.raises(ValueError):
        emb.layer_cosines(a, 0, rng.normal(size=(3, 2, 5)), 0)


def test_items_are_lines_or_else_words():
    assert emb.items_to_compare("monkey\nbanana\n\n  atomic energy \nbanana") == emb.Items(
        ("monkey", "banana", "atomic energy"), "line", 0)
    assert emb.items_to_compare("The cat, the dog; the Cat!") == emb.Items(("The", "cat", "dog"), "word", 0)
    assert emb.items_to_compare("") == emb.Items((), "word", 0)
    many = emb.items_to_compare("\n".join(f"w{i}" for i in range(20)))
    assert len(many.items) == emb.MAX_ITEMS and many.dropped == 20 - emb.MAX_ITEMS


def test_the_seed_s_monkey_and_banana_with_true_numbers(minilm):
    vectors = np.stack([minilm.sentence_embedding(w) for w in ("monkey", "banana", "atomic energy")])
    matrix = emb.cosine_matrix(vectors)
    assert matrix[0, 1] == pytest.approx(0.63, abs=0.01)  # monkey / banana: close
    assert matrix[2, 1] == pytest.approx(0.22, abs=0.01)  # atomic energy / banana: far
    # In Chinese the English-trained sentence model cannot tell them apart: 猴, 蕉 and 能 are [UNK].
    chinese = emb.cosine_matrix(np.stack([minilm.sentence_embedding(w) for w in ("猴子", "香蕉", "原子能")]))
    assert abs(chinese[0, 1] - chinese[2, 1]) < 0.01


def test_bank_moves_apart_in_an_encoder_and_not_in_a_decoder_that_has_not_read_the_difference(minilm, smollm):
    for lm in (minilm, smollm):
        stacks = [emb.text_stack(lm.trace(text)) for text in BANK]
        # The word's own token: MiniLM's encoding ends in [SEP], which the last id would be.
        bank = next(i for i in reversed(lm.tokenizer.encode(" bank").ids) if i not in lm.tokenizer.special_ids)
        found = emb.occurrences([s.token_ids for s in stacks], bank)
        assert [t for t, _ in found] == [0, 1, 2]
        (a, pa), (b, pb), (c, pc) = found
        money_water = emb.layer_cosines(stacks[a].hidden_states, pa, stacks[b].hidden_states, pb)
        money_river = emb.layer_cosines(stacks[a].hidden_states, pa, stacks[c].hidden_states, pc)
        assert money_water[0] == pytest.approx(1.0, abs=1e-3)  # the same row, the same position
        assert money_river[-1] < 0.8
        if lm.info.architecture == "decoder":  # "Go to the bank" is all the decoder has read at "bank"
            np.testing.assert_allclose(money_water, 1.0, atol=1e-3)
        else:
            assert money_water[-1] < 0.95
            assert round(float(money_water[-1]), 2) == 0.93  # as the README's Embeddings row prints it


def test_vectors_that_overflowed_float16_give_nan_not_a_warning_and_pca_refuses_them():
    vectors = np.array([[1.0, 0.0], [np.inf, 1.0], [0.0, 2.0]], dtype=np.float16)
    np.testing.assert_array_equal(emb.finite_rows(vectors), [True, False, True])
    with np.errstate(all="raise"):
        matrix = emb.cosine_matrix(vectors)
        assert np.isnan(matrix[1]).all() and matrix[0, 2] == 0.0
        hidden = np.stack([vectors, vectors])  # (layers + 1, tokens, d)
        assert np.isnan(emb.layer_cosines(hidden, 1, hidden, 0)).all()
        np.testing.assert_allclose(emb.layer_cosines(hidden, 0, hidden, 2), 0.0)
    with pytest.raises(ValueError):
        emb.pca(vectors, 2)
