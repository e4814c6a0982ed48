"""The Head finder's widgets: every head's scores as layer × head grids on the fixed corpus, the strongest heads of
each kind (each opens the Attention page where its behaviour shows), and in-context learning watched.

The scores are measured once per model and process (core/head_scores.py keeps them); the Attention page reads them
only once they are known (viz/head_roles.py), so that it never waits for them.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core import MODELS, N_, model_shape, spec_of
from core.lessons import in_context as icl
from core.lessons.head_scores import (
    HAN,
    KINDS,
    REPEATED_KINDS,
    ROLE_THRESHOLDS,
    SINK_THRESHOLD,
    SINK_TOKENS,
    Corpus,
    ModelScores,
    known_model_scores,
    model_scores,
)
from viz import catalog, export, frame, state, url
from viz.attention_sources import ONE_HEAD, RANKED_FOR
from viz.figures.head_scores import (
    grid_cell,
    make_head_score_grid_figure,
    make_induction_stripe_figure,
    make_pass_loss_figure,
    make_word_use_figure,
)
from viz.loading import model_turn
from viz.markdown import markdown_literal
from viz.state import _
from viz.tokens import labels_for

KIND_NAMES = {"previous_token": N_("previous token"), "duplicate_token": N_("duplicate token"),
              "induction": N_("induction"), "self": N_("self"), "first_token": N_("first token (sink)"),
              "entropy": N_("entropy (bits)")}
KIND_RULES = {
    "previous_token": N_("The share of a head's attention that goes from each token to the one just before it."),
    "duplicate_token": N_("The share that goes from each token to an earlier occurrence of the same token."),
    "induction": N_("The share that goes from each token to the token after an earlier occurrence of it: what came "
                    "next last time, about to be copied."),
    "self": N_("The share that goes from each token to itself."),
    "first_token": N_("The share that goes to the first token, the mean weight α of Gu et al.: a head is an attention "
                      "sink when α > 0.3 on sequences of 64 tokens."),
    "entropy": N_("How spread each row is, in bits, averaged over the rows: 0 is one key only; log₂ 64 = 6 is every "
                  "key alike. The darkest cells are the sharpest heads."),
}
TOP = 5  # strongest heads listed per kind
MOST_OFF = state.MAX_ICL_OFF  # induction heads the in-context section may switch off
SCORE_KEY, OFF_KEY = state.HEAD_SCORE, state.ICL_OFF
OPEN = "_head_finder_open"  # set by a click: the page opens the Attention page before it draws anything


# ---------------------------------------------------------------- the scores, measured once per model


def measured(lm) -> ModelScores:
    """Every score of the model on its fixed corpus: kept once measured, else measured now (seconds)."""
    known = known_model_scores(lm)
    if known is not None:
        return known
    with model_turn(), st.spinner(_("Measuring every head on the fixed corpus (once per server, a few seconds)…")):
        return model_scores(lm)


def _example(corpus: Corpus, kind: str) -> str:
    """A text where a head of `kind` shows its behaviour: the repeated random tokens, or a lesson paragraph in the
    session's language where the corpus has one."""
    if kind in REPEATED_KINDS:
        return corpus.repeated[0].text
    chinese = [text for text, _ids in corpus.lesson if HAN.search(text)]
    return chinese[0] if state.language() == "zh" and chinese else corpus.lesson[0][0]


def _open_attention(layer: int, head: int, text: str) -> None:
    """A callback: the Attention page, on `text`, at this layer and head (the page then switches to it)."""
    url.forget_view()
    state.set_text(text)
    state.set_text2(None)
    st.session_state[state.LAYER], st.session_state[state.HEAD] = layer, head
    st.session_state[state.HEAD_MODE] = ONE_HEAD
    st.session_state.pop(RANKED_FOR, None)  # no ranking of the new text may choose another head
    st.session_state[OPEN] = True


def follow_open() -> None:
    """Where a click asked for a head, open the Attention page (before this page draws anything)."""
    if st.session_state.pop(OPEN, False):
        st.switch_page(catalog.BY_ID["attention"].script, query_params={state.LANG: state.language()})


def _open_cell(chart_key: str, scores: ModelScores, kind: str) -> None:
    points = st.session_state[chart_key]["selection"]["points"]
    n_layers, n_heads = scores.scores[kind].shape
    cell = grid_cell(points[0]["x"], points[0]["y"], n_layers, n_heads) if points else None
    if cell is not None:
        _open_attention(*cell, _example(scores.corpus, kind))


# ---------------------------------------------------------------- the grids


