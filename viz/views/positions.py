"""The Positional-encoding page's parts: the sinusoid and its controls, a learned table, RoPE on a real
head, and the same text with its tokens reordered, run with and without positions.

Models are found by what they are (their positions, their architecture), through the registry:
never by name. Heavier numbers are cached per (model, input): a rerun reads them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import N_, ScopeError, model_shape, spec_of
from core.lessons.position_experiments import (
    ORDERS,
    compare_orders,
    cosine_matrix,
    diagonal_spread,
    dot_matrix,
    learned_position_table,
    offset_curves,
    reorder,
    rope_frequencies,
    rope_head,
    rope_pair_path,
    sinusoid,
    wavelengths,
)
from viz import export, state
from viz.figures.positions import (
    make_offset_curves_figure,
    make_position_similarity_figure,
    make_position_table_figure,
    make_rope_rotation_figure,
    make_sinusoid_waves_figure,
)
from viz.loading import cached_model, model_or_error, trace_or_error
from viz.state import _
from viz.tokens import axis_labels, labels_for
from viz.views.models import layer_and_head, models_where

KIND_NAMES = {"sinusoidal": N_("sinusoidal"), "learned": N_("learned"), "rope": N_("rotary (RoPE)"),
              "none": N_("none")}
ORDER_NAMES = {"reversed": N_("reversed"), "shuffled": N_("shuffled")}
ROTATION_POSITIONS = 16  # the rotating pair is drawn at positions 0…15
CHART = {"displayModeBar": False}


# ---------------------------------------------------------------- controls


def int_setting(key: str, low: int, high: int, default: int, even: bool = False) -> int:
    """A bound slider's value before it is drawn: the session's, else the link's, else `default`, clamped
    into [low, high] (a slider refuses a value outside its range)."""
    value = st.session_state.get(key)
    if value is None:
        raw = st.query_params.get(key)
        value = int(raw) if raw is not None and raw.isdigit() else default
    value = min(max(int(value), low), high)
    if even:
        value -= value % 2
    st.session_state[key] = value
    return value


# ---------------------------------------------------------------- the sinusoid


@st.cache_resource(max_entries=16, show_spinner=False)
def sinusoid_numbers(n_positions: int, d_model: int):
    table = sinusoid(n_positions, d_model)
    dots = dot_matrix(table)
    return table, dots, wavelengths(d_model), diagonal_spread(dots)


def sinusoid_section(model: str, text: str) -> None:
    low, high = state.PE_D_RANGE
    int_setting(state.PE_D, low, high, 128, even=True)
    int_setting(state.PE_LEN, *state.PE_LEN_RANGE, 100)
    left, right, third = st.columns(3)
    d = left.slider(_("d_model (dimensions)"), low, high, step=2, key=state.PE_D, bind="query-params")
    n = right.slider(_("Positions"), *state.PE_LEN_RANGE, key=state.PE_LEN, bind="query-params")
    int_setting(state.PE_DIM, 0, d - 1, d // 4)
    dim = third.slider(_("A dimension to draw as a wave"), 0, d - 1, key=state.PE_DIM, bind="query-params")
    table, dots, periods, spread = sinusoid_numbers(n, d)
    export.chart(make_position_table_figure(table, _=_, title=_("PE(pos, i) for {n} positions × {d} dimensions")
                                               .format(n=n, d=d)), key="pe-table", config=CHART)
    dims = sorted({0, 1, dim, dim ^ 1} & set(range(d)))
    export.chart(make_sinusoid_waves_figure(table, dims, periods, _=_, title=_("Single dimensions as waves")),
                    key="pe-waves", config=CHART)
    st.markdown(state.explain("positional_distance"))
    st.latex(r"PE(p)\cdot PE(p+k)=\sum_{i=0}^{d/2-1}\cos\!\left(\frac{k}{10000^{2i/d}}\right)")
    left, right = st.columns(2)
    export.chart(make_position_similarity_figure(dots, _=_, title=_("PE(p) · PE(q), every pair of positions")),
                 key="pe-dots", config=CHART, where=left)
    starts = sorted({0, n // 4, n // 2})
    curves = offset_curves(dots, starts)[:, : n - starts[-1]]
    export.chart(make_offset_curves_figure(
        np.arange(curves.shape[1]), curves, [f"p = {p}" for p in starts], _=_, x_title=_("offset k"),
        y_title="PE(p) · PE(p+k)", title=_("The same curve from every start p")), key="pe-offsets", config=CHART,
        where=right)
    st.caption(_("Along each diagonal of the matrix the dot product varies by at most {spread:.1e} (float rounding): "
                 "it depends on the distance k alone, never on where the pair sits.").format(spread=spread.max()))
    _loaded_model_check(model, text)


def _loaded_model_check(model: str, text: str) -> None:
    """When the chosen model adds this very table, its recorded position vectors against the formula."""
    config = model_shape(model)[0]
    if config.positional != "sinusoidal":
        return
    trace = trace_or_error(model, text, text if config.architecture == "encoder-decoder" else None)
    if trace is None:
        return
    values = np.asarray(trace.stack.positions.values, dtype=np.float64)
    gap = float(np.abs(values - sinusoid(len(values), config.d_model)).max())
    st.success(_("{model} adds exactly this table: its recorded position vectors for your {count} tokens equal the "
                 "formula with d_model = {d} (largest difference {gap:.1e}, the trace's float16 rounding).").format(
        model=_(spec_of(model).title), count=len(values), d=config.d_model, gap=gap))


# ---------------------------------------------------------------- a learned table


@st.cache_resource(max_entries=16, show_spinner=False)
def learned_numbers(name: str, n_positions: int):
    table = learned_position_table(cached_model(name), n_positions)
    cosines = cosine_matrix(table)
    return table, cosines, diagonal_spread(cosines)


def learned_section(name: str) -> None:
    if model_or_error(name) is None:
        return
    n = int(st.session_state.get(state.PE_LEN, 100))
    table, cosines, spread = learned_numbers(name, n)
    rows, width = table.shape
    st.caption(_("{model}: {rows} of its {total} trained rows, {width} numbers each.").format(
        model=_(spec_of(name).title), rows=rows, total=model_shape(name)[0].max_positions, width=width))
    left, right = st.columns(2)
    export.chart(make_position_table_figure(table, _=_, title=_("The learned position table")),
                 key="learned-table", config=CHART, where=left)
    export.chart(make_position_similarity_figure(cosines, measure="cosine", _=_,
                                                 title=_("Cosine similarity between positions")),
                 key="learned-cosines", config=CHART, where=right)
    starts = sorted({0, rows // 4, rows // 2})
    curves = offset_curves(cosines, starts)[:, : rows - starts[-1]]
    export.chart(make_offset_curves_figure(
        np.arange(curves.shape[1]), curves, [f"p = {p}" for p in starts], _=_, x_title=_("offset k"),
        y_title="cos(P(p), P(p+k))", title=_("Learned: the curve depends on the start p too")),
        key="learned-offsets", config=CHART)
    st.caption(_("Along a diagonal the cosine varies by up to {spread:.2f}: nothing forced these rows to depend on the "
                 "distance alone, yet near positions still came out alike.").format(spread=spread[1:].max()))


# ---------------------------------------------------------------- RoPE on a real head


def rope_section(name: str, text: str) -> None:
    trace = trace_or_error(name, text)
    if trace is None:
        return
    config = model_shape(name)[0]
    layer, head = layer_and_head(name, config)
    lm = model_or_error(name)
    labels = axis_labels(labels_for(lm.tokenizer, trace.token_ids))
    t, base = len(labels), config.rope_base
    found = rope_head(trace.layers[layer].self_attn, head, t - 1, base)
    frequencies = rope_frequencies(config.head_dim, base)
    # The fastest pair, one that turns about half a circle over the positions drawn, and a slow one.
    turned = frequencies * (ROTATION_POSITIONS - 1)
    pairs = sorted({0, int(np.abs(turned - np.pi).argmin()), int(np.abs(turned - np.pi / 4).argmin())})
    paths = np.stack([rope_pair_path(found.q, j, range(ROTATION_POSITIONS), base) for j in pairs])
    key_paths = np.stack([rope_pair_path(found.keys[0], j, range(ROTATION_POSITIONS), base) for j in pairs])
    titles = [_("pair {j}: {theta:.3g} rad per position").format(j=j, theta=frequencies[j]) for j in pairs]
    export.chart(make_rope_rotation_figure(paths, titles, key_paths=key_paths, _=_, title=_(
        "The query of “{token}” and the key of “{first}” (layer {layer}, head {head}), each placed at positions 0–15")
        .format(token=labels[-1], first=labels[0], layer=layer, head=head)), key="rope-rotation", config=CHART)
    keys = sorted({0, max(t - 2, 0), t - 1})
    offsets = np.arange(max(t, 32))
    curves = np.stack([found.by_offset(j, offsets) for j in keys])
    names = [_("key “{token}”").format(token=labels[j]) for j in keys]
    points = np.array([[t - 1 - j, found.scores[j]] for j in keys])
    export.chart(make_offset_curves_figure(
        offsets, curves, names, points=points, point_labels=[labels[j] for j in keys], _=_,
        x_title=_("offset: how many positions the query comes after the key"), y_title="q · k / √d_k",
        title=_("The score of “{token}” with three keys, as a function of their distance").format(token=labels[-1])),
        key="rope-offsets", config=CHART)
    gap = float(np.abs(found.recomputed() - found.scores).max())
    st.caption(_("Circles: the scores the model recorded, at each pair's real distance. Recomputed from the unrotated "
                 "vectors at that distance alone, all {count} scores of this query agree to {gap:.1e} (the trace's "
                 "float16 rounding).").format(count=t, gap=gap))


# ---------------------------------------------------------------- positions switched off


@st.cache_resource(max_entries=64, show_spinner=False)
def comparison(name: str, ids_a: tuple[int, ...], ids_b: tuple[int, ...]):
    return compare_orders(cached_model(name), ids_a, ids_b)


def order_choice() -> str:
    state.settle_choice(state.ORDER, ORDERS, ORDERS[0])
    order = st.segmented_control(_("The second order"), ORDERS, key=state.ORDER, required=True,
                                 format_func=lambda o, translate=state.translator(): translate(ORDER_NAMES[o]))
    state.link(state.ORDER, order, ORDERS[0])
    return order


def _row(result, lm) -> dict[str, object]:
    verdict = _("the same vectors, permuted") if result.permuted_without_positions else _("different vectors")
    return {_("model"): _(spec_of(result.model).title), _("positions"): _(KIND_NAMES[result.positional]),
            _("mask"): _("causal") if result.causal else _("none (bidirectional)"),
            _("max |difference|, with positions"): f"{result.max_with:.3g}",
            _("max |difference|, positions off"): f"{result.max_without:.3g}",
            _("positions off gives"): verdict, _("largest |value|"): f"{result.scale:.3g}"}


def positions_off_section(text: str, order: str, preferred: str) -> None:
    encoders = models_where(lambda c: c.architecture == "encoder" and c.positional != "none", preferred)
    decoders = models_where(lambda c: c.architecture == "decoder" and c.positional != "none", preferred)
    rows, details = [], None
    for name in encoders[:1] + decoders[:1]:
        lm = model_or_error(name)
        if lm is None:
            continue
        try:
            ids_a = lm.encode(text)[0].ids[:512]
        except ScopeError as exc:
            st.info(state.render(exc))
            return
        ids_b = reorder(lm.tokenizer, ids_a, order)
        with st.spinner(_("Running the model…")):
            result = comparison(name, tuple(ids_a), tuple(ids_b))
        rows.append(_row(result, lm))
        st.markdown(_("**{model}** reads the two orders as:").format(model=_(spec_of(name).title)))
        st.code(f"{lm.tokenizer.decode(ids_a)}\n{lm.tokenizer.decode(ids_b)}", language=None, wrap_lines=True)
        unknown = sum(lm.tokenizer.is_unknown(i) for i in ids_a)
        if unknown:
            st.caption(_("{count} of these tokens are [UNK]: the vocabulary cannot spell those characters, so the model "
                         "sees the same unknown token for each.").format(count=unknown))
        if details is None and not result.causal:
            details = (result, lm)
    if not rows:
        return
    st.dataframe(pd.DataFrame(rows).set_index(_("model")).T)  # one column per model: the verdicts fit a phone
    if details is not None:
        _token_table(*details)


def _token_table(result, lm) -> None:
    if not result.reordered:
        st.info(_("Reordered, these tokens are the same sequence: there is nothing to compare. Try a longer text."))
    labels_b = labels_for(lm.tokenizer, result.ids_b)
    with st.expander(_("Token by token ({model})").format(model=_(spec_of(result.model).title))):
        st.dataframe(pd.DataFrame({
            _("token"): labels_b, _("position, second order"): list(range(len(labels_b))),
            _("position, first order"): result.permutation,
            _("max |difference|, with positions"): result.with_positions,
            _("max |difference|, positions off"): result.without_positions,
        }), hide_index=True)
