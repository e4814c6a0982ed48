"""The attention figure builders against real traces (MiniLM, the classic encoder-decoder) and small arrays."""

from __future__ import annotations

import html

import numpy as np
import pytest
import torch

from core.record.trace import block_means
from tests.support.models import loaded
from viz.figures.attention import (
    LINE_LEVELS,
    key_shares,
    make_attention_heatmap_figure,
    make_attention_lines_figure,
    make_attention_mosaic_figure,
    make_attention_row_figure,
    mosaic_layout,
    tile_mosaic,
    without_keys,
)
from viz.tokens import axis_labels

TEXT = "The cat saw the dog because it was hungry"


@pytest.fixture(scope="module")
def minilm():
    lm = loaded("minilm-l6")
    return lm, lm.trace(TEXT, dtype=np.float16)


@pytest.fixture(scope="module")
def classic():
    """The decoder reads a target, so its self-attention has a causal mask to show."""
    return loaded("classic").trace("source text", target="target", dtype=np.float16)


def _escaped(labels: list[str]) -> list[str]:
    return [html.escape(label, quote=False) for label in labels]


def _causal(t: int) -> np.ndarray:
    return np.tril(np.ones((t, t), dtype=bool))


def _random_rows(mask: np.ndarray, seed: int = 0) -> np.ndarray:
    weights = np.random.default_rng(seed).random(mask.shape).astype(np.float32) * mask
    return weights / weights.sum(axis=1, keepdims=True)


def test_heatmap_is_the_traces_head_as_float32(minilm):
    _, trace = minilm
    record, labels = trace.layers[2].self_attn, axis_labels(trace.tokens)
    fig = make_attention_heatmap_figure(record.probs[5].astype(np.float32), record.mask, labels, labels)
    z = fig.data[0].z
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, record.probs[5].astype(np.float32))
    assert list(fig.data[0].x) == labels and list(fig.data[0].y) == labels
    assert "the·1" in labels and "the·4" in labels
    assert len(fig.data) == 1  # an encoder masks nothing, so there is no grey layer



def test_masked_cells_are_nan_exactly_where_the_mask_forbids(classic):
    record = classic.layers[1].self_attn
    assert not record.mask.all()
    labels = axis_labels(classic.tokens)
    fig = make_attention_heatmap_figure(record.probs[2].astype(np.float32), record.mask, labels, labels)
    weights, grey = fig.data[0].z, fig.data[1].z
    np.testing.assert_array_equal(np.isnan(weights), ~record.mask)
    np.testing.assert_array_equal(weights[record.mask], record.probs[2].astype(np.float32)[record.mask])
    np.testing.assert_array_equal(np.isnan(grey), record.mask)
    assert "masked (future token)" in fig.data[1].hovertemplate
    assert "grey" in fig.layout.title.subtitle.text


def test_cross_attention_axes_are_target_and_source(classic):
    record = classic.layers[0].cross_attn
    queries, keys = axis_labels(classic.tokens), axis_labels(classic.encoder.tokens)
    fig = make_attention_heatmap_figure(record.probs[0].astype(np.float32), record.mask, queries, keys)
    assert fig.data[0].z.shape == (len(queries), len(keys))
    np.testing.assert_array_equal(fig.data[0].z, record.probs[0].astype(np.float32))
    assert list(fig.data[0].y) == _escaped(queries) and list(fig.data[0].x) == _escaped(keys)
    assert fig.data[0].y[0] == "&lt;s&gt;"  # the start token shows as itself


def test_key_shares_are_column_means_of_the_rows(minilm):
    _, trace = minilm
    record = trace.layers[3].self_attn
    weights = record.probs[0].astype(np.float32)
    shares = key_shares(weights, record.mask)
    assert shares.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(shares, weights.mean(axis=0) / weights.mean(axis=0).sum(), rtol=1e-5)


