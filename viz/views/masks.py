"""The Masks page's parts: the masks a model recorded on the text, an encoder beside a decoder, one
real head's scores masked the wrong way and the right way, and padding in a batch.

Models are found by what they are (their architecture), through the registry, never by name.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import N_, ScopeError, model_shape, spec_of
from core.lessons.mask_experiments import KIND_NAMES, group_masks, padding_check, two_ways
from viz import export, state
from viz.figures.masks import make_mask_figure, make_masking_ways_figure
from viz.loading import cached_model, decoder_reads_text, model_or_error, model_turn, trace_or_error
from viz.state import _
from viz.tokens import axis_labels, labels_for
from viz.views.models import layer_and_head, models_where

CHART = {"displayModeBar": False}
ATTENTION_NAMES = {"self": N_("self-attention"), "encoder": N_("encoder self-attention"),
                   "cross": N_("cross-attention (decoder looks at encoder)")}
PAD_WITH = state.PAD


def _trace(name: str, text: str):
    return trace_or_error(name, text, decoder_reads_text(name, text))


def _labels(name: str, stack) -> list[str]:
    return axis_labels(labels_for(cached_model(name).tokenizer, stack.token_ids))


def _shape_name(shape) -> str:
    return _(KIND_NAMES[shape.kind]).format(window=(shape.window or 1) - 1)


# ---------------------------------------------------------------- the model's own masks


def layer_ranges(layers: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0–2, 5, 7–8": thirty layers stay one short title."""
    runs: list[list[int]] = []
    for layer in layers:
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs)


def model_masks_section(name: str, text: str) -> None:
    trace = _trace(name, text)
    if trace is None:
        return
    stacks = [("self", trace.stack, trace.stack, "self_attn")]
    if trace.encoder is not None:
        stacks = [("encoder", trace.encoder, trace.encoder, "self_attn"), *stacks,
                  ("cross", trace.stack, trace.encoder, "cross_attn")]
    sliding = False
    for kind, queries, keys, field in stacks:
        groups = group_masks([getattr(layer, field).mask for layer in queries.layers])
        for group in groups:
            sliding |= group.shape.kind == "sliding"
            layers = layer_ranges(group.layers)
            title = _("{attention}, layers {layers}").format(attention=_(ATTENTION_NAMES[kind]), layers=layers)
            export.chart(make_mask_figure(group.mask, _labels(name, queries), _labels(name, keys), title=title,
                                          rule=_shape_name(group.shape), _=_),
                         key=f"mask-{kind}-{group.layers[0]}", config=CHART)
    if not sliding:
        st.caption(_("No layer of this model uses a sliding window. Models that do (Mistral, Gemma) let each token "
                     "see only the last few thousand tokens in some layers; such a layer's mask shows here as a band."))


# ---------------------------------------------------------------- encoder beside decoder


def encoder_and_decoder_section(text: str, preferred: str) -> None:
    encoders = models_where(lambda c: c.architecture == "encoder", preferred)
    decoders = models_where(lambda c: c.architecture == "decoder", preferred)
    chosen = encoders[:1] + decoders[:1]
    for column, name in zip(st.columns(max(len(chosen), 1)), chosen):
        with column:
            trace = _trace(name, text)
            if trace is None:
                continue
            mask = trace.layers[0].self_attn.mask
            labels = _labels(name, trace.stack)
            kind = _("encoder") if trace.architecture == "encoder" else _("decoder")
            export.chart(make_mask_figure(mask, labels, labels, _=_, title=f"{kind}: {_(spec_of(name).title)}"),
                            key=f"pair-{name}", config=CHART)
            seen = int(mask[-1].sum()), int(mask[0].sum())
            st.caption(_("The first token sees {first} token(s), the last {last}.").format(first=seen[1], last=seen[0]))


# ---------------------------------------------------------------- the wrong way and the right way


