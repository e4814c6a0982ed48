"""The Encoder–decoder page's parts: source beside target, the three kinds of attention, decoding step by step
from `<s>`, and teacher forcing beside free running.

Decodings are cached per (model, source) and (model, source, target), a bounded number of each: a step, a
layer or a head read stored numbers and never run the model again. Each picker and its figure is a fragment.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import N_, ScopeError
from core.lessons.decoding import (
    Decoding,
    first_difference,
    greedy_decode,
    reference_translation,
    target_ids,
    teacher_forced,
    unknown_target_words,
)
from core.lessons.head_ranking import alignment_head
from viz import export, state
from viz.attention_sources import attention_sources
from viz.figures.attention import make_attention_heatmap_figure
from viz.figures.distribution import make_distribution_figure
from viz.markdown import markdown_literal
from viz.state import _, render
from viz.tokens import axis_labels, labels_for
from viz.views.models import index_slider

KINDS = {"encoder": N_("Encoder self-attention (both directions)"), "self": N_("Decoder masked self-attention"),
         "cross": N_("Cross-attention (decoder queries × encoder keys)")}
KIND_NOTES = {
    "encoder": N_("Every source word sees every other, before and after it: nothing is masked."),
    "self": N_("Each target position sees itself and the positions before it; the future is masked (grey)."),
    "cross": N_("Rows are the decoder's positions, columns the source words. Each row predicts the *next* English "
                "word, so it looks at the source word it is about to translate."),
}
TOP = 8  # candidates shown for the next word
CACHED = 64  # decodings kept per process


@st.cache_resource(show_spinner=False, max_entries=CACHED)
def free_running(name: str, text: str, _lm) -> Decoding:
    return greedy_decode(_lm, text)


@st.cache_resource(show_spinner=False, max_entries=CACHED)
def forced(name: str, text: str, target: tuple[int, ...], _lm) -> Decoding:
    return teacher_forced(_lm, text, target)


def translation_or_message(lm, text: str) -> Decoding | None:
    """The model's own greedy decoding of `text`, or None after the core's message (unknown words named)."""
    try:
        with st.spinner(_("Translating…")):
            return free_running(lm.name, text, lm)
    except ScopeError as exc:
        st.info(render(exc))
        return None


def _words(labels) -> str:
    return " ".join(f"`{label}`" if label.strip() and "`" not in label else markdown_literal(label)
                    for label in labels)


def source_and_target(lm, text: str, free: Decoding, trained: bool) -> tuple[int, ...]:
    """The source's tokens beside the target field; returns the target's ids (without `<s>` and `</s>`):
    what is typed, else the model's own translation (an untrained model's: the task's reference if known)."""
    tokenizer = lm.tokenizer
    translation = tokenizer.decode(list(free.output_ids), skip_special_tokens=True)
    left, right = st.columns(2)
    with left:
        st.markdown(_("**Source**, read whole by the encoder:") + " " + _words(labels_for(tokenizer, free.source_ids)))
        st.markdown(_("**The model's translation**, written word by word from `<s>`:") + " "
                    + (markdown_literal(translation) if translation.strip() else _("(nothing)")))
    if st.session_state.get(state.TARGET_FOR) not in (None, text) and st.session_state.get(state.TARGET):
        st.session_state[state.TARGET] = ""  # a target typed for another source
    st.session_state[state.TARGET_FOR] = text
    with right:
        typed = st.text_input(_("Target: what the decoder reads"), key=state.TARGET, bind="query-params",
                              max_chars=state.MAX_TARGET_CHARS,
                              placeholder=_("Empty: the model's own translation"))
    reference = None if trained else reference_translation(text)
    if typed:
        ids = target_ids(lm, typed)
        unknown = unknown_target_words(lm, typed)
        if unknown:
            right.warning(_("The vocabulary has no {words}: the decoder reads each as an unknown word.").format(
                words=", ".join(f"“{markdown_literal(w)}”" for w in unknown)))
    elif reference is not None:
        ids = target_ids(lm, reference)
        right.caption(_("An untrained model's own output is noise: the target here is the task's reference "
                        "translation, “{text}”.").format(text=markdown_literal(reference)))
    else:
        ids = free.output_ids
    right.markdown(_("The decoder reads the target shifted right by one, `<s>` first:") + " "
                   + _words(labels_for(tokenizer, (tokenizer.bos_id, *ids))))
    return tuple(ids)


