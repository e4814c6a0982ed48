"""Figure text a class can read: presenter mode dresses every figure for a room in one place (palette.dressed:
type at least 18 px and dark, taller figures, square cells for a short heat map, a long title that still fits),
and probability axes read as percentages or powers of ten, never Plotly's SI prefixes (100μ, 10n, 5m)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from tests.support.figures import figure_builders
from viz import state
from viz.figures import attention as attention_figures
from viz.figures import palette
from viz.figures.attention_math import make_scaling_figure
from viz.figures.compare import make_distribution_shift_figure
from viz.figures.multi_head import make_ablation_distribution_figure

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ROOM_PX = palette.PRESENTER.font_px


@pytest.fixture
def presenting():
    chooser = palette._chooser
    palette.set_chooser(lambda: palette.PRESENTER.name)
    yield
    palette.set_chooser(chooser)


def fonts(node, path: str = ""):
    """(path, font dict) for every font in a figure's JSON: layout, axes, annotations, menus, traces, colour bars."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict):
                yield f"{path}.{key}", value
            yield from fonts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from fonts(value, f"{path}[{index}]")


def shows_text(trace: dict) -> bool:
    return trace.get("text") is not None or bool(trace.get("texttemplate"))


def test_on_a_screen_a_figure_is_shown_as_built(builder_arguments):
    for name, build in figure_builders():
        args, kwargs = builder_arguments[name]
        figure = build(*args, **kwargs)
        assert palette.dressed(figure) is figure, name


def test_in_presenter_mode_every_figure_text_is_room_sized_and_dark(builder_arguments, presenting):
    for name, build in figure_builders():
        args, kwargs = builder_arguments[name]
        built = build(*args, **kwargs)
        before = json.loads(built.to_json())
        dressed = json.loads(palette.dressed(built).to_json())
        assert json.loads(built.to_json()) == before, f"{name}: the builder's own figure (maybe cached) was changed"
        layout = dressed["layout"]
        assert layout["font"]["size"] >= ROOM_PX and layout["font"]["color"] == palette.PRESENTER.text, name
        squared = layout.get("yaxis", {}).get("scaleanchor") and not before["layout"].get("yaxis", {}).get("scaleanchor")
        if not squared:  # a squared heat map is sized to its cells instead (below)
            assert layout["height"] >= (before["layout"].get("height") or 450) * palette.PRESENTER.taller - 1, name
        for key, axis in layout.items():
            if re.fullmatch(r"[xy]axis\d*", key):
                assert axis["tickfont"]["size"] >= ROOM_PX and axis["tickfont"]["color"], (name, key)
        for annotation in layout.get("annotations", []):
            assert annotation["font"]["size"] >= ROOM_PX, (name, annotation.get("text"))
        for menu in layout.get("updatemenus", []):
            assert menu["font"]["size"] >= ROOM_PX, name
        for trace in dressed["data"]:
            if trace["type"] in ("scatter", "scattergl", "bar") and shows_text(trace):
                assert trace["textfont"]["size"] >= ROOM_PX, (name, trace.get("name"))
            if "colorbar" in trace and trace.get("showscale") is not False:
                assert trace["colorbar"]["tickfont"]["size"] >= ROOM_PX, (name, trace.get("name"))
            if trace["type"] != "heatmap":  # a heat map's cell text may be fitted to its cell by Plotly
                for where, font in fonts(trace):
                    assert font.get("size", ROOM_PX) >= ROOM_PX, (name, where)


def test_a_hidden_colour_bar_stays_hidden(presenting):
    bars = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    dressed = json.loads(palette.dressed(bars).to_json())
    assert "colorbar" not in dressed["data"][0].get("marker", {})


def sentence(n: int) -> list[str]:
    return [f"word{i}" for i in range(n)]


def test_a_short_heat_map_gets_square_cells_large_enough_for_a_room(presenting):
    n = 12
    weights = np.tril(np.ones((9, n, n), dtype=np.float32))
    weights /= weights.sum(axis=-1, keepdims=True)
    mask = np.tril(np.ones((n, n), dtype=bool))
    figure = attention_figures.make_attention_heatmap_figure(weights, mask, sentence(n), sentence(n), head=0,
                                                             head_titles=[f"head {h}" for h in range(9)])
    dressed = palette.dressed(figure)
    assert dressed.layout.yaxis.scaleanchor == "x" and dressed.layout.yaxis.scaleratio == 1
    assert dressed.layout.xaxis.constrain == dressed.layout.yaxis.constrain == "domain"
    top = dressed.layout.margin.t
    cell = (dressed.layout.height - top) / n  # an upper bound: the labels below take the rest
    assert 2 * ROOM_PX <= cell and dressed.layout.width < 1200, "a 12-token matrix fits a projector, cells ≥ 36 px"
    assert dressed.layout.width >= 9 * (ROOM_PX * 0.6 * 2 + 24), "the head buttons fit above the matrix"