def _kind() -> str:
    state.settle_choice(SCORE_KEY, KINDS, "induction")
    kind = st.segmented_control(_("Score"), KINDS, key=SCORE_KEY, format_func=partial(_kind_name, state.translator()))
    kind = kind or "induction"
    state.link(SCORE_KEY, kind, "induction")
    return kind


def _kind_name(translate, kind: str) -> str:
    return translate(KIND_NAMES[kind])


def corpus_section(scores: ModelScores) -> None:
    corpus = scores.corpus
    repeated = corpus.repeated[0]
    st.markdown(_("**The fixed corpus.** Previous token, duplicate token and induction: {count} sequences of {n} "
                  "random tokens of the vocabulary, each written twice ({t} tokens), where copying cannot come from "
                  "memorised text. Self, first token and entropy: the first {window} tokens of {texts} lesson "
                  "paragraphs, in English and Chinese.").format(
        count=len(corpus.repeated), n=repeated.length, t=len(repeated.ids), window=SINK_TOKENS,
        texts=len(corpus.lesson)))
    with st.expander(_("The first random sequence")):
        st.code(repeated.text, language=None, wrap_lines=True)


def grid_section(scores: ModelScores) -> None:
    kind = _kind()
    values = scores.scores[kind]
    st.caption(_(KIND_RULES[kind]))
    title = _("{score} score of every head, on {corpus}").format(
        score=_(KIND_NAMES[kind]), corpus=_("repeated random tokens") if kind in REPEATED_KINDS
        else _("the lesson texts"))
    figure = make_head_score_grid_figure(values, title=title, lower_is_stronger=kind == "entropy",
                                         _=state.translator())
    export.chart(figure, key="head-grid", parts=(kind,), width="content", selection_mode="points",
                 on_select=partial(_open_cell, "head-grid", scores, kind))
    st.caption(_("Click a head to open it on the Attention page, on a text where its behaviour shows."))
    if kind == "first_token":
        st.info(_("**{share:.0%}** of the heads are attention sinks on the first token (α > {threshold} at T = "
                  "{t}: Gu et al., ICLR 2025).").format(share=scores.sink_rate, threshold=SINK_THRESHOLD,
                                                        t=SINK_TOKENS))
    _strongest_buttons(scores, kind)


def _strongest_buttons(scores: ModelScores, kind: str) -> None:
    st.caption((_("The {count} sharpest heads (lowest entropy), one click each:") if kind == "entropy" else
                _("The {count} strongest heads by this score, one click each:")).format(count=TOP))
    row = st.container(horizontal=True)
    for layer, head, value in scores.strongest(kind, TOP):
        row.button(_("L{layer}·h{head}: {value:.2f}").format(layer=layer, head=head, value=value),
                   key=f"strongest-{kind}-{layer}-{head}", on_click=_open_attention,
                   args=(layer, head, _example(scores.corpus, kind)))


def strongest_table(scores: ModelScores) -> None:
    """Every kind's strongest heads in one table (entropy's sharpest)."""
    rows = {_(KIND_NAMES[kind]): [_("L{layer}·h{head}: {value:.2f}").format(layer=layer, head=head, value=value)
                                  for layer, head, value in scores.strongest(kind, TOP)] for kind in KINDS}
    frame.table(pd.DataFrame(rows, index=range(1, TOP + 1)).T)


# ---------------------------------------------------------------- in-context learning


def _script(name: str) -> str:
    """Random Chinese characters for a model that reads Chinese, random English words otherwise."""
    return "han" if "zh" in spec_of(name).languages else "words"


@st.cache_resource(show_spinner=False, max_entries=32)
def _watch(name: str, off: tuple, watched: tuple, script: str, _lm) -> icl.RepeatWatch:
    with model_turn():
        return icl.watch_repeat(_lm, off, watched, script=script)


@st.cache_resource(show_spinner=False, max_entries=32)
def _word(name: str, language: str, off: tuple, _lm) -> icl.WordUse:
    with model_turn():
        return icl.made_up_word(_lm, *icl.MADE_UP_WORDS[language], off)


def _heads_off(ranked: list[tuple[int, int, float]]) -> int:
    """The slider of how many of the strongest induction heads to switch off; by default those with the role."""
    default = max(1, sum(value > ROLE_THRESHOLDS["induction"] for _l, _h, value in ranked))
    if st.session_state.get(OFF_KEY) is None:
        raw = st.query_params.get(OFF_KEY)
        st.session_state[OFF_KEY] = min(int(raw), MOST_OFF) if raw is not None and raw.isdigit() else default
    return st.slider(_("Induction heads switched off (the strongest first)"), 0, MOST_OFF, key=OFF_KEY,
                     bind="query-params")


