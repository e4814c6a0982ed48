"""Minimal pairs and exports, proven against independent computations: the token alignment, the aligned attention
difference, the distribution shift, the last position's lens; CSV that a spreadsheet cannot run, and a trace
.npz that opens without pickle."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from core.lessons import compare, export
from core.lessons.logit_lens import lens_grid
from tests.support.models import loaded

TIRED = "The animal didn't cross the street because it was too tired"
NARROW = "The animal didn't cross the street because it was too narrow"


@pytest.fixture(scope="module")
def lm():
    return loaded("smollm2-135m")


# ---------------------------------------------------------------- alignment


def _check_alignment(a, b, alignment):
    pairs = alignment.pairs
    assert all(a[i] == b[j] for i, j in pairs)
    assert all(i1 < i2 and j1 < j2 for (i1, j1), (i2, j2) in zip(pairs, pairs[1:]))  # order kept
    assert set(np.flatnonzero(~alignment.changed1)) == {i for i, _ in pairs}
    assert set(np.flatnonzero(~alignment.changed2)) == {j for _, j in pairs}


def test_one_changed_word_is_the_only_unaligned_token(lm):
    a, b = lm.tokenizer.encode(TIRED).ids, lm.tokenizer.encode(NARROW).ids
    alignment = compare.align(a, b)
    _check_alignment(a, b, alignment)
    assert alignment.changed1.tolist() == [False] * (len(a) - 1) + [True]
    assert alignment.changed2.tolist() == [False] * (len(b) - 1) + [True]
    assert compare.counterpart(alignment, len(a) - 1) == len(b) - 1  # the replaced word faces its replacement
    assert compare.counterpart(alignment, 3) == 3


@pytest.mark.parametrize(("a", "b"), [
    ([1, 2, 3], [1, 2, 3]), ([], [5]), ([1, 2, 3], []), ([7, 1, 2, 9, 9], [1, 2, 8, 9]),
    ([4, 4, 4, 4], [4, 4]), ([3, 1, 2], [2, 1, 3]),
])
def test_alignment_pairs_equal_tokens_in_order(a, b):
    alignment = compare.align(a, b)
    _check_alignment(a, b, alignment)
    assert alignment.same == (a == b)
    for i in range(len(a)):
        j = compare.counterpart(alignment, i)
        if not alignment.changed1[i]:
            assert (i, j) in alignment.pairs
        assert j is None or 0 <= j < len(b)


def test_a_deleted_token_has_no_counterpart():
    alignment = compare.align([1, 2, 3], [1, 3])
    assert compare.counterpart(alignment, 1) is None and compare.counterpart(alignment, 2) == 1


# ---------------------------------------------------------------- aligned attention difference


def test_aligned_difference_is_text_2_minus_text_1_at_aligned_pairs():
    rng = np.random.default_rng(0)
    a, b = [5, 6, 7, 8], [5, 9, 7, 8, 1]
    w1, w2 = rng.random((4, 4)), rng.random((5, 5))
    m1, m2 = np.tril(np.ones((4, 4), bool)), np.tril(np.ones((5, 5), bool))
    alignment = compare.align(a, b)
    got = compare.aligned_difference(w1, w2, alignment, m1, m2)
    pairs = alignment.pairs
    assert [tuple(p) for p in zip(got.rows1, got.rows2)] == list(pairs)
    for x, (i1, j1) in enumerate(pairs):
        for y, (i2, j2) in enumerate(pairs):
            if m1[i1, i2] and m2[j1, j2]:
                assert got.difference[x, y] == pytest.approx(w2[j1, j2] - w1[i1, i2], abs=1e-6)
            else:
                assert np.isnan(got.difference[x, y])


def test_one_row_of_real_attention_changes_only_after_the_changed_word(lm):
    t1, t2 = lm.trace(TIRED, dtype=np.float32), lm.trace(NARROW + " today", dtype=np.float32)
    alignment = compare.align(t1.token_ids, t2.token_ids)
    r1, r2 = t1.layers[3].self_attn, t2.layers[3].self_attn
    w1, w2 = r1.head_probs(2), r2.head_probs(2)
    q = t1.tokens.index("Ġit")
    row = compare.aligned_difference(w1, w2, alignment, r1.mask, r2.mask,
                                     query_pairs=[(q, compare.counterpart(alignment, q))])
    # A decoder's "it" cannot see the word after it: the same row in both texts (float32 rounding).
    assert np.nanmax(np.abs(row.difference)) < 1e-5
    last = len(t1.token_ids) - 1
    later = compare.aligned_difference(w1, w2, alignment, r1.mask, r2.mask,
                                       query_pairs=[(last, compare.counterpart(alignment, last))])
    keys = [i for i, _ in alignment.pairs]
    np.testing.assert_allclose(later.difference[0], np.where(r2.mask[last][[j for _, j in alignment.pairs]],
                                                             w2[last][[j for _, j in alignment.pairs]], np.nan)
                               - np.where(r1.mask[last][keys], w1[last][keys], np.nan), atol=1e-6)


# ---------------------------------------------------------------- the next-token distribution


def test_distribution_shift_against_a_plain_softmax():
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=50) * 3, rng.normal(size=50) * 3
    shift = compare.distribution_shift(z1, z2, k=5)
    p1, p2 = np.exp(z1) / np.exp(z1).sum(), np.exp(z2) / np.exp(z2).sum()
    expected = set(np.argsort(-p1)[:5]) | set(np.argsort(-p2)[:5])
    assert set(shift.ids.tolist()) == expected
    np.testing.assert_allclose(shift.p1, p1[shift.ids], rtol=1e-12)
    np.testing.assert_allclose(shift.change, p2[shift.ids] - p1[shift.ids], atol=1e-15)
    best = np.maximum(shift.p1, shift.p2)
    assert np.all(best[:-1] >= best[1:])
    assert shift.total_variation == pytest.approx(0.5 * np.abs(p1 - p2).sum())
    for token, r1 in zip(shift.ids, shift.rank1):
        assert r1 == int((p1 > p1[token]).sum())


def test_the_last_lens_layer_is_the_models_own_prediction(lm):
    trace = lm.trace("今天太冷了", dtype=np.float32)
    lens = compare.last_position_lens(trace)
    assert lens.top_ids.shape == (lm.config.n_layers + 1,)
    assert lens.top_ids[-1] == int(np.argmax(trace.last_logits))
    grid = lens_grid(trace, start=0, k=1)
    np.testing.assert_array_equal(lens.top_ids, grid.top_ids[:, -1, 0])
    np.testing.assert_allclose(lens.top_probs, grid.top_probs[:, -1, 0], rtol=1e-5)


# ---------------------------------------------------------------- CSV


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(cell):
    rows = _read(export.csv_text(["token"], [[cell]]))
    assert rows[1][0] == "'" + cell


def test_numbers_and_plain_text_pass_through_and_quotes_survive():
    rows = _read(export.csv_text(["a", "b", "c"], [[-0.5, 'say "hi", then\nleave', "冷"]]))
    assert rows[1] == ["-0.5", 'say "hi", then\nleave', "冷"]


def test_the_attention_csv_is_the_traces_matrix_with_the_real_token_text(lm):
    text = '=cmd| "x", 今天'
    trace = lm.trace(text, dtype=np.float32)
    record = trace.layers[1].self_attn
    tokens = export.token_texts(trace.tokens, trace.stack.offsets, text)
    rows = _read(export.attention_csv(record.head_probs(0), record.mask, tokens, tokens))
    assert rows[0][:2] == ["position", "token"] and len(rows[0]) == 2 + len(tokens)
    assert tokens[0].startswith("=") and rows[0][2] == "'" + tokens[0]  # the guarded first token, as written
    assert tokens[-1] == "天"  # a byte piece of a character reads as the character it helps to spell
    last = len(tokens) - 1
    assert rows[1 + last][1] == tokens[last]
    np.testing.assert_allclose([float(v) for v in rows[1 + last][2:]], record.head_probs(0)[last], rtol=1e-6)
    assert rows[1][3] == ""  # the first query may not see the second key: masked, empty


def test_the_embedding_and_loss_csvs_match_the_trace(lm):
    trace = lm.trace(TIRED, dtype=np.float32)
    tokens = export.token_texts(trace.tokens, trace.stack.offsets, TIRED)
    rows = _read(export.embeddings_csv(trace.token_ids, tokens, trace.stack.embeddings))
    assert rows[0][:4] == ["position", "token_id", "token", "d0"] and len(rows[0]) == 3 + lm.config.d_model
    assert rows[2][:3] == ["1", str(trace.token_ids[1]), " animal"]
    np.testing.assert_allclose([float(v) for v in rows[2][3:]], trace.stack.embeddings[1], rtol=1e-6)
    losses = trace.token_losses()
    rows = _read(export.loss_csv(trace.token_ids[1:], tokens[1:], losses.probability, losses.loss))
    assert rows[0] == ["position", "token_id", "token", "probability", "loss_nats"]
    assert rows[-1][:3] == [str(len(tokens) - 1), str(trace.token_ids[-1]), " tired"]
    assert float(rows[-1][4]) == pytest.approx(-np.log(float(rows[-1][3])), rel=1e-5)


def test_the_distribution_csv_lists_the_most_likely_first():
    logits = np.array([0.0, 2.0, 1.0])
    probs = np.exp(logits) / np.exp(logits).sum()
    order = np.argsort(-logits)
    names = ["a", "-b", "c"]
    rows = _read(export.distribution_csv(order, [names[i] for i in order], logits[order], probs[order]))
    assert rows[0] == ["rank", "token_id", "token", "logit", "probability"]
    assert rows[1][:3] == ["0", "1", "'-b"] and float(rows[1][4]) == pytest.approx(probs[1])


# ---------------------------------------------------------------- the whole trace


def test_the_trace_npz_opens_without_pickle_and_holds_the_traces_values(lm):
    text = "今天太冷了, it was too cold"
    trace = lm.trace(text)
    made = export.trace_arrays(trace, text)
    data = np.load(io.BytesIO(export.npz_bytes(made.arrays)), allow_pickle=False)
    assert data["tokens"].dtype.kind == "U" and list(data["tokens"]) == trace.tokens
    assert "今" in data["meta.token_text"] and " cold" in data["meta.token_text"]
    np.testing.assert_array_equal(data["token_ids"], trace.token_ids)
    np.testing.assert_array_equal(data["hidden_states"], trace.hidden_states)
    np.testing.assert_array_equal(data["layers[2].self_attn.probs"], trace.layers[2].self_attn.probs)
    np.testing.assert_array_equal(data["last_logits"], trace.last_logits)
    assert str(data["meta.text"]) == text and str(data["meta.model"]) == lm.name
    assert "logits" not in data.files and any(line.startswith("logits:") for line in data["meta.left_out"])


def test_a_long_text_leaves_out_the_time_by_time_values_and_says_so(lm):
    trace = lm.trace(TIRED)
    made = export.trace_arrays(trace, TIRED, attention_tokens=4)
    assert not [n for n in made.arrays if n.endswith((".probs", ".scores", ".mask"))]
    assert "layers[0].self_attn.probs" in made.left_out and "hidden_states" in made.arrays
    small = export.trace_arrays(trace, TIRED, budget=trace.hidden_states.nbytes + 10_000)
    assert small.nbytes <= trace.hidden_states.nbytes + 10_000 + trace.last_logits.nbytes
    assert "token_ids" in small.arrays and "layers[29].resid_post" in small.left_out
    assert len(small.arrays["meta.left_out"]) == len(small.left_out)