def test_only_a_short_square_ish_labelled_heat_map_is_squared(presenting):
    tall = attention_figures.make_attention_heatmap_figure(np.full((60, 60), 1 / 60, dtype=np.float32),
                                                           np.ones((60, 60), dtype=bool), sentence(60), sentence(60))
    assert palette.dressed(tall).layout.yaxis.scaleanchor is None, "60 tokens: cells would be too small to square"
    wide = go.Figure(go.Heatmap(z=np.zeros((4, 40)), x=sentence(40), y=sentence(4)))
    assert palette.dressed(wide).layout.yaxis.scaleanchor is None, "4 × 40: a strip is its natural shape"


def test_a_long_title_is_set_smaller_so_that_it_fits(presenting):
    short = palette.dressed(go.Figure(layout=dict(title=dict(text="Self-attention, layer 3, head 4"))))
    long = palette.dressed(go.Figure(layout=dict(title=dict(text="模型的名字很长" * 6 + ", layer 0, head 0: its scores"))))
    assert short.layout.title.font.size == palette.PRESENTER.title_px
    assert ROOM_PX <= long.layout.title.font.size < palette.PRESENTER.title_px


def test_the_overview_tables_are_html_in_presenter_mode_with_the_same_numbers():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params[state.MODEL] = "classic"
    at.query_params[state.PRESENT] = "true"
    at.run()
    at.switch_page("viz/pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe) == 0 and len(at.table) == 2  # st.table takes the presenter's type; a canvas grid does not
    breakdown = at.table[1]
    total = int(next(h.value for h in at.subheader if "parameters" in h.value).split()[0].replace(",", ""))
    assert breakdown.value["parameters"].sum() == total and breakdown.proto.hide_index
    shown = pa.ipc.open_stream(breakdown.proto.arrow_data.styler.display_values).read_pandas()
    assert list(shown["parameters"]) == [f"{n:,}" for n in breakdown.value["parameters"]]  # thousands, as on a screen


# ---------------------------------------------------------------- probability axes (issue 20, item 6)

SI = re.compile(r"^-?[\d.]+\s?[μunpfm]$")


def test_a_log_probability_axis_reads_in_powers_of_ten():
    figure = make_scaling_figure(np.array([100.0, 80, 20, 12]), np.array([1.0, 2e-9, 1e-35, 1e-38]),
                                 np.array([[0.9, 0.05, 0.03, 0.02]]), [64])
    axis = figure.layout.yaxis
    assert axis.type == "log" and axis.exponentformat == "power" and axis.dtick == 1


@pytest.mark.parametrize("scale", attention_figures.SCALES)
def test_the_attention_colour_bar_on_the_log_scale_reads_in_powers_of_ten(scale):
    weights = np.tril(np.ones((3, 3), dtype=np.float32)) / np.arange(1, 4)[:, None]
    figure = attention_figures.make_attention_heatmap_figure(weights, weights > 0, list("abc"), list("abc"), scale=scale)
    colorbar = figure.data[0].colorbar
    if scale == "log":
        assert list(colorbar.ticktext) == ["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "1"]
        assert list(colorbar.tickvals) == [-4, -3, -2, -1, 0]
    else:
        assert colorbar.ticktext is None


def test_probability_axes_of_tiny_probabilities_read_as_percentages():
    tiny = np.array([3e-5, 2e-5, 1e-5])
    for figure, axis in ((make_ablation_distribution_figure(list("abc"), tiny, tiny / 2), "xaxis"),
                         (make_distribution_shift_figure(list("abc"), tiny, tiny / 3), "xaxis")):
        assert figure.layout[axis].tickformat == ".3~p"


def test_no_builder_leaves_a_log_axis_to_si_prefixes(builder_arguments):
    for name, build in figure_builders():
        args, kwargs = builder_arguments[name]
        layout = build(*args, **kwargs).to_dict()["layout"]
        for key, axis in layout.items():
            if re.fullmatch(r"[xy]axis\d*", key) and axis.get("type") == "log":
                assert axis.get("exponentformat") == "power" or axis.get("ticktext"), (name, key)
