"""Self-attention step by step: the worked example stepped through, why ÷ √d_k (random scores at several d_k,
then source article 002's row of Q Kᵀ with and without it), and one real head of the loaded model for one query."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from core.lessons.attention_steps import (
    D_MODEL,
    DK_RANGE,
    EXAMPLE_WORDS,
    RANDOM_DKS,
    RANDOM_PAIRS,
    SCALING_DKS,
    SEED_CLAIM,
    SEED_ROW,
    STAGE_NAMES,
    STAGES,
    TOKEN_RANGE,
    head_steps,
    random_inputs,
    random_score_spread,
    scaling_table,
    worked_example,
)
from viz import export, state
from viz.figures.attention_math import make_scaling_figure, make_step_matrix_figure, make_value_mix_figure
from viz.state import _
from viz.tokens import labels_for
from viz.views.controls import linked_int, stepper
from viz.views.models import layer_and_head

QUERY_OWNER = "_attention_math_query_of"  # the (model, text) the real head's query belongs to


@st.cache_data(show_spinner=False, max_entries=256)
def _example(n: int, d_k: int, seed: int, causal: bool):
    return worked_example(*random_inputs(n, d_k, seed), causal=causal)


def _table(values, rows, cols) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, dtype=np.float64), index=rows, columns=cols)


def _stage(values, rows, cols, title: str, highlight: int | None = None, probabilities: bool = False) -> None:
    left, right = st.columns([2, 3])
    left.dataframe(_table(values, rows, cols).style.format("{:.3f}"))
    export.chart(make_step_matrix_figure(values, rows, cols, title=title, highlight_row=highlight,
                                         probabilities=probabilities, _=state.translator()), where=right)


def _vector(values) -> str:
    return r"\begin{bmatrix}" + " & ".join(f"{v:.2f}" for v in values) + r"\end{bmatrix}"


def _weighted_sum(ex, query: int) -> None:
    """z_q = Σ_j w_qj v_j written out with the numbers."""
    terms = [rf"{ex.probs[query, j]:.3f}\,{_vector(ex.v[j])}" for j in range(len(ex.v)) if ex.allowed[query, j]]
    st.latex(rf"z_{{{query + 1}}}=" + "+".join(terms) + "=" + _vector(ex.z[query]))


@st.fragment
def worked_example_section() -> None:
    sizes, keys, seed_column, causal_column = st.columns(4)
    n = sizes.slider(_("Tokens"), *TOKEN_RANGE, value=TOKEN_RANGE[1], key=state.AM_N, bind="query-params")
    d_k = keys.slider(_("d_k"), *DK_RANGE, value=3, key=state.AM_DK, bind="query-params")
    seed = seed_column.number_input(_("Seed of the random numbers"), 0, state.MAX_SEED, 0, key=state.AM_SEED,
                                    bind="query-params")
    causal = causal_column.toggle(_("Causal mask"), key=state.AM_CAUSAL, bind="query-params",
                                  help=_("A decoder: each token may look only at itself and the tokens before it."))
    words = [_(word) for word in EXAMPLE_WORDS[:n]]
    linked_int(state.AM_QUERY)
    state.settle_choice(state.AM_QUERY, range(n), min(2, n - 1))
    query = st.selectbox(_("The query token whose row is followed"), range(n), key=state.AM_QUERY, placeholder=_("Choose one"),
                         format_func=lambda i: words[i])
    state.link(state.AM_QUERY, query, 2)
    step = stepper(_("Step"), state.AM_STEP, len(STAGES), first=1)  # counted from 1, as a class counts
    stage = STAGES[step - 1]
    ex = _example(n, d_k, int(seed), causal)
    dims = [str(i + 1) for i in range(D_MODEL)]
    kdims = [str(i + 1) for i in range(d_k)]
    st.subheader(_("Step {step} of {count}: {name}").format(step=step, count=len(STAGES), name=_(STAGE_NAMES[stage])))
    tr = state.translator()
    if stage == "x":
        st.markdown(_("Each token is a row of {d} numbers (random here, from the random seed: a model learns its own).").format(
            d=D_MODEL))
        _stage(ex.x, words, dims, "X", query)
    elif stage == "qkv":
        st.latex(r"Q=XW_Q,\quad K=XW_K,\quad V=XW_V")
        for name, m in (("Q", ex.q), ("K", ex.k), ("V", ex.v)):
            st.latex(rf"W_{name}\ ({D_MODEL}\times{d_k})\ \rightarrow\ {name}\ ({n}\times{d_k})")
            _stage(m, words, kdims, name, query if name == "Q" else None)
        with st.expander(_("The weight matrices")):
            for name, w in (("W_Q", ex.w_q), ("W_K", ex.w_k), ("W_V", ex.w_v)):
                export.chart(make_step_matrix_figure(w, dims, kdims, title=name, _=tr), key=f"am-{name}")
    elif stage == "scores":
        st.latex(r"S=QK^\top,\qquad S_{ij}=q_i\cdot k_j")
        _stage(ex.scores, words, words, "Q Kᵀ", query)
    elif stage == "scaled":
        st.latex(rf"S/\sqrt{{d_k}}=S/\sqrt{{{d_k}}}=S/{math.sqrt(d_k):.3f}")
        _stage(ex.scaled, words, words, "Q Kᵀ / √d_k", query)
    elif stage == "masked":
        st.latex(r"S/\sqrt{d_k}+M,\qquad M_{ij}\in\{0,-\infty\}")
        if not causal:
            st.caption(_("No mask: every token may look at every token (an encoder). Switch the causal mask on to "
                         "see −∞ above the diagonal."))
        _stage(ex.masked, words, words, "+ M", query)
    elif stage == "probs":
        st.latex(r"A_{ij}=\frac{e^{s_{ij}}}{\sum_{j'}e^{s_{ij'}}}")
        _stage(ex.probs, words, words, "softmax", query, probabilities=True)
    else:
        st.latex(r"Z=AV,\qquad z_i=\sum_j A_{ij}\,v_j")
        _stage(ex.z, words, kdims, "Z", query)
        st.markdown(_("The output of **{word}** (token {position}) is its weights times the value rows, "
                      "added up:").format(word=words[query], position=query + 1))
        _weighted_sum(ex, query)
        export.chart(make_value_mix_figure(ex.probs[query], ex.contributions(query), words,
                                              allowed=ex.allowed[query], _=tr), key="am-mix")
    if stage in ("scores", "scaled", "masked", "probs"):
        weights = ", ".join(f"{words[j]} {ex.probs[query, j]:.3f}" for j in range(n))
        st.caption(_("Where {word} looks in the end: {weights}").format(word=words[query], weights=weights))


@st.cache_data(show_spinner=False)
def _spread() -> tuple[np.ndarray, np.ndarray]:
    return random_score_spread()


def scaling_section(head_dim: int | None = None) -> None:
    st.subheader(_("Random queries and keys"))
    raw, divided = _spread()
    spread = pd.DataFrame({"√d_k": np.sqrt(RANDOM_DKS), _("standard deviation of q · k"): raw,
                           _("standard deviation of q · k / √d_k"): divided}, index=pd.Index(RANDOM_DKS, name="d_k"))
    st.dataframe(spread.style.format("{:.2f}"))
    st.caption(_("Standard deviations over {pairs:,} random pairs of a query and a key at each d_k, their numbers "
                 "independent with mean 0 and variance 1.").format(pairs=RANDOM_PAIRS))
    st.subheader(_("The source article's row"))
    plain, scaled = scaling_table()
    rows = [_("the row itself")] + [_("÷ √{d_k} = {root:g}").format(d_k=d, root=math.sqrt(d)) for d in SCALING_DKS]
    table = pd.DataFrame(np.vstack([plain, scaled]), index=rows, columns=[f"{v:g}" for v in SEED_ROW])
    claim = pd.DataFrame([SEED_CLAIM], index=[_("the source article's numbers")], columns=table.columns)
    st.dataframe(pd.concat([table, claim]).style.format("{:.3g}"))
    export.chart(make_scaling_figure(SEED_ROW, plain, scaled, SCALING_DKS, claim=SEED_CLAIM,
                                        _=state.translator()), key="am-scaling")
    st.caption(_("softmax(100, 80, 20, 12) = ({a:.9f}, {b:.2e}, {c:.1e}, {d:.1e}): no row of weights can be "
                 "0.4, 0.2, 0.2, 0.1, which do not even sum to 1.").format(a=plain[0], b=plain[1], c=plain[2],
                                                                            d=plain[3]))
    if head_dim:
        st.caption(_("The loaded model's heads have d_k = {d}: their scores are divided by √{d} = {root:.2f}.")
                   .format(d=head_dim, root=math.sqrt(head_dim)))


def _query(tokens: list[str], owner: tuple, focus: str | None) -> int:
    """The real head's query position: the focus word of a preset, else the last token; kept per text."""
    count = len(tokens)
    default = count - 1
    if focus:
        found = [i for i, label in enumerate(tokens) if focus.strip() in label or label.strip() in focus and
                 label.strip()]
        default = found[-1] if found else default
    if st.session_state.get(QUERY_OWNER) not in (None, owner):
        st.session_state[state.TOKEN] = default
    linked_int(state.TOKEN)
    state.settle_choice(state.TOKEN, range(count), default)
    st.session_state[QUERY_OWNER] = owner
    chosen = st.selectbox(_("Query token"), range(count), key=state.TOKEN, placeholder=_("Choose one"),
                          format_func=lambda i: f"{i}: {tokens[i]}")
    state.link(state.TOKEN, chosen, default)
    return chosen