@st.fragment
def ways_section(name: str, text: str) -> None:
    """Its layer and head rerun this section alone: the rest of the page does not depend on them."""
    trace = _trace(name, text)
    if trace is None:
        return
    config = model_shape(name)[0]
    layer, head = layer_and_head(name, config)
    if not spec_of(name).trained:
        st.caption(_("This model is untrained: these are real computations on random weights."))
    record = trace.layers[layer].self_attn
    ways = two_ways(record.scores[head], record.mask)
    labels = _labels(name, trace.stack)
    title = _("{model}, layer {layer}, head {head}: its recorded scores QKᵀ/√d_k, masked two ways").format(
        model=_(spec_of(name).title), layer=layer, head=head)
    export.chart(make_masking_ways_figure(ways.wrong, ways.right, ways.allowed, ways.leaked, labels, labels,
                                             title=title, _=_), key="mask-ways", config=CHART)
    worst = ways.worst_row
    row = st.container(horizontal=True)
    row.metric(_("Leaked weight, all rows"), f"{ways.total_leaked:.3f}", width="content",
               help=_("Each row is one query's 100%: the sum over rows of the weight the wrong way puts on masked keys."))
    row.metric(_("Worst row"), f"{ways.leaked[worst]:.1%}", width="content",
               help=_("The query “{token}”").format(token=labels[worst]))
    row.metric(_("Right way, on masked keys"), f"{ways.right_leak:.1f}", width="content")
    gap = float(abs(ways.right - record.probs[head]).max())
    st.caption(_("The first query may see only itself, so the wrong way gives it e^s / (e^s + {masked}·e⁰) with "
                 "s its own score: {share:.1%} is left for itself. The right way equals the weights the model recorded "
                 "to {gap:.1e} (float16 rounding).").format(masked=int((~ways.allowed[0]).sum()),
                                                             share=float(ways.wrong[0, 0]), gap=gap))


# ---------------------------------------------------------------- padding


@st.cache_resource(max_entries=32, show_spinner=False)
def padding_numbers(name: str, texts: tuple[str, ...]):
    lm = cached_model(name)
    with model_turn(sum(len(lm.encode(text)[0].ids) for text in texts)):  # five passes over the batch
        return padding_check(lm, texts)


def second_text(text: str) -> str:
    typed = st.text_input(_("A second sentence for the batch"), key=PAD_WITH, bind="query-params",
                          max_chars=state.MAX_TEXT_CHARS, placeholder=_("Empty: the first half of the text"))
    words = text.split()
    return typed or " ".join(words[: max(len(words) // 2, 1)]) or text


def padding_section(text: str, preferred: str) -> None:
    other = second_text(text)
    names = models_where(lambda c: c.architecture in ("encoder", "decoder"), preferred)
    encoders = [n for n in names if model_shape(n)[0].architecture == "encoder"][:1]
    decoders = [n for n in names if model_shape(n)[0].architecture == "decoder"][:1]
    rows, shown = [], None
    for name in dict.fromkeys(names[:1] + encoders + decoders):
        if model_or_error(name) is None:
            continue
        try:
            with st.spinner(_("Running the model…")):
                check = padding_numbers(name, (text, other))
        except ScopeError as exc:
            st.info(state.render(exc))
            return
        shown = shown or check
        rows.append({_("model"): _(spec_of(name).title), _("mask"): _("causal") if check.causal else _("none (bidirectional)"),
                     _("padding tokens"): int((~check.key_is_real).sum()),
                     _("max |difference|, padding masked"): f"{check.max_masked:.2g}",
                     _("max |difference|, padding not masked"): f"{check.max_unmasked:.2g}"})
    if shown is None:
        return
    tokenizer = cached_model(shown.model).tokenizer
    short = int(shown.key_is_real.sum(axis=1).argmin())
    labels = axis_labels(labels_for(tokenizer, shown.batch[short]))
    st.dataframe(pd.DataFrame([labels_for(tokenizer, row) for row in shown.batch],
                              index=[_("sentence {n}").format(n=n + 1) for n in range(len(shown.batch))]))
    export.chart(make_mask_figure(shown.allowed[short], labels, labels, padding_keys=~shown.key_is_real[short], _=_,
                                     title=_("{model}: the shorter sentence's mask in the batch").format(
                                         model=_(spec_of(shown.model).title))), key="mask-padding", config=CHART)
    st.dataframe(pd.DataFrame(rows), hide_index=True)