def test_hiding_keys_renormalises_rows_and_drops_the_columns(minilm):
    lm, trace = minilm
    record = trace.layers[1].self_attn
    weights = record.probs[3].astype(np.float32)
    hidden = np.array([i in lm.tokenizer.special_ids for i in trace.token_ids])
    assert hidden.sum() == 2  # [CLS] and [SEP]
    renormalised, mask = without_keys(weights, record.mask, hidden)
    assert renormalised.shape == mask.shape == (len(trace.tokens), len(trace.tokens) - 2)
    np.testing.assert_allclose(renormalised.sum(axis=1), 1.0, rtol=1e-5)
    kept = weights[:, ~hidden]
    np.testing.assert_allclose(renormalised, kept / kept.sum(axis=1, keepdims=True), rtol=1e-5)

    labels = [label for label, h in zip(axis_labels(trace.tokens), hidden) if not h]
    fig = make_attention_heatmap_figure(renormalised, mask, axis_labels(trace.tokens), labels, renormalised=True)
    assert list(fig.data[0].x) == labels and "[CLS]" not in labels
    assert "renormalised" in fig.data[0].hovertemplate


def test_a_row_that_only_saw_hidden_keys_has_nothing_left():
    mask = _causal(4)
    renormalised, _ = without_keys(_random_rows(mask), mask, np.array([True, False, False, False]))
    assert np.isnan(renormalised[0]).all()
    np.testing.assert_allclose(renormalised[1:].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(renormalised[1], [1.0, 0.0, 0.0])


def test_one_querys_lines_start_at_it_with_its_weights_as_opacity(minilm):
    _, trace = minilm
    record, labels = trace.layers[4].self_attn, axis_labels(trace.tokens)
    weights, query = record.probs[7].astype(np.float32), labels.index("it")
    fig = make_attention_lines_figure(weights, record.mask, labels, labels, query=query)
    drawn = 0
    for line in (t for t in fig.data if t.name == "attention"):
        ends = np.asarray(line.y, dtype=float).reshape(-1, 3)[:, :2].astype(int)
        assert (-ends[:, 0] == query).all()
        np.testing.assert_allclose(weights[query, -ends[:, 1]], line.opacity, atol=0.5 / LINE_LEVELS + 1e-6)
        drawn += len(ends)
    assert drawn == int((np.round(weights[query] * LINE_LEVELS) >= 1).sum()) > 0
    assert "<b>it</b>" in fig.data[-2].text


def test_every_querys_lines_are_grouped_by_rounded_weight():
    mask = _causal(12)
    weights = _random_rows(mask, seed=3)
    labels = [f"t{i}" for i in range(12)]
    fig = make_attention_lines_figure(weights, mask, labels, labels)
    drawn = 0
    for line in (t for t in fig.data if t.name == "attention"):
        ends = np.asarray(line.y, dtype=float).reshape(-1, 3)[:, :2].astype(int)
        segment_weights = weights[-ends[:, 0], -ends[:, 1]]
        np.testing.assert_allclose(segment_weights, line.opacity, atol=0.5 / LINE_LEVELS + 1e-6)
        drawn += len(ends)
    assert drawn == int((np.round(weights * LINE_LEVELS) >= 1).sum())


def test_row_figure_shows_the_allowed_keys_weights():
    mask = _causal(5)
    weights = _random_rows(mask)
    labels = ["a", "b", "c", "d", "e"]
    fig = make_attention_row_figure(weights[2], mask[2], labels, title="Where does c look?")
    assert list(fig.data[0].x) == ["a", "b", "c"]
    np.testing.assert_allclose(fig.data[0].y, weights[2, :3])


def test_labels_are_escaped_for_plotly():
    mask = np.ones((2, 2), dtype=bool)
    labels = ["<img src=x onerror=alert(1)>", "<b>"]
    fig = make_attention_heatmap_figure(np.full((2, 2), 0.5), mask, labels, labels, title="<i>title</i>")
    assert list(fig.data[0].x) == ["&lt;img src=x onerror=alert(1)&gt;", "&lt;b&gt;"]
    assert "<i>" not in fig.layout.title.text


def test_mismatched_labels_are_refused():
    with pytest.raises(ValueError, match="labels"):
        make_attention_heatmap_figure(np.zeros((2, 3)), np.ones((2, 3), dtype=bool), ["a", "b"], ["a", "b"])


def _thumbnails(probs, mask, cells: int) -> np.ndarray:
    """What the Attention page's thumbnails draw: the core's block means of each head."""
    allowed = torch.from_numpy(mask)
    return np.stack([block_means(torch.from_numpy(p.astype(np.float32)), allowed, cells) for p in probs])


def test_thumbnails_of_a_short_text_are_the_weights_and_long_ones_are_block_means():
    mask = _causal(6)
    probs = np.stack([_random_rows(mask, seed) for seed in range(3)]).astype(np.float16)
    small = _thumbnails(probs, mask, 24)
    np.testing.assert_array_equal(np.isnan(small[0]), ~mask)
    np.testing.assert_array_equal(small[:, mask], probs.astype(np.float32)[:, mask])

    long_mask = _causal(50)
    long_probs = _random_rows(long_mask)[None]
    big = _thumbnails(long_probs, long_mask, 10)
    assert big.shape == (1, 10, 10)
    np.testing.assert_allclose(big[0, 9, 0], long_probs[0, 45:50, 0:5].mean(), rtol=1e-5)  # a fully allowed block
    assert np.isnan(big[0, 0, 9])  # a fully masked block


def test_mosaic_places_every_tile_and_maps_clicks_back():
    layers, heads, t = 30, 9, 12
    thumbs = np.random.default_rng(1).random((layers * heads, t, t)).astype(np.float32)
    layout = mosaic_layout(thumbs, heads)
    assert layout.shape == (layers * (t + 1) - 1, heads * (t + 1) - 1)
    image = tile_mosaic(thumbs, layout)
    for index in (0, 5, heads, layers * heads - 1):
        top, left = layout.origin(index)
        np.testing.assert_array_equal(image[top : top + t, left : left + t], thumbs[index])
        x, y = layout.centre(index)
        assert layout.tile_at(x, y) == index
        assert layout.tile_at(left, top + t - 1) == index  # a corner cell is still inside
    assert divmod(layout.tile_at(*layout.centre(7 * heads + 4)), heads) == (7, 4)
    assert np.isnan(image[t, :]).all() and layout.tile_at(3, t) is None  # the gap between rows
    assert layout.tile_at(-1, 0) is None and layout.tile_at(heads * (t + 1), 0) is None
    assert layout.tile_at(0, layers * (t + 1)) is None

    fig = make_attention_mosaic_figure(thumbs, layout, tile_names=[f"tile {i}" for i in range(layers * heads)],
                                       row_labels=[f"L{i}" for i in range(layers)],
                                       col_labels=[f"h{h}" for h in range(heads)], current=10)
    assert fig.data[0].z.shape == layout.shape and fig.data[0].z.dtype == np.float32
    tiles = next(trace for trace in fig.data if trace.name == "tiles")
    clicked = [layout.tile_at(x, y) for x, y in zip(tiles.x, tiles.y)]
    assert clicked == list(range(layers * heads))
    frame = fig.layout.shapes[0]
    assert layout.tile_at((frame.x0 + frame.x1) / 2, (frame.y0 + frame.y1) / 2) == 10


def test_masked_cells_are_grey_inside_the_tiles_and_the_gaps_stay_white():
    thumbs = np.tril(np.ones((2, 3, 3), dtype=np.float32))
    thumbs[thumbs == 0] = np.nan  # a causal head's masked corner
    layout = mosaic_layout(thumbs, 2)
    fig = make_attention_mosaic_figure(thumbs, layout, tile_names=["a", "b"], row_labels=["L0"], col_labels=["0", "1"])
    masked = next(trace for trace in fig.data if trace.name == "masked").z
    image = tile_mosaic(thumbs, layout)
    inside = ~np.isnan(tile_mosaic(np.zeros_like(thumbs), layout))
    np.testing.assert_array_equal(masked == 1, inside & np.isnan(image))
    assert np.isnan(masked[:, 3]).all()  # the gap column between the two tiles
    assert fig.layout.plot_bgcolor == "white"


def test_a_partial_last_row_has_no_phantom_tiles():
    layout = mosaic_layout(np.zeros((5, 4, 4)), 3)
    assert layout.n_rows == 2
    assert layout.tile_at(*layout.centre(4)) == 4
    assert layout.tile_at(2 * 5 + 1, 5 + 1) is None  # where a sixth tile would be


def test_a_long_axis_labels_every_kth_token_and_says_so():
    t = 100
    weights = np.tril(np.ones((t, t), dtype=np.float32))
    weights /= weights.sum(axis=1, keepdims=True)
    labels = [f"w{i}" for i in range(t)]
    fig = make_attention_heatmap_figure(weights, weights > 0, labels, labels)
    step = -(-t // 40)
    assert list(fig.layout.xaxis.ticktext) == labels[::step] and list(fig.layout.yaxis.tickvals) == labels[::step]
    assert f"every {step}th token" in fig.layout.title.subtitle.text
    short = make_attention_heatmap_figure(weights[:5, :5] / weights[:5, :5].sum(1, keepdims=True),
                                          weights[:5, :5] > 0, labels[:5], labels[:5])
    assert list(short.layout.xaxis.ticktext) == labels[:5] and "every" not in short.layout.title.subtitle.text


def test_a_long_matrix_goes_as_an_image_whose_pixels_are_the_weights():
    import base64
    import io

    from PIL import Image

    from viz.figures.attention import IMAGE_MAX_SIDE, _colour_table, attention_image, make_attention_image_figure

    t = 300
    rng = np.random.default_rng(3)
    weights = np.tril(rng.random((t, t)).astype(np.float32))
    weights /= weights.sum(axis=1, keepdims=True)
    mask = weights > 0
    labels = [f"t{i}" for i in range(t)]
    fig = make_attention_image_figure(weights, mask, labels, labels, title="long")
    png = base64.b64decode(fig.data[0].source.split(",", 1)[1])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    table = _colour_table()
    expected = table[np.round(np.where(mask, weights, 0) * 255).astype(int)]
    np.testing.assert_array_equal(pixels[mask], expected[mask])  # each allowed cell is its weight's colour
    assert (pixels[~mask] == [0x9E, 0x9E, 0x9E]).all()  # masked cells are grey
    assert len(fig.to_json()) < 2_000_000

    long = np.zeros((2 * IMAGE_MAX_SIDE + 1, 4), dtype=np.float32)
    long[5, 2] = 1.0
    rgb, fy, fx = attention_image(long, np.ones_like(long, dtype=bool))
    assert (fy, fx) == (3, 1) and rgb.shape[:2] == (683, 4)
    assert (rgb[5 // 3, 2] == table[255]).all()  # pooling keeps a single sharp peak


@pytest.mark.parametrize("scale", ["linear", "row", "log"])
@pytest.mark.parametrize("name", ["screen", "presenter"])
def test_a_long_matrix_draws_as_an_image_in_every_palette_and_scale(name, scale):
    """The image path colours cells in numpy from the palette's Plotly scale: Blues gives its stops as rgb(…),
    the presenter's Viridis as hex (which once raised an IndexError in presenter mode on any long text)."""
    from plotly.colors import get_colorscale

    from viz.figures import palette
    from viz.figures.attention import _colour_table, attention_image, make_attention_image_figure

    t = 170  # over the image threshold: 170 × 170 cells
    weights = np.tril(np.random.default_rng(4).random((t, t)).astype(np.float32))
    weights /= weights.sum(axis=1, keepdims=True)
    weights[-1] = 0.0
    weights[-1, 0] = 1.0  # a full-colour cell on every scale
    mask = np.tril(np.ones((t, t), dtype=bool))
    chooser = palette._chooser
    palette.set_chooser(lambda: name)
    try:
        rgb, _fy, _fx = attention_image(weights, mask, scale)
        fig = make_attention_image_figure(weights, mask, [f"t{i}" for i in range(t)], [f"t{i}" for i in range(t)],
                                          scale=scale)
        table = _colour_table()
    finally:
        palette.set_chooser(chooser)
    stops = get_colorscale(palette.PALETTES[name].weights)
    ends = np.array([_rgb(stops[0][1]), _rgb(stops[-1][1])])
    np.testing.assert_array_equal(table[[0, -1]], ends)
    assert (rgb[-1, 0] == ends[1]).all() and (rgb[0, 1] == [0x9E, 0x9E, 0x9E]).all()
    assert fig.to_json()


def _rgb(colour: str) -> list[int]:
    """'#rrggbb' or 'rgb(r, g, b)' as three integers, written out here rather than with Plotly's helpers."""
    if colour.startswith("#"):
        return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return [round(float(part)) for part in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]


def test_every_plotly_colour_scale_samples_as_plotly_samples_it():
    from plotly.colors import get_colorscale, named_colorscales, sample_colorscale

    from viz.figures.attention import _colour_table

    levels = np.linspace(0, 1, 256)
    for name in named_colorscales():
        table = _colour_table(name)
        assert table.shape == (256, 3) and table.dtype == np.uint8, name
        expected = np.array([_rgb(colour) for colour in sample_colorscale(get_colorscale(name), levels)])
        np.testing.assert_allclose(table, expected, atol=1, err_msg=name)  # Plotly's own interpolation, rounded
