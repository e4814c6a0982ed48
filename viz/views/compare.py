"""Compare mode: the second text of a minimal pair beside the first, on the Attention, Next-token and Layer by
layer pages, with the difference made explicit (core/lessons/compare.py computes it, viz/figures/compare.py draws it).

Both traces come from the cache (viz/loading.get_trace): a trace is computed once per (model, text).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st

from core.lessons import compare as core_compare
from viz import export, state
from viz.attention_sources import attention_sources, shown_weights
from viz.figures.attention import make_attention_row_figure
from viz.figures.compare import (
    make_attention_difference_figure,
    make_distribution_shift_figure,
    make_lens_pair_figure,
    make_row_shift_figure,
)
from viz.loading import cached_model, get_trace, trace_or_error
from viz.markdown import markdown_literal
from viz.state import _
from viz.tokens import axis_labels, label_of, labels_for
from viz.views import downloads

MAP_MAX_TOKENS = 64  # the aligned difference map is drawn up to this many aligned tokens (one row beyond)
SHIFT_TOP = 8  # the top tokens of either text in the distribution shift

STYLE = """<style>
.ts-pair { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; line-height: 2.2; margin: 0.2rem 0; }
.ts-pair .ts-name { font-weight: 700; margin-right: 0.5rem; }
.ts-pair .ts-tok { display: inline-block; margin: 1px; padding: 0 4px; border-radius: 4px; white-space: pre;
  background: #e8eef6; border: 1px solid #c9d3e0; }
.ts-pair .ts-diff { background: #ffd6a5; border: 2px solid #d35400; font-weight: 700; }
</style>"""


def second_trace(name: str, text2: str | None, target: str | None = None):
    """The trace of the second text (None when compare mode is off, or with a message when it cannot be made);
    the page's cost line keeps naming the first text."""
    if text2 is None:
        return None
    traced = st.session_state.get(state.TRACED)
    trace = trace_or_error(name, text2, target)
    if traced is not None:
        st.session_state[state.TRACED] = traced
    return trace


def _chips(name: str, labels: list[str], changed: np.ndarray) -> str:
    spans = "".join(f'<span class="ts-tok{" ts-diff" if diff else ""}">{html.escape(label)}</span>'
                    for label, diff in zip(labels, changed))
    return f'<div class="ts-pair"><span class="ts-name">{html.escape(name)}</span>{spans}</div>'


def token_pair(tokenizer, ids1, ids2) -> core_compare.Alignment:
    """Both texts' tokens as chips, those without an equal partner in the other text marked."""
    alignment = core_compare.align(ids1, ids2)
    st.html(STYLE + _chips(_("text 1"), labels_for(tokenizer, ids1), alignment.changed1)
            + _chips(_("text 2"), labels_for(tokenizer, ids2), alignment.changed2))
    if alignment.same:
        st.caption(_("The two texts have the same tokens: change a word of the second text in the sidebar."))
    else:
        st.caption(_("Marked tokens have no equal partner in the other text ({first} in text 1, {second} in text "
                     "2); the others are aligned, and the differences below compare aligned tokens.").format(
            first=int(alignment.changed1.sum()), second=int(alignment.changed2.sum())))
    return alignment


# ---------------------------------------------------------------- Attention

STACKS = {"self": ("stack", "stack"), "cross": ("stack", "encoder"), "encoder": ("encoder", "encoder")}


def _ids(trace, which: str) -> list[int]:
    return list(getattr(trace, which).token_ids)


def attention_pair(trace1, trace2, tokenizer, kind: str, layer: int, head: int | None, query: int | None) -> None:
    """The chosen head's row for the chosen query in both texts, its change over aligned keys, and the aligned
    difference map of the whole head."""
    st.subheader(_("Compare: the same head in text 2"))
    query_stack, key_stack = STACKS[kind]
    q_align = core_compare.align(_ids(trace1, query_stack), _ids(trace2, query_stack))
    k_align = q_align if key_stack == query_stack else core_compare.align(_ids(trace1, key_stack),
                                                                            _ids(trace2, key_stack))
    token_pair(tokenizer, _ids(trace1, key_stack), _ids(trace2, key_stack))
    s1, s2 = attention_sources(trace1, tokenizer)[kind], attention_sources(trace2, tokenizer)[kind]
    r1, r2 = s1.records[layer], s2.records[layer]
    w1, w2 = shown_weights(r1, head), shown_weights(r2, head)
    m1, m2 = np.asarray(r1.mask, dtype=bool), np.asarray(r2.mask, dtype=bool)
    q1 = len(s1.queries) - 1 if query is None else query
    q2 = core_compare.counterpart(q_align, q1)
    keys1, keys2 = axis_labels(s1.keys), axis_labels(s2.keys)
    what = (_("layer {layer}, head {head}").format(layer=layer, head=head) if head is not None
            else _("layer {layer}, mean of heads").format(layer=layer))
    parts = ("compare", f"layer{layer}", f"head{head}" if head is not None else "mean")
    left, right = st.columns(2)
    export.chart(make_attention_row_figure(w1[q1], m1[q1], keys1, subtitle=what, _=_, title=_(
        "Text 1: where does “{token}” look?").format(token=s1.queries[q1])), "compare-row-1", (*parts, "text1"),
        where=left)
    if q2 is None:
        right.info(_("Text 2 has no token facing “{token}”: it was removed.").format(
            token=markdown_literal(s1.queries[q1])))
        return
    export.chart(make_attention_row_figure(w2[q2], m2[q2], keys2, subtitle=what, _=_, title=_(
        "Text 2: where does “{token}” look?").format(token=s2.queries[q2])), "compare-row-2", (*parts, "text2"),
        where=right)
    first_change = int(np.argmax(q_align.changed1)) if q_align.changed1.any() else len(q_align.changed1)
    if trace1.architecture == "decoder" and kind == "self" and q1 < first_change:
        st.info(_("In a decoder “{token}” comes before the first difference and cannot see it: its row is the "
                  "same in both texts. Pick a query at or after the changed token.").format(
            token=markdown_literal(s1.queries[q1])))
    row = core_compare.aligned_difference(w1, w2, k_align, m1, m2, query_pairs=[(q1, q2)], key_pairs=k_align.pairs)
    shown = np.isfinite(row.difference[0])
    aligned_keys = [keys1[j] for j in row.cols1]
    export.chart(make_row_shift_figure([k for k, s in zip(aligned_keys, shown) if s], row.weights1[0][shown],
                                       row.weights2[0][shown], subtitle=what, _=_, title=_(
        "How the row of “{token}” changed over the aligned keys").format(token=s1.queries[q1])),
        "compare-row-shift", (*parts, "row-change"))
    if len(q_align.pairs) > MAP_MAX_TOKENS:
        st.caption(_("The difference map of every aligned pair is drawn up to {count} aligned tokens.").format(
            count=MAP_MAX_TOKENS))
        return
    matrix = core_compare.aligned_difference(w1, w2, q_align, m1, m2, key_pairs=k_align.pairs)
    queries1 = axis_labels(s1.queries)
    highlight = next((a for a, i in enumerate(matrix.rows1) if i == q1), None)
    export.chart(make_attention_difference_figure(matrix.difference, [queries1[i] for i in matrix.rows1],
                                                  [keys1[j] for j in matrix.cols1], highlight_row=highlight, _=_,
                                                  title=_("Weight in text 2 minus weight in text 1, {what}").format(
                                                      what=what)), "compare-map", (*parts, "difference"))
    st.caption(_("Red: the aligned query looks more at that key in text 2; blue: less. Tokens that differ have no "
                 "aligned partner, so they are not in the map; grey cells are masked."))


def attention_after(trace, tokenizer, text: str, target: str | None):
    """What the Attention page's explorer draws after its figures: the downloads of the view, then, in compare
    mode, the second text's same head (called inside the explorer's fragment, so it follows every step)."""
    def after(kind: str, layer: int, head: int | None, query: int | None) -> None:
        downloads.attention(trace, text, target, kind, layer, head)
        text2 = state.text2()
        if text2 is None:
            return
        target2 = None if target is None else (text2 if target == text else target)
        trace2 = second_trace(trace.model, text2, target2)
        if trace2 is not None:
            attention_pair(trace, trace2, tokenizer, kind, layer, head, query)

    return after


# ---------------------------------------------------------------- Next token


def next_token_pair(lm, trace1, text2: str | None, chat: bool = False) -> None:
    """How the next-token distribution moved from text 1 to text 2 (wrapped as a chat message like text 1)."""
    trace2 = None if text2 is None else second_trace(lm.name, lm.chat_prompt(text2) if chat else text2)
    if trace2 is None or trace1.last_logits is None or trace2.last_logits is None:
        return
    st.header(_("Compare: the next token after text 2"))
    token_pair(lm.tokenizer, trace1.token_ids, trace2.token_ids)
    shift = core_compare.distribution_shift(trace1.last_logits, trace2.last_logits, SHIFT_TOP)
    labels = axis_labels([label_of(lm.tokenizer, int(i)) for i in shift.ids])
    left, right = st.columns(2)
    first, second = int(np.argmax(trace1.last_logits)), int(np.argmax(trace2.last_logits))
    left.markdown(_("After text 1: **{token}**").format(token=markdown_literal(label_of(lm.tokenizer, first))))
    right.markdown(_("After text 2: **{token}**").format(token=markdown_literal(label_of(lm.tokenizer, second))))
    export.chart(make_distribution_shift_figure(labels, shift.p1, shift.p2, _=_, title=_(
        "The top {count} tokens of either text: probability after each, and the change").format(count=SHIFT_TOP)),
        "compare-shift", ("compare", "next-token"))
    st.dataframe(pd.DataFrame({_("token"): labels, _("p after text 1"): shift.p1, _("p after text 2"): shift.p2,
                               _("change"): shift.change, _("rank in text 1"): shift.rank1 + 1,
                               _("rank in text 2"): shift.rank2 + 1}), hide_index=True)
    st.caption(_("Total variation distance between the two distributions: {tv:.3f} (0: the same, 1: nothing in "
                 "common). Probabilities at temperature 1, before top-k / top-p.").format(tv=shift.total_variation))


# ---------------------------------------------------------------- Layer by layer


@st.cache_resource(max_entries=32, show_spinner=False)
def _last_lens(name: str, text: str, target: str | None) -> core_compare.LastLens:
    return core_compare.last_position_lens(get_trace(name, text, target))


def lens_pair(name: str, text: str, target_of) -> None:
    """The top prediction at every layer for the last position of each text."""
    text2 = state.text2()
    if text2 is None or second_trace(name, text2, target_of(name, text2)) is None:
        return
    tokenizer = cached_model(name).tokenizer
    st.header(_("Compare: the last position of each text, layer by layer"))
    token_pair(tokenizer, get_trace(name, text, target_of(name, text)).token_ids,
               get_trace(name, text2, target_of(name, text2)).token_ids)
    a, b = _last_lens(name, text, target_of(name, text)), _last_lens(name, text2, target_of(name, text2))
    tops1 = [label_of(tokenizer, int(i)) for i in a.top_ids]
    tops2 = [label_of(tokenizer, int(i)) for i in b.top_ids]
    export.chart(make_lens_pair_figure(a.top_probs, b.top_probs, tops1, tops2, _=_, title=_(
        "The most likely next token at every layer, after the last token of each text")),
        "compare-lens", ("compare", "last-position"))
    differ = [layer for layer, (x, y) in enumerate(zip(a.top_ids, b.top_ids)) if x != y]
    st.dataframe(pd.DataFrame({_("layer"): np.arange(len(tops1)), _("text 1"): tops1, _("p (text 1)"): a.top_probs,
                               _("text 2"): tops2, _("p (text 2)"): b.top_probs,
                               _("same?"): [x == y for x, y in zip(a.top_ids, b.top_ids)]}), hide_index=True)
    if differ:
        st.caption(_("The two texts' top predictions differ at {count} of {layers} layers (the first at layer "
                     "{first}, the last at layer {last}).").format(count=len(differ), layers=len(tops1),
                                                                   first=differ[0], last=differ[-1]))
    else:
        st.caption(_("Both texts lead to the same top prediction at every layer."))