def _head_names(heads) -> list[str]:
    return [_("layer {layer}, head {head}").format(layer=layer, head=head) for layer, head in heads]


def in_context_section(lm, scores: ModelScores) -> None:
    ranked = scores.strongest("induction", MOST_OFF)
    count = _heads_off(ranked)
    off = tuple((layer, head) for layer, head, _v in ranked[:count])
    watched = tuple((layer, head) for layer, head, _v in ranked[:TOP])
    with st.spinner(_("Running the model with and without the induction heads…")):
        watch = _watch(lm.name, off, watched, _script(lm.name), lm)
    plain, ablated = watch.plain, watch.ablated
    left, middle, right = st.columns(3)
    left.metric(_("Mean loss, first pass"), f"{plain.first_mean:.2f}")
    middle.metric(_("Mean loss, second pass"), f"{plain.second_mean:.2f}",
                  f"{plain.second_mean - plain.first_mean:+.2f}", delta_color="inverse")
    right.metric(_("Second pass, {count} heads off").format(count=count), f"{ablated.second_mean:.2f}",
                 f"{ablated.second_mean - plain.second_mean:+.2f}", delta_color="inverse")
    export.chart(make_pass_loss_figure(plain.first, plain.second, first_ablated=ablated.first if off else None,
                                       second_ablated=ablated.second if off else None, heads_off=count,
                                       title=_("Loss along the two passes (nats)"), _=state.translator()),
                 key="icl-passes")
    if off:
        st.markdown(_("Switching off the {count} strongest induction heads ({heads}) moves the second pass's mean "
                      "loss from **{before:.2f}** to **{after:.2f}** nats ({change:+.2f}); the first pass, which has "
                      "nothing to copy, moves from {first:.2f} to {first_off:.2f}.").format(
            count=count, heads=", ".join(_head_names(off)), before=plain.second_mean, after=ablated.second_mean,
            change=ablated.second_mean - plain.second_mean, first=plain.first_mean, first_off=ablated.first_mean))
    repeated = watch.repeated
    tokens = labels_for(lm.tokenizer, repeated.ids[repeated.start + repeated.length:])
    export.chart(make_induction_stripe_figure(watch.stripe, _head_names(watched), tokens, _=state.translator(),
                                              title=_("From each second-pass token to the token after its first "
                                                      "occurrence")), key="icl-stripe")
    st.button(_("Open the strongest induction head on this sequence"), key="icl-open", on_click=_open_attention,
              args=(*watched[0], repeated.text))
    with st.expander(_("The sequence, written twice")):
        st.code(repeated.text, language=None, wrap_lines=True)
    word_section(lm, off, count)


def word_section(lm, off: tuple, count: int) -> None:
    st.subheader(_("The same on text: a made-up word, defined once"))
    chinese = state.language() == "zh" and "zh" in spec_of(lm.name).languages
    with st.spinner(_("Running the model with and without the induction heads…")):
        use = _word(lm.name, "zh" if chinese else "en", off, lm)
    st.markdown(_("The text: “{text}” The made-up word is **{word}**.").format(
        text=markdown_literal(use.text), word=markdown_literal(use.word)))
    pieces = labels_for(lm.tokenizer, use.piece_ids)
    export.chart(make_word_use_figure(pieces, use.first, use.second, use.second_ablated if off else None,
                                      heads_off=count, title=_("Loss of each of the word's tokens"),
                                      _=state.translator()), key="icl-word")
    if len(pieces) > 1:
        message = _("After its first token, the word costs **{first:.2f}** nats a token at its first use and "
                    "**{second:.2f}** at its second.").format(first=use.later_pieces(use.first),
                                                              second=use.later_pieces(use.second))
        if off:
            message += " " + _("With the {count} induction heads off: **{ablated:.2f}**.").format(
                count=count, ablated=use.later_pieces(use.second_ablated))
        st.markdown(message)


def not_a_decoder(name: str) -> None:
    st.info(_("Head scores are measured on decoder-only models, which read left to right; {model} is not one. "
              "Choose a decoder in the sidebar.").format(model=_(spec_of(name).title)))
    for other in [n for n, spec in MODELS.items() if spec.available() and model_shape(n)[0].architecture == "decoder"]:
        st.button(_("Switch to {model}").format(model=_(spec_of(other).title)), key=f"switch-{other}",
                  on_click=state.set_model, args=(other,))
