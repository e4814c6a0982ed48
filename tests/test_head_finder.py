"""The head finder (core/lessons/head_scores.py, core/lessons/in_context.py, the Head finder page): the detection
patterns against their definitions written as loops, scores of hand-made attention matrices, in-context learning
on SmolLM2 (the second pass cheaper, and dearer again with the induction heads off), and the page in both
languages. The scores against transformers' own attentions are in the parity tests."""

from __future__ import annotations

import numpy as np
import pytest

from core import InputError, head_scores
from core.lessons import in_context as icl
from core.lessons.head_scores import (
    KINDS,
    PATTERN_KINDS,
    ROLE_THRESHOLDS,
    detection_pattern,
    mean_entropy_bits,
    model_scores,
    pattern_score,
    repeated_random,
    score,
    sink_rate,
)
from tests.support.models import loaded
from tests.support.pages import HOSTILE, open_page
from tests.support.small_models import small_lm
from viz import catalog, i18n, state

IDS = [7, 3, 9, 7, 3, 5, 7, 9]


def _by_loops(kind: str, ids: list[int]) -> np.ndarray:
    """The definitions of TransformerLens's head detector, one cell at a time."""
    t = len(ids)
    pattern = np.zeros((t, t), dtype=bool)
    for i in range(t):
        for j in range(t):
            if kind == "previous_token":
                pattern[i, j] = j == i - 1
            elif kind == "duplicate_token":
                pattern[i, j] = j < i and ids[j] == ids[i]
            elif kind == "induction":
                pattern[i, j] = 1 <= j <= i and j - 1 < i and ids[j - 1] == ids[i]
            elif kind == "self":
                pattern[i, j] = i == j
            elif kind == "first_token":
                pattern[i, j] = j == 0
    return pattern


@pytest.mark.parametrize("kind", PATTERN_KINDS)
def test_each_detection_pattern_is_its_definition(kind):
    np.testing.assert_array_equal(detection_pattern(kind, IDS), _by_loops(kind, IDS))


def _causal_rows(weights: np.ndarray) -> np.ndarray:
    weights = np.tril(weights)
    return weights / weights.sum(axis=-1, keepdims=True)


def test_a_head_that_does_exactly_what_a_pattern_says_scores_its_share_of_rows_with_a_target():
    """A head putting all of each row where the pattern points (and on itself where it points nowhere) scores the
    share of rows that have a target: Σ(A ⊙ P) / Σ A with no first or current token left out."""
    t = len(IDS)
    for kind in PATTERN_KINDS:
        pattern = _by_loops(kind, IDS)
        probs = np.where(pattern.any(axis=1, keepdims=True), pattern, np.eye(t, dtype=bool)).astype(float)
        probs = probs / probs.sum(axis=-1, keepdims=True)
        assert pattern_score(probs, pattern) == pytest.approx(pattern.any(axis=1).mean()), kind
        assert score(kind, probs, IDS) == pytest.approx(pattern_score(probs, pattern))


def test_a_uniform_causal_head_scores_the_mean_share_of_its_pattern_and_log2_of_the_row_length_in_bits():
    t = len(IDS)
    probs = _causal_rows(np.ones((t, t)))
    pattern = _by_loops("duplicate_token", IDS)
    expected = np.mean([pattern[i, : i + 1].sum() / (i + 1) for i in range(t)])
    assert pattern_score(probs, pattern) == pytest.approx(expected)
    assert mean_entropy_bits(probs) == pytest.approx(np.mean(np.log2(np.arange(1, t + 1))))
    assert mean_entropy_bits(np.eye(t)) == 0.0


def test_the_sink_rate_is_the_share_of_heads_above_the_threshold():
    alpha = np.array([[0.9, 0.31, 0.3], [0.0, 0.5, 0.29]])
    assert sink_rate(alpha) == pytest.approx(3 / 6)
    assert sink_rate(alpha, threshold=0.0) == pytest.approx(5 / 6)


def test_scores_average_over_sequences_and_refuse_what_they_cannot_measure():
    lm = small_lm("llama")
    a, b = lm.tokenizer.encode("abcabcabc").ids, lm.tokenizer.encode("the cat and the hat").ids
    for kind in KINDS:
        both = head_scores(lm, kind, [a, b])
        assert both.shape == (lm.config.n_layers, lm.config.n_heads)
        np.testing.assert_allclose(both, (head_scores(lm, kind, [a]) + head_scores(lm, kind, [b])) / 2, atol=1e-9)
    with pytest.raises(InputError, match="Unknown head score"):
        head_scores(lm, "copying", [a])
    with pytest.raises(InputError, match="at least two tokens"):
        head_scores(lm, "induction", [[a[0]]])
    with pytest.raises(InputError, match="decoder-only"):
        head_scores(loaded("minilm-l6"), "induction", [a])


def test_a_random_sequence_reads_back_as_its_own_tokens_twice():
    lm = loaded("smollm2-135m")
    for script in ("words", "han"):
        repeated = repeated_random(lm, 20, 2, seed=3, script=script)
        for r in repeated:
            first = r.ids[r.start : r.start + r.length]
            assert r.ids[r.start + r.length :] == first and len(set(first)) == r.length
            assert lm.tokenizer.encode(r.text).ids == list(r.ids)
    assert repeated_random(lm, 20, 1, seed=3)[0] == repeated_random(lm, 20, 1, seed=3)[0]