@st.fragment
def real_head_section(lm, trace, focus: str | None = None) -> None:
    tokens = labels_for(lm.tokenizer, trace.token_ids)
    layer, head = layer_and_head(lm.name, lm.config)
    query = _query(tokens, (lm.name, tuple(trace.token_ids)), focus)
    steps = head_steps(trace, layer, head, query, lm.config.attn_scale)
    st.markdown(_("Query **{token}** (position {query}) in head {head} of layer {layer}, which reads key/value "
                  "head {kv}: q has {d} numbers.").format(token=tokens[query].replace("*", r"\*"), query=query,
                                                         head=head, layer=layer, kv=steps.kv_head, d=steps.q.size))
    st.latex(rf"s_j=(q\cdot k_j)\times{steps.scale:.4g},\qquad a=\mathrm{{softmax}}(s+m),\qquad z=\sum_j a_j v_j")
    keys = [f"{i}: {t}" for i, t in enumerate(tokens)]
    frame = pd.DataFrame({
        _("key"): keys, _("q · k"): steps.dots, _("× scale"): steps.scores,
        _("mask"): np.where(steps.allowed, "+0", "−∞"), _("softmax weight"): steps.probs,
        _("‖weight × v‖"): np.linalg.norm(steps.contributions, axis=1),
    })
    st.dataframe(frame, hide_index=True)
    export.chart(make_value_mix_figure(steps.probs, steps.contributions, keys, allowed=steps.allowed,
                                          _=state.translator()), key="am-real-mix")
    gap = float(np.abs(steps.contributions.sum(axis=0) - steps.z).max())
    st.caption(_("Σ weight × v equals the trace's z for this head to {gap:.1e} (the trace holds float16).").format(
        gap=gap))
