"""The Masks page's numbers: both ways of masking against e⁰/Σ, the kinds of mask a layer records, and the
proof that masked padding leaves the real tokens' outputs unchanged."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from core import InputError
from core.lessons.mask_experiments import group_masks, mask_shape, pad_id, padding_check, two_ways
from core.numeric import softmax
from tests.support.models import loaded
from viz.figures.masks import make_mask_figure, make_masking_ways_figure

ENCODER, DECODER, CLASSIC = "minilm-l6", "smollm2-135m", "classic"


@pytest.fixture(scope="module")
def encoder():
    return loaded(ENCODER)


@pytest.fixture(scope="module")
def decoder():
    return loaded(DECODER)


def causal(t: int) -> np.ndarray:
    return np.tril(np.ones((t, t), dtype=bool))


def leak_by_hand(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Each row's weight on masked keys after softmax(scores ⊙ mask): n_masked · e⁰ / (Σ_allowed e^s + n_masked · e⁰)."""
    out = []
    for row, keep in zip(scores.astype(np.float64), allowed):
        masked = int((~keep).sum())
        out.append(masked * np.exp(0.0) / (np.exp(row[keep]).sum() + masked * np.exp(0.0)))
    return np.array(out)


def test_both_ways_on_random_scores():
    rng = np.random.default_rng(0)
    scores = rng.normal(scale=3, size=(7, 7))
    ways = two_ways(scores, causal(7))
    np.testing.assert_allclose(ways.leaked, leak_by_hand(scores, causal(7)), rtol=1e-12)
    assert ways.leaked[-1] == 0 and ways.leaked[0] > 0  # the last query may see everything
    assert ways.total_leaked == pytest.approx(ways.leaked.sum())
    # The right way: exactly zero on masked keys, and a softmax over the allowed keys alone.
    assert ways.right_leak == 0.0 and (ways.right[~causal(7)] == 0).all()
    for i in range(7):
        allowed = np.exp(scores[i, : i + 1])
        np.testing.assert_allclose(ways.right[i, : i + 1], allowed / allowed.sum(), rtol=1e-12)
    np.testing.assert_allclose(ways.wrong.sum(axis=1), 1.0)
    # The wrong way's masked cells are each e⁰ / Σ: equal within a row.
    np.testing.assert_allclose(ways.wrong[0, 1:], ways.wrong[0, 1])


def test_both_ways_on_a_real_head(decoder):
    trace = decoder.trace("I am a student who reads a book")
    for layer, head in ((0, 0), (7, 3), (29, 8)):
        record = trace.layers[layer].self_attn
        scores = record.scores[head].astype(np.float64)
        ways = two_ways(record.scores[head], record.mask)
        np.testing.assert_allclose(ways.leaked, leak_by_hand(scores, record.mask), rtol=1e-10)
        np.testing.assert_allclose(ways.right, record.probs[head].astype(np.float64), atol=2e-3)  # float16 trace
        assert ways.right_leak == 0.0 and ways.leaked[0] > 0


def test_the_ways_figure_draws_the_numbers_it_is_given():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(5, 5))
    ways = two_ways(scores, causal(5))
    labels = list("abcde")
    figure = make_masking_ways_figure(ways.wrong, ways.right, ways.allowed, ways.leaked, labels, labels)
    heatmaps = [trace for trace in figure.data if trace.type == "heatmap"]
    np.testing.assert_allclose(np.asarray(heatmaps[0].z, dtype=np.float64), ways.wrong, atol=1e-6)
    np.testing.assert_allclose(np.asarray(heatmaps[1].z, dtype=np.float64), ways.right, atol=1e-6)
    bars = next(trace for trace in figure.data if trace.type == "bar")
    np.testing.assert_allclose(bars.x, leak_by_hand(scores, causal(5)), rtol=1e-6)
    # A small text: a × in the corner of each masked cell (one path a panel), clear of the number it carries.
    crosses = [shape for shape in figure.layout.shapes if shape.type == "path"]
    assert len(crosses) == 2
    for shape in crosses:
        corners = [(float(x), float(y)) for x, y in re.findall(r"M([-\d.]+),([-\d.]+)L", shape.path)][::2]
        assert len(corners) == int((~causal(5)).sum())
        cells = {(round(y + 0.46), round(x - 0.24)) for x, y in corners}  # (query, key) of each ×
        assert cells == set(zip(*np.nonzero(~causal(5))))
        points = np.array([(float(x), float(y)) for x, y in re.findall(r"[ML]([-\d.]+),([-\d.]+)", shape.path)])
        offsets = points - np.round(points)  # within its cell: (0, 0) is the centre, where the number is written
        assert (offsets[:, 0] >= 0.2).all() and (offsets[:, 1] <= -0.2).all(), "each × keeps to its cell's top right"
    with pytest.raises(ValueError):
        make_masking_ways_figure(ways.wrong, ways.right, ways.allowed, ways.leaked[:-1], labels, labels)