@st.fragment
def attention_maps(trace, tokenizer) -> None:
    """Encoder self-attention, decoder masked self-attention or cross-attention of one layer and head."""
    sources = attention_sources(trace, tokenizer)
    kinds = [kind for kind in KINDS if kind in sources]
    state.settle_choice(state.ATTENTION, kinds, "cross")
    kind = st.radio(_("Which attention"), kinds, key=state.ATTENTION, horizontal=True,
                    format_func=lambda kind, translate=state.translator(): translate(KINDS[kind]))
    state.link(state.ATTENTION, kind, "cross")
    source = sources[kind]
    aligned = _open_alignment_head(sources)
    left, right = st.columns(2)
    with left:
        layer = index_slider(_("Layer"), state.LAYER, source.n_layers, trace.model)
    with right:
        head = index_slider(_("Head"), state.HEAD, source.n_heads, trace.model)
    if (layer, head) == aligned:
        st.caption(_("Layer {layer}, head {head} aligns best on this sentence: of all heads, its rows look most "
                     "sharply at different source words (measured).").format(layer=layer, head=head))
    record = source.records[layer]
    weights = np.asarray(record.head_probs(head), dtype=np.float32)
    title = _("{kind}, layer {layer}, head {head}").format(kind=_(KINDS[kind]), layer=layer, head=head)
    export.show(make_attention_heatmap_figure(weights, np.asarray(record.mask, dtype=bool),
                                              axis_labels(source.queries), axis_labels(source.keys),
                                              title=title, _=state.translator()), key="encdec-heatmap")
    st.caption(_(KIND_NOTES[kind]))


def _open_alignment_head(sources) -> tuple[int, int] | None:
    """The cross-attention head that best aligns the sentences (core.lessons.head_ranking.alignment_head), opened where
    neither the person nor the link chose a layer or a head: a first visit, the lesson path."""
    cross = sources.get("cross")
    if cross is None:
        return None
    aligned = alignment_head([record.probs for record in cross.records], cross.sink_keys)
    if not any(key in st.session_state or key in st.query_params for key in (state.LAYER, state.HEAD)):
        st.session_state[state.LAYER], st.session_state[state.HEAD] = aligned
    return aligned


def _clamped(count: int) -> int:
    """The step shown, counted from 1 as the text says it, clamped into 1 … count."""
    value = st.session_state.get(state.DECODE_STEP, st.query_params.get(state.DECODE_STEP, 1))
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = 1
    st.session_state[state.DECODE_STEP] = min(max(value, 1), count)
    return st.session_state[state.DECODE_STEP]


def _move(delta: int, count: int) -> None:
    st.session_state[state.DECODE_STEP] = min(max(_clamped(count) + delta, 1), count)


def _step_control(count: int) -> int:
    """◀, a slider of steps (1 … count, in the URL) and “Next word”; returns the step's index from 0."""
    value = _clamped(count)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.button("◀", key="dstep-previous", help=_("Previous"), on_click=_move, args=(-1, count), disabled=value == 1)
    if count > 1:
        row.slider(_("Decoding step"), 1, count, key=state.DECODE_STEP, bind="query-params")
    row.button(_("Next word ▶"), key="dstep-next", on_click=_move, args=(1, count), disabled=value == count,
               type="primary")
    return value - 1


def cross_rows(step, source_labels, n_heads: int, translate):
    """Every layer's and head's cross-attention row of one step, as one (layers × heads, S) heat map."""
    layers = step.cross.shape[0]
    rows = step.cross.reshape(layers * n_heads, -1)
    names = [_("layer {layer}, head {head}").format(layer=layer, head=head)
             for layer in range(layers) for head in range(n_heads)]
    return make_attention_heatmap_figure(rows, np.ones(rows.shape, dtype=bool), names, source_labels,
                                         title=_("Where the last position looks in the source"), _=translate)


