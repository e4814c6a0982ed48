"""The Inside-a-block page's parts: the residual stream through the layers, one vector before and after its norm,
and the feed-forward's hidden units, on the cached trace. Every number comes from core.lessons.block_anatomy, cached
per (model, text, …): moving a slider reruns no model and recomputes nothing already shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import N_, ScopeError, model_shape, spec_of
from core.lessons import block_anatomy
from viz import export, state
from viz.figures.block import (
    make_activation_figure,
    make_norm_histogram_figure,
    make_residual_norm_figure,
    make_sparsity_figure,
    make_sublayer_figure,
)
from viz.loading import cached_model, decoder_reads_text, model_turn, page_trace, trace_or_error
from viz.state import _
from viz.tokens import axis_labels, labels_for
from viz.views.models import index_slider, models_where

CHART = {"displayModeBar": False}
NORM_PLACES = {"attn": N_("the norm of the attention sub-layer"), "mlp": N_("the norm of the feed-forward sub-layer")}
KIND_NAMES = {"layernorm": N_("LayerNorm"), "rmsnorm": N_("RMSNorm")}
NORM_FORMULAS = {
    "layernorm": r"\mathrm{LayerNorm}(x)=g\odot\frac{x-\mu}{\sqrt{\sigma^2+\varepsilon}}+b,\quad "
                 r"\mu=\tfrac1d\textstyle\sum_i x_i,\ \sigma^2=\tfrac1d\sum_i (x_i-\mu)^2",
    "rmsnorm": r"\mathrm{RMSNorm}(x)=g\odot\frac{x}{\sqrt{\tfrac1d\sum_i x_i^2+\varepsilon}}",
}


def trace_for(name: str, text: str):
    return trace_or_error(name, text, decoder_reads_text(name, text))


def token_labels(name: str, trace) -> list[str]:
    return axis_labels(labels_for(cached_model(name).tokenizer, trace.token_ids))


@st.cache_resource(max_entries=32, show_spinner=False)
def residual(name: str, text: str) -> block_anatomy.ResidualNorms:
    trace = page_trace(name, text)
    # Every layer's sub-layer outputs, produced again from the kept residual stream: a pass's worth of work.
    with model_turn(len(trace.token_ids)):
        return block_anatomy.residual_norms(trace, cached_model(name).config.norm_placement == "post")


@st.cache_resource(max_entries=256, show_spinner=False)
def norms_of(name: str, text: str, layer: int, token: int, where: str) -> block_anatomy.NormComparison:
    return block_anatomy.compare_norms(cached_model(name), page_trace(name, text), layer, token, where)


@st.cache_resource(max_entries=256, show_spinner=False)
def activity(name: str, text: str, layer: int, token: int) -> block_anatomy.FeedForwardActivity:
    return block_anatomy.feed_forward_activity(page_trace(name, text), cached_model(name).config,
                                               layer, token)


@st.cache_resource(max_entries=64, show_spinner=False)
def text_sparsity(name: str, text: str) -> block_anatomy.Sparsity:
    return block_anatomy.text_sparsity(page_trace(name, text))


# ---------------------------------------------------------------- the residual stream


def sinks(name: str, trace) -> np.ndarray:
    """The first token and the tokenizer's markers: where attention parks, and where the stream grows huge."""
    tokenizer = cached_model(name).tokenizer
    marked = np.array([i in tokenizer.special_ids and not tokenizer.is_unknown(i) for i in trace.token_ids])
    marked[0] = True
    return marked


def stream_section(name: str, text: str, labels: list[str]) -> None:
    numbers = residual(name, text)
    export.chart(make_residual_norm_figure(numbers.stream, labels, sinks=sinks(name, page_trace(name, text)),
                                           _=_, title=_(
        "‖h‖ of every token after every layer")), key="block-stream", config=CHART)
    if numbers.post_norm:
        st.caption(_("This model normalises after each addition (post-norm): the stream is brought back to the "
                     "same size at every layer, so its norm stays nearly constant and nothing accumulates."))
    else:
        st.caption(_("Pre-norm: each sub-layer reads a normalised copy and adds its output to the stream, which "
                     "is never normalised itself. Its norm grows layer after layer."))


def sublayer_chart(name: str, text: str, token: int, labels: list[str]) -> None:
    numbers = residual(name, text)
    cross = None if numbers.cross is None else numbers.cross[:, token]
    export.chart(make_sublayer_figure(numbers.attention[:, token], numbers.feed_forward[:, token],
                                         numbers.stream[:, token], cross=cross, _=_,
                                         title=_("What each sub-layer added to “{token}”").format(token=labels[token])),
                    key="block-sublayers", config=CHART)