def test_the_mask_figure_marks_masked_and_padding_cells():
    allowed = causal(4) & np.array([True, True, True, False])
    figure = make_mask_figure(allowed, list("abcd"), list("abcd"), padding_keys=[False, False, False, True])
    z = np.asarray(figure.data[0].z)
    np.testing.assert_array_equal(z == 2, allowed)
    assert (z[:, 3] == 1).all() and z[0, 1] == 0
    assert figure.data[0].text[0][1] == "−∞" and figure.data[0].text[0][0] == "0"


def test_softmax_of_a_fully_masked_row_is_nan_not_a_crash():
    out = softmax(np.array([[-np.inf, -np.inf], [0.0, 0.0]]))
    assert np.isnan(out[0]).all() and np.allclose(out[1], 0.5)


def test_the_kind_of_mask_is_read_from_the_matrix():
    assert mask_shape(np.ones((3, 3), dtype=bool)).kind == "full"
    assert mask_shape(causal(5)).kind == "causal"
    rows, cols = np.indices((6, 6))
    window = causal(6) & (rows - cols < 3)
    assert mask_shape(window) == type(mask_shape(window))("sliding", 3)
    assert mask_shape(np.tile([True, True, False], (3, 1))).kind == "padding"
    assert mask_shape(np.eye(3, dtype=bool)[::-1]).kind == "other"
    groups = group_masks([causal(6), window, causal(6)])  # layers alternating, as some models do
    assert [(g.shape.kind, g.layers) for g in groups] == [("causal", [0, 2]), ("sliding", [1])]


def test_the_models_record_the_masks_their_architecture_implies(encoder, decoder):
    text = "The mask of every layer"
    assert {g.shape.kind for g in group_masks([layer.self_attn.mask for layer in encoder.trace(text).layers])} == {"full"}
    groups = group_masks([layer.self_attn.mask for layer in decoder.trace(text).layers])
    assert len(groups) == 1 and groups[0].shape.kind == "causal" and groups[0].layers == list(range(30))


def test_the_padding_token_is_the_tokenizers_own(encoder, decoder):
    assert encoder.tokenizer.id_to_token(pad_id(encoder.tokenizer)) == "[PAD]"
    assert pad_id(decoder.tokenizer) in decoder.tokenizer.special_ids


TEXTS = ("The animal didn't cross the street because it was too tired", "Hello there")


def test_masked_padding_leaves_an_encoders_real_tokens_unchanged(encoder):
    check = padding_check(encoder, TEXTS)
    short = [encoder.encode(text)[0].ids for text in TEXTS]
    assert check.ids == short and check.batch.shape == (2, len(short[0]))
    assert check.batch[1, len(short[1]):].tolist() == [pad_id(encoder.tokenizer)] * (len(short[0]) - len(short[1]))
    np.testing.assert_array_equal(check.key_is_real[1], [True] * len(short[1]) + [False] * (len(short[0]) - len(short[1])))
    assert check.max_masked < 1e-4  # the same numbers, to float rounding
    assert check.unmasked[0] == 0 or check.unmasked[0] < 1e-4  # the longest text has no padding
    assert check.unmasked[1] > 0.01  # seen, the padding changes the short text's vectors
    # Independently: the short text alone against its rows of the masked batch.
    with torch.inference_mode():
        alone = encoder.module(torch.tensor([short[1]]), logits_for="none").hidden[0].numpy()
        batch = encoder.module(torch.tensor(check.batch), key_is_real=torch.tensor(check.key_is_real),
                               logits_for="none").hidden[1, : len(short[1])].numpy()
    np.testing.assert_allclose(batch, alone, atol=1e-4)
    assert not check.causal and check.allowed[1, 0].tolist() == check.key_is_real[1].tolist()


def test_a_decoder_padded_on_the_right_needs_no_padding_mask(decoder):
    check = padding_check(decoder, TEXTS)
    assert check.causal and check.max_masked < 1e-3
    np.testing.assert_allclose(check.unmasked, check.masked, atol=1e-6)  # the causal mask already hides the pads
    t = check.batch.shape[1]
    np.testing.assert_array_equal(check.allowed[1], causal(t) & check.key_is_real[1][None, :])


def test_the_experiments_refuse_an_encoder_decoder_with_a_message():
    classic = loaded(CLASSIC)
    with pytest.raises(InputError):
        padding_check(classic, TEXTS)
