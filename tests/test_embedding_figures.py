"""The embedding and BPE figures draw the numbers they are given, escape labels, and refuse bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from viz.figures.bpe import make_merge_curve_figure
from viz.figures.embeddings import (
    make_embedding_heatmap_figure,
    make_layer_cosine_figure,
    make_projection_figure,
    make_similarity_figure,
)

HOSTILE = "<img src=x onerror=alert(1)>"


def test_the_heat_map_draws_every_value_and_each_vector_s_length():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 8)).astype(np.float16)
    figure = make_embedding_heatmap_figure(vectors, ["a", "b", HOSTILE, "d", "e"])
    heat, bars = figure.data
    np.testing.assert_array_equal(np.asarray(heat.z), vectors.astype(np.float32))
    np.testing.assert_allclose(np.asarray(bars.x), np.linalg.norm(vectors.astype(np.float64), axis=1), rtol=1e-6)
    assert "&lt;img" in str(figure.to_dict()) and "<img" not in str(figure.to_dict())
    assert heat.zmin == -heat.zmax and heat.zmid == 0
    with pytest.raises(ValueError):
        make_embedding_heatmap_figure(vectors, ["a"])


def test_long_texts_label_every_kth_token_and_say_so():
    figure = make_embedding_heatmap_figure(np.ones((100, 4)), [f"t{i}" for i in range(100)])
    assert len(figure.layout.yaxis.tickvals) == 34 and "every 3th" in figure.layout.title.subtitle.text


def test_the_similarity_matrix_writes_each_cosine():
    matrix = np.array([[1.0, 0.63, 0.12], [0.63, 1.0, 0.22], [0.12, 0.22, 1.0]])
    figure = make_similarity_figure(matrix, ["monkey", "banana", HOSTILE])
    np.testing.assert_allclose(np.asarray(figure.data[0].z), matrix, rtol=1e-6)
    assert figure.data[0].text[0][1] == "0.63" and figure.data[0].x[2] == "&lt;img src=x onerror=alert(1)&gt;"
    with pytest.raises(ValueError):
        make_similarity_figure(matrix[:2], ["a", "b", "c"])


@pytest.mark.parametrize("dims", [2, 3])
def test_projections_put_each_point_at_its_coordinates_by_group(dims):
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(6, dims))
    groups = ["line 1"] * 3 + ["line 2"] * 3
    highlight = [False, True, False, False, True, False]
    figure = make_projection_figure(coords, list("abcdef"), groups=groups, highlight=highlight,
                                    explained=[0.5, 0.3, 0.1])
    # Per group: its plain points, then its highlighted ones (larger, ringed, not in the legend twice).
    assert [trace.name for trace in figure.data] == ["line 1", "line 1", "line 2", "line 2"]
    for trace, rows in zip(figure.data, ([0, 2], [1], [3, 5], [4])):
        np.testing.assert_allclose(trace.x, coords[rows, 0], rtol=1e-6)
        np.testing.assert_allclose(trace.y, coords[rows, 1], rtol=1e-6)
        if dims == 3:
            np.testing.assert_allclose(trace.z, coords[rows, 2], rtol=1e-6)
        assert trace.marker.size == (13 if len(rows) == 1 else 7)
    assert [trace.showlegend for trace in figure.data] == [True, False, True, False]
    title = figure.layout.xaxis.title.text if dims == 2 else figure.layout.scene.xaxis.title.text
    assert "50%" in title
    with pytest.raises(ValueError):
        make_projection_figure(rng.normal(size=(3, 4)), list("abc"))


def test_layer_cosines_are_one_line_per_pair():
    curves = np.array([[1.0, 0.9, 0.8], [0.95, 0.7, 0.5]])
    figure = make_layer_cosine_figure(curves, ["line 1 ↔ line 2", HOSTILE], layer=1)
    for trace, row in zip(figure.data, curves):
        np.testing.assert_allclose(trace.y, row, rtol=1e-6)
        np.testing.assert_array_equal(trace.x, [0, 1, 2])
    assert figure.data[1].name.startswith("&lt;img")
    with pytest.raises(ValueError):
        make_layer_cosine_figure(curves, ["only one"])


def test_the_merge_curve_draws_both_counts():
    sentence, corpus = np.array([22, 22, 20, 12]), np.array([100, 80, 70, 65])
    figure = make_merge_curve_figure(sentence, corpus, step=2)
    np.testing.assert_array_equal(figure.data[0].y, sentence)
    np.testing.assert_array_equal(figure.data[1].y, corpus)
    np.testing.assert_allclose(figure.data[1].customdata, corpus / 100)
    with pytest.raises(ValueError):
        make_merge_curve_figure(sentence, corpus[:2])
