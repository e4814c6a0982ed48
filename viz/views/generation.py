"""The Next-token page's parts: the sampling playground, the pre-training loss, and step-by-step generation.

Sampling controls are widgets with keys, so the generation buttons read the same
settings the playground shows. The generated continuation lives in session state
under the `gen_*` keys, and starts over when the model or the shared text changes.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st

from core import N_, InputError
from core.runtime.generation import (
    GenerationCache,
    Sampling,
    Unfinished,
    filter_distribution,
    softmax,
    step_rng,
    unfinished_character,
)
from viz import export, frame, state
from viz.figures.distribution import make_distribution_figure, make_token_loss_figure
from viz.i18n import Translate, identity
from viz.loading import model_turn
from viz.state import _, render
from viz.tokens import LOSS_CEILING_NATS, candidate_label, candidate_note, label_of, labels_for, loss_text_html, open_bytes

TEMPERATURE_KEY, TOP_K_KEY, TOP_P_KEY, SEED_KEY = state.TEMPERATURE, state.TOP_K, state.TOP_P, state.SEED
BARS_KEY, DECODING_KEY, STEPS_KEY = "nt_bars", "nt_decoding", "nt_steps"
GEN_PROMPT, GEN_MODEL, GEN_IDS, GEN_START, GEN_LAST = "gen_prompt", "gen_model", "gen_ids", "gen_start", "gen_last"
# The keys and values of what the continuation has read: each click reads one new token, not the whole text.
GEN_CACHE = "gen_cache"
GENERATION = "nt-generation"  # the generation's fragment: a click in it reruns it alone, never the page around it
GREEDY, SAMPLE = N_("Greedy (most likely)"), N_("Sample")
LOSS_BARS_MAX = 40  # beyond this many tokens the per-token loss is coloured text, not bars

# Source article 002's three-word example: the logits are its input, the rounded probabilities its claim.
THREE_WORDS = ("apple", "banana", "cherry")
THREE_WORD_LOGITS = np.array([2.5, 1.0, -0.5], dtype=np.float32)
SEED_ROUNDED = (0.8, 0.18, 0.02)

PROMPT_STYLE = "background:#f1f3f6;border:1px solid #ccd;"
GENERATED_STYLE = "background:#ffe08a;border:1px solid #d4a017;font-weight:600;"
UNFINISHED_STYLE = "background:#fff7d6;border:1px dashed #d4a017;"


def current_sampling() -> Sampling:
    """The settings of the sampling widgets (their defaults before they are first drawn)."""
    get = st.session_state.get
    top_p = float(get(TOP_P_KEY, 1.0))
    return Sampling(greedy=get(DECODING_KEY, GREEDY) == GREEDY, temperature=float(get(TEMPERATURE_KEY, 1.0)),
                    top_k=int(get(TOP_K_KEY, 0)) or None, top_p=None if top_p >= 1.0 else top_p,
                    seed=int(get(SEED_KEY, 0)))


def _sampling_controls() -> None:
    st.latex(r"p_i = \mathrm{softmax}(z/T)_i = \frac{e^{z_i/T}}{\sum_j e^{z_j/T}}")
    left, middle, right, bars = st.columns([3, 2, 3, 2])
    left.slider(_("Temperature T"), 0.05, 5.0, 1.0, 0.05, key=TEMPERATURE_KEY, bind="query-params",
                help=_("Below 1 sharpens the distribution (T → 0 is greedy); above 1 flattens it."))
    middle.number_input(_("top-k (0 = off)"), 0, 1000, 0, key=TOP_K_KEY, bind="query-params",
                        help=_("Keep only the k most likely tokens."))
    right.slider(_("top-p (1 = off)"), 0.05, 1.0, 1.0, 0.05, key=TOP_P_KEY, bind="query-params",
                 help=_("Keep the fewest most likely tokens whose probabilities add up to at least p."))
    bars.slider(_("Bars shown"), 5, 30, 12, key=BARS_KEY)


def distribution_chart(tokenizer, logits: np.ndarray, sampling: Sampling, title: str, key: str,
                       context: bytes = b"") -> None:
    """The most likely tokens: probabilities at temperature T, logits, and which survive top-k/top-p.
    `context`: the text's open bytes, where it ends inside a character (a candidate may finish it).
    The probability axis reaches at least what the top token gets at T = 1 (the model's own distribution),
    whatever T is now: above 1 the axis stays put and a class sees the bars flatten; below 1 it grows with the
    top bar, and the others shrink beside it."""
    filtered = filter_distribution(logits, sampling)
    shown = np.argsort(-logits, kind="stable")[: int(st.session_state.get(BARS_KEY, 12))]
    labels = [candidate_label(tokenizer, int(i), context) for i in shown]
    notes = [candidate_note(tokenizer, int(i), context, _) for i in shown]
    export.chart(make_distribution_figure(labels, filtered.probs[shown], logits[shown], filtered.kept[shown],
                                          filtered.renormalised[shown], title=title, notes=notes,
                                          axis_top=float(softmax(logits).max()), _=_), key=key)
    if not filtered.kept.all():
        st.caption(_("{kept:,} of {count:,} tokens survive top-k / top-p. Grey bars are removed; the red outlines "
                     "show the survivors' probabilities renormalised to sum to 1.").format(
            kept=int(filtered.kept.sum()), count=logits.size))


def three_word_example(sampling: Sampling) -> None:
    st.subheader(_("The source article's three-word vocabulary"))
    exact, at_t = softmax(THREE_WORD_LOGITS), filter_distribution(THREE_WORD_LOGITS, sampling)
    st.dataframe(pd.DataFrame({
        _("token"): THREE_WORDS, "logit z": THREE_WORD_LOGITS, _("source article's figure"): SEED_ROUNDED,
        _("exact softmax(z)"): exact.round(4), f"softmax(z / {sampling.temperature:g})": at_t.probs.round(4),
    }), hide_index=True)
    st.markdown(_(
        "The exact probabilities are **{apple:.3f}, {banana:.3f}, {cherry:.3f}**. The source article's "
        "[0.8, 0.18, 0.02] is an illustration: 0.8 and 0.18 round the first two fairly, but *cherry* really gets "
        "{cherry:.3f}, "
        "{ratio:.1f}× the source article's 0.02 (two decimals would give {cherry:.2f})."
    ).format(apple=exact[0], banana=exact[1], cherry=exact[2], ratio=exact[2] / SEED_ROUNDED[2]))
    export.chart(make_distribution_figure(
        THREE_WORDS, at_t.probs, THREE_WORD_LOGITS, at_t.kept, at_t.renormalised, _=_,
        title=_("apple / banana / cherry at T = {t:g}").format(t=sampling.temperature)), key="nt_three_words")


@st.fragment
def sampling_playground(tokenizer, logits: np.ndarray | None, context: str) -> None:
    """Controls and charts; moving a slider reruns only this fragment and never the model."""
    _sampling_controls()
    sampling = current_sampling()
    if logits is not None:
        distribution_chart(tokenizer, logits, sampling, key="nt_distribution",
                           title=_("Next token after “…{context}”").format(context=context))
    three_word_example(sampling)


def loss_section(tokenizer, trace) -> None:
    """Worked example #14 (docs/worked-examples.md): the pre-training objective, read from the trace's logits."""
    st.subheader(_("How surprised is the model by your text?"))
    if len(trace.token_ids) < 2:
        st.info(_("Type at least two tokens: each one is predicted from those before it."))
        return
    losses = trace.token_losses()
    labels = labels_for(tokenizer, trace.token_ids)[1:]
    st.latex(r"\mathcal{L} = -\frac{1}{T-1}\sum_{t=1}^{T-1} \ln p(x_{t+1} \mid x_1, \dots, x_t)")
    if len(labels) <= LOSS_BARS_MAX:
        export.chart(make_token_loss_figure(labels, losses.probability, losses.loss, _=_), key="nt_losses")
    else:
        st.html(loss_text_html(labels, losses.probability, losses.loss, _))
        st.caption(_("A long text: each token is tinted by how surprised the model was (−ln p, full red at {ceiling:g} "
                     "nats or more); hover over a token for its numbers.").format(ceiling=LOSS_CEILING_NATS))
    st.caption(_("Each bar is the probability the model gave the token that really came next. Pre-training raises "
                 "these bars on billions of texts; here the average cross-entropy is {loss:.2f} nats (perplexity "
                 "{perplexity:.1f}).").format(loss=losses.mean_loss, perplexity=np.exp(losses.mean_loss)))


def _start(lm, prompt: str) -> bool:
    """Begin a fresh continuation of `prompt` when the model or text changed; False if there is nothing to continue."""
    if st.session_state.get(GEN_PROMPT) == prompt and st.session_state.get(GEN_MODEL) == lm.name:
        return True
    try:
        ids = lm.encode(prompt)[0].ids
    except InputError as exc:
        st.info(render(exc))
        return False
    st.session_state.update({GEN_PROMPT: prompt, GEN_MODEL: lm.name, GEN_IDS: list(ids), GEN_START: len(ids),
                             GEN_LAST: None, GEN_CACHE: GenerationCache()})
    return True


def _restart() -> None:
    st.session_state[GEN_PROMPT] = None


def _advance(lm, steps: int) -> None:
    sampling, ids = current_sampling(), st.session_state[GEN_IDS]
    bar = st.progress(0.0, text=_("Generating {count} tokens…").format(count=steps)) if steps > 1 else None
    for done in range(1, steps + 1):
        try:
            cache = st.session_state[GEN_CACHE]
            with model_turn(len(ids) - len(cache.ids)):  # usually one new token; the whole prompt at first
                step = lm.generate_step(ids, sampling, step_rng(sampling.seed, len(ids)), cache)
        except InputError as exc:
            st.warning(render(exc))
            break
        ids = step.ids
        st.session_state[GEN_IDS], st.session_state[GEN_LAST] = ids, (step, sampling)
        if bar is not None:
            bar.progress(done / steps, text=_("{done} of {count} tokens").format(done=done, count=steps))
        if step.token_id in lm.tokenizer.special_ids:
            st.info(_("The model produced `{token}`, which ends a text; stopped.").format(
                token=label_of(lm.tokenizer, step.token_id)))
            break
    if bar is not None:
        bar.empty()


def _unfinished(tokenizer, ids: list[int], start: int) -> Unfinished | None:
    """The character the generated tokens break off in, if any: its bytes are held back until it is whole."""
    return unfinished_character([tokenizer.token_bytes(i) for i in ids[start:]])


def continuation(tokenizer, prompt: str, ids: list[int], start: int) -> str:
    """The prompt and what was generated after it, as text: a character still being written is left out."""
    generated = ids[start:]
    unfinished = _unfinished(tokenizer, ids, start)
    return prompt + tokenizer.decode(generated[: len(generated) - unfinished.tokens] if unfinished else generated)


def _study(tokenizer) -> None:
    ss = st.session_state
    state.set_text(continuation(tokenizer, ss[GEN_PROMPT], ss[GEN_IDS], ss[GEN_START]))
    st.rerun()  # every page studies the new text: the whole app, not the generation alone


def _open_attention() -> None:
    """A button, not a page link: this fragment may run without the page's navigation around it."""
    st.session_state[frame.GO] = "attention"
    st.rerun()


def _chip(label: str, style: str, css_class: str, title: str) -> str:
    return (f'<span class="{css_class}" title="{html.escape(title, quote=True)}" style="{style}border-radius:4px;'
            f'padding:1px 4px;margin:2px;display:inline-block;font-family:monospace">{html.escape(label)}</span>')


def token_chips(tokenizer, ids: list[int], start: int, _: Translate = identity) -> str:
    """The prompt's tokens plain and the generated ones highlighted, as escaped HTML. Generated tokens that hold
    only the beginning of a character wait, as one dashed chip, until the character is whole."""
    unfinished = _unfinished(tokenizer, ids, start)
    shown = ids[: len(ids) - unfinished.tokens] if unfinished else ids
    chips = [_chip(label, GENERATED_STYLE if position >= start else PROMPT_STYLE,
                   "nt-chip nt-generated" if position >= start else "nt-chip", f"id {token_id}")
             for position, (token_id, label) in enumerate(zip(shown, labels_for(tokenizer, shown)))]
    if unfinished:
        chips.append(_chip("…", UNFINISHED_STYLE, "nt-chip nt-generated nt-unfinished", _unfinished_note(unfinished, _)))
    return f'<div style="line-height:1.9">{"".join(chips)}</div>'


def _unfinished_note(unfinished: Unfinished, _: Translate) -> str:
    return _("A character being written: {count} of its {size} bytes so far ({bytes}); it shows once the rest "
             "are generated.").format(count=len(unfinished.data), size=unfinished.size,
                                      bytes=unfinished.data.hex(" ").upper())


@st.fragment(key=GENERATION)
def generation_section(lm, prompt: str) -> None:
    """A fragment: a click generates a token (about 35 ms with the key/value cache) and reruns this part of the page
    alone, not the playground, the loss chart and the rest around it."""
    st.subheader(_("Generate, one token at a time"))
    if not _start(lm, prompt):
        return
    decoding, seed, steps = st.columns(3)
    decoding.radio(_("Decoding"), (GREEDY, SAMPLE), key=DECODING_KEY, horizontal=True, format_func=state.translator(),
                   help=_("Greedy always gives the same continuation; sampling uses the temperature, top-k and "
                          "top-p above."))
    seed.number_input(_("Seed"), 0, state.MAX_SEED, 0, key=SEED_KEY, disabled=current_sampling().greedy,
                      bind="query-params", help=_("The same seed gives the same sampled continuation."))
    steps.number_input(_("Tokens to generate"), 1, 50, 10, key=STEPS_KEY)
    one, many, restart = st.columns(3)
    if one.button(_("Next token"), key="nt_next", type="primary"):
        _advance(lm, 1)
    if many.button(_("Generate {count}").format(count=st.session_state[STEPS_KEY]), key="nt_generate"):
        _advance(lm, int(st.session_state[STEPS_KEY]))
    restart.button(_("Start over"), key="nt_restart", on_click=_restart)
    ss = st.session_state
    st.html(token_chips(lm.tokenizer, ss[GEN_IDS], ss[GEN_START], _))
    st.caption(_("Grey chips are your text; yellow chips are what the model generated."))
    unfinished = _unfinished(lm.tokenizer, ss[GEN_IDS], ss[GEN_START])
    if unfinished:
        st.caption(_unfinished_note(unfinished, _))
    if ss[GEN_LAST] is not None:
        step, sampling = ss[GEN_LAST]
        before = open_bytes(lm.tokenizer, step.ids[:-1])  # the step may finish a character the one before began
        chosen = candidate_label(lm.tokenizer, step.token_id, before)
        distribution_chart(lm.tokenizer, step.logits, sampling, key="nt_last_step", context=before,
                           title=_("Last step: chose “{token}”").format(token=chosen))
        st.button(_("Study this text on the other pages"), key="nt_study", on_click=_study, args=(lm.tokenizer,))
        st.button(_("Then see what the generated tokens attended to"), key="nt_to_attention", icon="👀",
                  type="tertiary", on_click=_open_attention)
