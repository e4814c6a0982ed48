"""The next-token and pipeline figure builders: what they draw is what core computed."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.config import ModelConfig
from core.loaders.classic import classic_config
from core.record.losses import next_token_losses
from core.runtime.generation import Sampling, filter_distribution, softmax, top_k_mask, top_p_mask
from viz.figures.distribution import KEPT_COLOUR, REMOVED_COLOUR, make_distribution_figure, make_token_loss_figure
from viz.figures.pipeline import make_pipeline_figure, pipeline_columns

LABELS = [f"tok{i}" for i in range(12)]
LOGITS = np.random.default_rng(0).normal(0, 2, 12).astype(np.float32)

DECODER = ModelConfig(vocab_size=49152, d_model=576, n_layers=30, n_heads=9, n_kv_heads=3, d_ff=1536,
                      max_positions=8192, norm="rmsnorm", activation="swiglu", tie_embeddings=True)
ENCODER = ModelConfig(vocab_size=30522, d_model=384, n_layers=6, n_heads=12, d_ff=1536, max_positions=512,
                      architecture="encoder", positional="learned", norm_placement="post", lm_head=False)


def _bars(fig, name):
    return next(t for t in fig.data if t.name == name)


def _all_text(fig) -> str:
    return " ".join(a.text for a in fig.layout.annotations)


def test_bar_lengths_are_the_computed_probabilities_and_logits():
    probs = softmax(LOGITS, 0.7)
    fig = make_distribution_figure(LABELS, probs, LOGITS)
    np.testing.assert_allclose(_bars(fig, "probability").x, probs)
    np.testing.assert_allclose(_bars(fig, "logit").x, LOGITS, rtol=1e-6)
    assert list(fig.layout.yaxis.ticktext) == LABELS


@pytest.mark.parametrize("sampling", [Sampling(top_k=4), Sampling(top_p=0.6), Sampling(temperature=2.0, top_k=8, top_p=0.7)])
def test_greyed_bars_are_exactly_the_filtered_tokens(sampling):
    filtered = filter_distribution(LOGITS, sampling)
    fig = make_distribution_figure(LABELS, filtered.probs, LOGITS, filtered.kept, filtered.renormalised)
    colours = np.array(_bars(fig, "probability").marker.color)
    np.testing.assert_array_equal(colours == KEPT_COLOUR, filtered.kept)
    np.testing.assert_array_equal(colours == REMOVED_COLOUR, ~filtered.kept)
    outlines = _bars(fig, "renormalised")
    np.testing.assert_allclose(outlines.x, filtered.renormalised[filtered.kept])
    np.testing.assert_array_equal(outlines.y, np.flatnonzero(filtered.kept))


def test_masks_from_top_k_and_top_p_colour_the_bars():
    probs = softmax(LOGITS)
    for kept in (top_k_mask(LOGITS, 3), top_p_mask(probs, 0.5)):
        fig = make_distribution_figure(LABELS, probs, LOGITS, kept)
        assert [c == KEPT_COLOUR for c in _bars(fig, "probability").marker.color] == kept.tolist()


def test_token_text_is_escaped_and_inputs_are_not_mutated():
    labels = ["<img src=x onerror=alert(1)>", "<b>", "a"]
    probs = softmax(LOGITS[:3])
    before = probs.copy()
    fig = make_distribution_figure(labels, probs, LOGITS[:3], title="after <script>")
    assert "<img" not in " ".join(fig.layout.yaxis.ticktext)
    assert "&lt;img src=x onerror=alert(1)&gt;" in fig.layout.yaxis.ticktext
    assert "<script>" not in fig.layout.title.text
    # Plotly decodes &lt; but not &quot;: quotes must stay as they are to read right.
    assert make_distribution_figure(['"', "'"], [0.5, 0.5], [0, 0]).layout.yaxis.ticktext == ('"', "'")
    np.testing.assert_array_equal(probs, before)


def test_distribution_figure_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        make_distribution_figure(LABELS, softmax(LOGITS)[:5], LOGITS)
    with pytest.raises(ValueError):
        make_distribution_figure([], [], [])


def test_loss_figure_shows_the_probability_of_each_actual_next_token():
    logits = np.random.default_rng(1).normal(0, 3, (6, 20)).astype(np.float32)
    ids = [3, 7, 7, 1, 19, 0]
    losses = next_token_losses(logits, ids)
    fig = make_token_loss_figure([f"t{i}" for i in ids[1:]], losses.probability, losses.loss)
    np.testing.assert_allclose(fig.data[0].y, losses.probability)
    np.testing.assert_allclose([row[1] for row in fig.data[0].customdata], losses.loss)
    with pytest.raises(ValueError):
        make_token_loss_figure(["a"], [1.5])


def test_decoder_pipeline_shows_its_real_sizes_and_ends_in_a_softmax():
    text = _all_text(make_pipeline_figure(DECODER))
    for fact in ("× 30 decoder blocks", "576 numbers per token", "9 heads × 64 dims, 3 shared key/value heads",
                 "576 → 1536 → 576, SwiGLU", "576 → 49,152", "probabilities over 49,152 tokens", "Masked self-attention"):
        assert fact in text


def test_encoder_pipeline_stops_at_hidden_states():
    text = _all_text(make_pipeline_figure(ENCODER))
    assert "× 6 encoder blocks" in text and "384 numbers per token" in text
    assert "Softmax" not in text and "Next token" not in text and "Masked" not in text
    assert "Sentence embedding" in text


def test_encoder_decoder_pipeline_draws_both_stacks_and_cross_attention():
    config = classic_config(259)
    encoder, decoder = pipeline_columns(config)
    fig = make_pipeline_figure(config)
    text = _all_text(fig)
    assert f"× {config.encoder_layers} encoder blocks" in text and f"× {config.n_layers} decoder blocks" in text
    assert "Cross-attention" in text and "probabilities over 259 tokens" in text
    assert "start token &lt;s&gt;" in text  # a raw <s> would strike through the rest of the box
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    crossing = [a for a in arrows if a.ax < 0.5 < a.x]  # from the encoder column into the decoder column
    assert len(crossing) == 1
    assert encoder[-1].title == "Encoder output"


def test_pipeline_rejects_an_unknown_architecture():
    class Odd:
        architecture = "recurrent"

    with pytest.raises(ValueError, match="architecture"):
        make_pipeline_figure(Odd())


def test_the_probability_axis_never_passes_100_percent_and_keeps_small_digits():
    labels = ["a", "b", "c"]
    sure = make_distribution_figure(labels, [0.5, 0.3, 0.2], [3.0, 2.0, 1.0], kept=[True, False, False],
                                    renormalised=[1.0, 0.0, 0.0])
    assert sure.layout.xaxis.range[1] <= 1.0
    flat = make_distribution_figure(labels, [0.0004, 0.0003, 0.0002], [0.3, 0.2, 0.1])
    low, high = flat.layout.xaxis.range
    assert high < 0.001 and flat.layout.xaxis.tickformat == ".2~%"  # 0.05%, not 0%


def test_a_fixed_axis_shows_the_distribution_flatten_as_the_temperature_rises():
    """The playground passes the top probability at T = 1: above it the axis stays put, so the bars shorten as T
    rises instead of the axis shrinking with them; below it the axis grows with the top bar."""
    top = float(softmax(LOGITS).max())
    shown = np.argsort(-LOGITS)
    ranges, tallest = [], []
    for temperature in (1.0, 2.0, 3.0, 5.0):
        probs = softmax(LOGITS, temperature)
        fig = make_distribution_figure(LABELS, probs[shown], LOGITS[shown], axis_top=top)
        ranges.append(tuple(fig.layout.xaxis.range))
        tallest.append(float(_bars(fig, "probability").x[0]))
    assert len(set(ranges)) == 1 and ranges[0][1] == pytest.approx(min(top * 1.3, 1.0))
    assert tallest == sorted(tallest, reverse=True) and tallest[-1] < tallest[0] / 2
    sharp = make_distribution_figure(LABELS, softmax(LOGITS, 0.3)[shown], LOGITS[shown], axis_top=top)
    assert sharp.layout.xaxis.range[1] > ranges[0][1]  # below T = 1 the top bar grows, and the axis with it
    free = [make_distribution_figure(LABELS, softmax(LOGITS, t)[shown], LOGITS[shown]).layout.xaxis.range[1]
            for t in (0.5, 5.0)]
    assert free[1] < free[0]  # without axis_top the axis follows the bars (the three-word table keeps that)


def test_a_bar_too_long_for_its_number_outside_writes_it_inside():
    fig = make_distribution_figure(["a", "b"], [0.97, 0.03], [5.0, 1.5], axis_top=1.0)
    assert list(_bars(fig, "probability").textposition) == ["inside", "outside"]


def test_notes_reach_the_hover_escaped_and_must_match_the_labels():
    fig = make_distribution_figure(["灌/火…(1/3)", "a"], [0.6, 0.4], [1.0, 0.5],
                                   notes=["Not a whole character: <E7>\nIt can begin 灌", ""])
    said = [row[5] for row in _bars(fig, "probability").customdata]
    assert said == ["<br>Not a whole character: &lt;E7&gt;<br>It can begin 灌", ""]
    assert "%{customdata[5]}" in _bars(fig, "probability").hovertemplate
    with pytest.raises(ValueError, match="notes"):
        make_distribution_figure(["a", "b"], [0.6, 0.4], [1.0, 0.5], notes=["only one"])