# ---------------------------------------------------------------- the norm


def norm_section(name: str, text: str, layer: int, token: int, labels: list[str]) -> None:
    state.settle_choice(state.NORM_AT, tuple(NORM_PLACES), "attn")
    translate = state.translator()  # a format_func is called again outside the script run
    where = st.radio(_("Which norm"), tuple(NORM_PLACES), key=state.NORM_AT, horizontal=True,
                     format_func=lambda key: translate(NORM_PLACES[key]))
    state.link(state.NORM_AT, where, "attn")
    c = norms_of(name, text, layer, token, where)
    own, other = _(KIND_NAMES[c.kind]), _(KIND_NAMES[c.other_kind])
    st.latex(NORM_FORMULAS[c.kind] + r"\qquad\text{(" + own + r")}")
    st.caption(_("Beside it, the other kind, computed on the same vector with the same learned gain:"))
    st.latex(NORM_FORMULAS[c.other_kind])
    afters = [(_("{kind}, no gain").format(kind=own), c.own), (_("{kind}, no gain").format(kind=other), c.other),
              (_("{kind} × learned gain (the model's output)").format(kind=own), c.out)]
    export.chart(make_norm_histogram_figure(c.x, [n for n, _v in afters], np.stack([v for _n, v in afters]), _=_, title=_(
        "“{token}” at layer {layer}: its {d} numbers before and after {kind}").format(
        token=labels[token], layer=layer, d=c.x.size, kind=own)), key="block-norm", config=CHART)
    rows = [(_("before the norm"), c.x), *afters, (_("{kind} × learned gain").format(kind=other), c.other_out)]
    st.dataframe(pd.DataFrame([{_("vector"): label, _("mean"): float(np.mean(v)), _("variance"): float(np.var(v)),
                                "RMS": float(np.sqrt(np.mean(np.square(v))))} for label, v in rows]),
                 hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.4f")
                                                 for k in (_("mean"), _("variance"), "RMS")})
    spread = float(np.abs(c.gain).max() / max(float(np.abs(c.gain).min()), 1e-12))
    st.caption(_("The learned gain g multiplies each dimension by its own number (here from {low:.3g} to {high:.3g}, "
                 "a ratio of {spread:.3g}): after it the variance is no longer 1, and some dimensions are "
                 "amplified far above the rest.").format(low=float(c.gain.min()), high=float(c.gain.max()),
                                                        spread=spread))


# ---------------------------------------------------------------- the feed-forward


def feed_forward_section(name: str, text: str, layer: int, token: int, labels: list[str]) -> None:
    a = activity(name, text, layer, token)
    st.markdown(_("Activation of this model: **{name}**; {f:,} hidden units per layer.").format(
        name=_(a.name), f=a.act.size))
    export.chart(make_activation_figure(a.act, a.top, pre=a.pre, _=_, title=_(
        "“{token}”, layer {layer}: the feed-forward's hidden units").format(token=labels[token], layer=layer)),
        key="block-units", config=CHART)
    row = st.container(horizontal=True)
    row.metric(_("Exactly zero"), f"{a.sparsity.zero:.1%}", width="content")
    row.metric(_("Near zero"), f"{a.sparsity.near_zero:.1%}", width="content",
               help=_("|a| at most 1% of this token's largest |a|"))
    row.metric(_("Most active unit"), f"#{int(a.top[0])}", f"{float(a.act[a.top[0]]):+.3f}", width="content")


def sparsity_section(preferred: str, text: str) -> None:
    if not st.toggle(_("Compare every installed model on this text"), key=state.FF_ALL, bind="query-params",
                     help=_("Loads each model once per server; larger models take seconds.")):
        return
    names, zero, near = [], [], []
    for name in models_where(lambda config: True, preferred):
        if trace_for(name, text) is None:
            continue
        try:
            s = text_sparsity(name, text)
        except ScopeError as exc:
            st.info(state.render(exc))
            continue
        config = model_shape(name)[0]
        names.append(f"{_(spec_of(name).title)} · {_(block_anatomy.activation_name(config))}")
        zero.append(s.zero)
        near.append(s.near_zero)
    if names:
        export.chart(make_sparsity_figure(names, zero, near, _=_, title=_(
            "Every hidden unit of every token at every layer of the text")), key="block-sparsity", config=CHART)


def layer_control(name: str, count: int) -> int:
    return index_slider(_("Layer"), state.LAYER, count, name)