@pytest.fixture(scope="module")
def smollm_scores():
    lm = loaded("smollm2-135m")
    return lm, model_scores(lm)


def test_smollm2_has_induction_heads_and_in_context_learning_that_switching_them_off_undoes(smollm_scores):
    """Article 004's in-context learning, measured: on random tokens written twice the second pass is far
    cheaper than the first (at least 3 nats a token lower), and switching off the strongest induction heads
    raises the second pass's loss by at least 1 nat while the first pass, with nothing to copy, moves less."""
    lm, scores = smollm_scores
    strongest = scores.strongest("induction", 12)
    assert strongest[0][2] > ROLE_THRESHOLDS["induction"]
    assert scores.role(*strongest[0][:2]) == "induction"
    off = [(layer, head) for layer, head, value in strongest if value > ROLE_THRESHOLDS["induction"]]
    watch = icl.watch_repeat(lm, off, off[:3])
    plain, ablated = watch.plain, watch.ablated
    assert plain.second_mean < plain.first_mean - 3.0
    assert ablated.second_mean > plain.second_mean + 1.0
    assert abs(ablated.first_mean - plain.first_mean) < ablated.second_mean - plain.second_mean
    # The induction heads look from each second-pass token to the token after its first occurrence.
    assert watch.stripe.shape == (3, watch.repeated.length) and watch.stripe[:, 1:].mean() > 0.3


def test_a_made_up_word_costs_less_the_second_time(smollm_scores):
    lm, _ = smollm_scores
    use = icl.made_up_word(lm, *icl.MADE_UP_WORDS["en"])
    assert len(use.piece_ids) > 1
    assert use.later_pieces(use.second) < use.later_pieces(use.first) - 1.0
    with pytest.raises(InputError, match="twice"):
        icl.made_up_word(lm, "A zarvinto sings.", "zarvinto")


ENTRY = catalog.BY_ID["head_finder"]


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_the_page_shows_a_grid_per_score_and_the_strongest_heads_in_both_languages(language, smollm_scores):
    _, scores = smollm_scores
    at = open_page(ENTRY, query={state.LANG: language, state.MODEL: "smollm2-135m", state.HEAD_SCORE: "induction"})
    layer, head, value = scores.strongest("induction", 1)[0]
    label = i18n.translator(language)("L{layer}·h{head}: {value:.2f}").format(layer=layer, head=head, value=value)
    assert any(button.label == label for button in at.button)
    assert at.segmented_control(key=state.HEAD_SCORE).value == "induction"
    assert len(at.get("plotly_chart")) >= 3  # the grid, the two passes, the stripe (and the made-up word)
    at.segmented_control(key=state.HEAD_SCORE).set_value("first_token").run()
    assert not at.exception and at.query_params[state.HEAD_SCORE] == "first_token"
    assert any("%" in info.value for info in at.info)  # the share of sink heads


def test_a_strongest_head_opens_the_attention_page_on_its_example(smollm_scores):
    _, scores = smollm_scores
    at = open_page(ENTRY, query={state.LANG: "en", state.MODEL: "smollm2-135m"})
    layer, head, _value = scores.strongest("induction", 1)[0]
    at.button(key=f"strongest-induction-{layer}-{head}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert (at.session_state[state.LAYER], at.session_state[state.HEAD]) == (layer, head)
    assert at.session_state[state.TEXT] == scores.corpus.repeated[0].text


def test_a_bad_score_in_the_link_is_said_and_an_encoder_is_offered_a_decoder():
    at = open_page(ENTRY, query={state.LANG: "en", state.MODEL: "smollm2-135m", state.HEAD_SCORE: HOSTILE})
    assert at.segmented_control(key=state.HEAD_SCORE).value == "induction"
    encoder = open_page(ENTRY, query={state.LANG: "zh", state.MODEL: "minilm-l6"})
    assert any(button.key == "switch-smollm2-135m" for button in encoder.button)
    assert not encoder.get("plotly_chart")


def test_the_head_finder_is_on_the_lesson_path_after_multi_head():
    path = catalog.LESSON_PATH
    assert path.index("head_finder") == path.index("multi_head") + 1


def test_heads_worth_a_look_name_the_roles_the_head_finder_measured(smollm_scores):
    """Once the model's heads are measured, the Attention page's ranked heads say each one's role: the second pass
    of a repeated sequence is read by induction heads."""
    _, scores = smollm_scores
    repeated = scores.corpus.repeated[0]
    at = open_page(catalog.BY_ID["attention"], query={state.LANG: "en", state.MODEL: "smollm2-135m",
                                                      state.TEXT: repeated.text})
    worth = [button for button in at.button if button.key and button.key.startswith("worth-")]
    roles = [scores.role(*map(int, button.key.split("-")[1:])) for button in worth]
    assert any(role is not None for role in roles)
    for button, role in zip(worth, roles):
        assert ("head" in button.label.split(" · ")[-1]) == (role is not None), button.label
