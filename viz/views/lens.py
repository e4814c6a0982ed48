"""The logit-lens page's parts: the lens grid over a window of positions, one position's candidates across the
layers, and the direct attribution of its prediction to heads, feed-forward blocks and units.

Every number comes from core.lessons.logit_lens, cached per (model, text, window or position): moving the position
within a window reads the cached grid, and the model never runs again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import ScopeError
from core.lessons import logit_lens
from viz import export, state
from viz.figures.lens import make_candidate_lines_figure, make_lens_grid_figure, make_logit_attribution_figure
from viz.loading import cached_model, page_trace
from viz.markdown import markdown_literal as _md
from viz.state import _
from viz.tokens import label_of
from viz.views.controls import pick_token

CHART = {"displayModeBar": False}


@st.cache_resource(max_entries=32, show_spinner=False)
def grid(name: str, text: str, start: int) -> logit_lens.LensGrid:
    return logit_lens.lens_grid(page_trace(name, text), start)


@st.cache_resource(max_entries=128, show_spinner=False)
def one_position(name: str, text: str, position: int) -> logit_lens.PositionLens:
    return logit_lens.position_lens(page_trace(name, text), position)


@st.cache_resource(max_entries=64, show_spinner=False)
def attribution(name: str, text: str, position: int) -> logit_lens.Attribution:
    return logit_lens.attribute(page_trace(name, text), position)


def _labels(tokenizer, ids) -> np.ndarray:
    return np.vectorize(lambda i: label_of(tokenizer, int(i)), otypes=[object])(ids)


@st.fragment
def explorer(name: str, text: str, labels: list[str]) -> None:
    """Pick a position; see the lens around it, its candidates through the layers, and who wrote its prediction."""
    tokenizer = cached_model(name).tokenizer
    position = pick_token(labels, (name, text), len(labels) - 1, _("Position (the prediction after this token)"))
    start = position // logit_lens.WINDOW * logit_lens.WINDOW
    with st.spinner(_("Projecting every layer through the output matrix…")):
        g = grid(name, text, start)
    shown = labels[start : start + g.top_ids.shape[1]]
    export.chart(make_lens_grid_figure(_labels(tokenizer, g.top_ids[:, :, 0]), g.top_probs[:, :, 0], shown,
                                          g.decided, chosen=position - start, _=_, title=_(
        "The most likely next token at every layer (positions {first} to {last})").format(
        first=start, last=start + len(shown) - 1)), key="lens-grid", config=CHART)
    if len(labels) > logit_lens.WINDOW:
        st.caption(_("The text has {count} tokens: the grid shows the window of {window} that holds the chosen "
                     "position.").format(count=len(labels), window=logit_lens.WINDOW))
    column = position - start
    final = label_of(tokenizer, int(g.final_ids[column]))
    st.markdown(_("After **{token}** the model predicts **{final}** (p = {p:.3f}); it is the top token from layer "
                  "**{layer}** on, of {layers}.").format(
        token=_md(labels[position]), final=_md(final), p=float(g.final_probs[-1, column]),
        layer=int(g.decided[column]), layers=g.top_ids.shape[0] - 1))
    lens = one_position(name, text, position)
    export.chart(make_candidate_lines_figure(lens.probs, list(_labels(tokenizer, lens.candidates)), _=_, title=_(
        "After “{token}”: each candidate's probability through the layers").format(token=labels[position])),
        key="lens-lines", config=CHART)
    st.subheader(_("Who wrote the prediction"))
    st.markdown(state.explain("logit_attribution"))
    # One equation a line: on one line they would run past a projector's right edge.
    st.latex(r"\begin{aligned}\mathrm{logit}_v&=\sum_{c}\,c\cdot w+b\cdot u_v\\"
             r"w&=s\,(g\odot u_v)\ \text{(RMSNorm)},\quad w=s\,P(g\odot u_v)\ \text{(LayerNorm)}\\"
             r"s&=\frac{1}{\sqrt{\tfrac1d\sum_i h_{L,i}^2+\varepsilon}}\ \text{" + _("or") + r"}\ "
             r"\frac{1}{\sqrt{\sigma^2(h_L)+\varepsilon}}"
             r"\end{aligned}")
    if not logit_lens.can_attribute(cached_model(name).config):
        st.info(_("This model normalises after every sub-layer (post-norm): its residual stream is not a sum of "
                  "what the sub-layers wrote, so their direct contributions cannot be separated."))
        return
    try:
        a = attribution(name, text, position)
    except ScopeError as exc:
        st.info(state.render(exc))
        return
    _attribution(a, tokenizer, labels[position])


def _attribution(a: logit_lens.Attribution, tokenizer, token: str) -> None:
    target_label = label_of(tokenizer, a.token_id)
    export.chart(make_logit_attribution_figure(a.heads, a.attention, a.feed_forward, _=_, title=_(
        "Direct contributions to the logit of “{target}” after “{token}”").format(target=target_label, token=token)),
        key="lens-attribution", config=CHART)
    row = st.container(horizontal=True)
    row.metric(_("The model's logit"), f"{a.logit:.4f}", width="content")
    row.metric(_("Sum of the contributions"), f"{a.total:.4f}", width="content",
               help=_("embedding + every head + every feed-forward + biases, with the final norm's scale s fixed"))
    row.metric(_("Embedding"), f"{a.embedding:+.3f}", width="content")
    row.metric(_("All heads"), f"{float(a.heads.sum()):+.3f}", width="content")
    row.metric(_("All feed-forward blocks"), f"{float(a.feed_forward.sum()):+.3f}", width="content")
    st.caption(_("s = {scale:.4g} at this position. The logit is before any soft-cap.").format(scale=a.scale))
    st.markdown(_("**The feed-forward units that contributed most**: act_i × (W_down[:, i] · w)"))
    st.dataframe(pd.DataFrame([{_("layer"): u.layer, _("unit"): u.unit, _("activation"): u.act,
                                "W_down[:, i] · w": u.direction, _("contribution"): u.contribution} for u in a.units]),
                 hide_index=True, column_config={k: st.column_config.NumberColumn(format="%+.4f") for k in
                                                 (_("activation"), "W_down[:, i] · w", _("contribution"))})