@st.fragment
def decoding_steps(lm, free: Decoding) -> None:
    """One step of free-running decoding: the input so far, its cross-attention rows, the next word."""
    tokenizer, translate = lm.tokenizer, state.translator()
    count = len(free.steps)
    index = _step_control(count)
    step = free.steps[index]
    read, chosen = labels_for(tokenizer, step.inputs), labels_for(tokenizer, [step.next_id])[0]
    st.markdown(_("**Step {step} of {count}.** The decoder has read {tokens}; it writes **{word}** "
                  "(p = {p:.2f}).").format(step=index + 1, count=count, tokens=_words(read),
                                           word=markdown_literal(chosen), p=float(step.probs[step.next_id])))
    if free.finished and index == count - 1:
        st.success(_("`</s>`: the translation is finished."))
    elif index == count - 1:
        st.warning(_("The decoder never wrote `</s>`: it stopped after {count} steps.").format(count=count))
    left, right = st.columns(2)
    source_labels = axis_labels(labels_for(tokenizer, free.source_ids))
    export.show(cross_rows(step, source_labels, lm.config.n_heads, translate), key="encdec-step-cross", where=left)
    probs = step.probs
    top = np.argsort(-probs)[:TOP]
    export.show(make_distribution_figure(
        axis_labels(labels_for(tokenizer, top.tolist())), probs[top], step.logits[top],
        title=_("The next word after {token}").format(token=read[-1]), _=translate), key="encdec-step-next", where=right)


def _label(tokenizer, token_id: int) -> str:
    return "" if token_id < 0 else labels_for(tokenizer, [token_id])[0]


def forcing(lm, text: str, target: tuple[int, ...], free: Decoding) -> None:
    """Teacher forcing on the target beside free running, step by step, and where they part."""
    tokenizer = lm.tokenizer
    teacher = forced(lm.name, text, target, lm)
    rows = []
    for index in range(max(len(teacher.steps), len(free.steps))):
        row = {_("Step"): index + 1, **dict.fromkeys((_("Teacher forcing reads"), _("… predicts"), _("Reference next"),
                                                      _("p(reference)"), _("Free running reads"), _("… writes")), "")}
        if index < len(teacher.steps):
            step = teacher.steps[index]
            row |= {_("Teacher forcing reads"): _label(tokenizer, step.inputs[-1]),
                    _("… predicts"): _label(tokenizer, step.predicted),
                    _("Reference next"): _label(tokenizer, step.next_id),
                    _("p(reference)"): f"{float(step.probs[step.next_id]):.3f}" if step.next_id >= 0 else ""}
        if index < len(free.steps):
            step = free.steps[index]
            row |= {_("Free running reads"): _label(tokenizer, step.inputs[-1]),
                    _("… writes"): _label(tokenizer, step.next_id)}
        rows.append(row)
    st.dataframe(rows, hide_index=True)
    part = first_difference(teacher, free)
    if part is None:
        st.info(_("Both decoders read the same words at every step: the target is the model's own translation. "
                  "Change one word of the target above and watch them part."))
    else:
        own = free.steps[part].inputs[-1] if part < len(free.steps) else None
        ref = teacher.steps[part].inputs[-1] if part < len(teacher.steps) else None
        st.info(_("From step {step} on they read different words: teacher forcing reads “{reference}” from the "
                  "target, free running its own “{own}”. Teacher forcing keeps to the target whatever the model "
                  "predicted; free running follows its own choices.").format(
            step=part + 1, reference=markdown_literal(_label(tokenizer, ref) if ref is not None else "—"),
            own=markdown_literal(_label(tokenizer, own) if own is not None else "—")))
    losses = [-np.log(max(float(s.probs[s.next_id]), 1e-12)) for s in teacher.steps if s.next_id >= 0]
    if losses:
        st.caption(_("Teacher forcing's loss on this pair, as training measures it (mean −ln p of each "
                     "reference word and of `</s>`): {loss:.3f}").format(loss=float(np.mean(losses))))
