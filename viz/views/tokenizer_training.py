"""The page on how a tokenizer is learned: the corpus, the merges one by one with their counts, the
sentence after 0, 10, 100, 1,000 merges, and the real models' tokenizers on the same sentence.

Training is cached per (corpus, merges): moving the step slider only reads the stored merges and builds
a small tokenizer from the first k of them."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from core import N_, InputError, spec_of
from core.text import bpe_training as bpe
from viz import export, i18n, state
from viz.figures.bpe import make_merge_curve_figure
from viz.glossary import tokenizer_name
from viz.loading import tokenizer_or_error
from viz.state import _, render
from viz.tokens import MAX_CHIPS, chips_for, chips_html, token_label
from viz.views.controls import settle_index, stepper
from viz.views.models import tokenizer_models

CORPUS_KEY, MERGES_KEY, STEP_KEY = state.CORPUS, state.MERGES, state.STEP
OWN_TEXT_KEY = "bpe_own_text"
LESSON, OWN = "lesson", "own"
SOURCES = {LESSON: N_("The lesson texts (中文 + English)"), OWN: N_("Your own text")}
DEFAULT_STEP = 1
SNAPSHOTS = (0, 10, 100, 1000)
NEARBY = 5  # merges listed before and after the current one
MAX_PASTE_CHARS = 2_000_000  # the text box's own limit; training cuts to bpe.MAX_CORPUS_BYTES with a notice


@st.cache_resource(max_entries=8, show_spinner=False)
def trained(corpus: str, merges: int) -> bpe.TrainedBPE:
    return bpe.train(corpus, merges)


@st.cache_resource(max_entries=32, show_spinner=False)
def sentence_curve(corpus: str, merges: int, sentence: str) -> np.ndarray:
    return trained(corpus, merges).tokens_after_each_merge(sentence)


def symbol(vocabulary_string: str) -> str:
    """A vocabulary string as people read it: " t" as ␣t, a piece of a character as its bytes <E4><B8>."""
    return token_label(bpe.symbol_bytes(vocabulary_string))


@st.cache_data(max_entries=16, show_spinner=False)
def merges_table(corpus: str, merges: int, language: str) -> pd.DataFrame:
    _ = i18n.translator(language)  # cached per language: the session's `_` is not read inside a cache
    result = trained(corpus, merges)
    return pd.DataFrame({
        _("merge"): [m.step for m in result.merges],
        _("left"): [symbol(m.left) for m in result.merges],
        _("right"): [symbol(m.right) for m in result.merges],
        _("new token"): [symbol(m.token) for m in result.merges],
        "id": [m.token_id for m in result.merges],
        _("times seen"): [m.count for m in result.merges],
        _("corpus tokens after"): [m.corpus_tokens for m in result.merges],
    })


# ---------------------------------------------------------------- the corpus


def corpus_controls() -> tuple[str | None, int]:
    """The text to learn from (None when the person has yet to paste one) and how many merges to learn."""
    state.settle_choice(CORPUS_KEY, list(SOURCES), LESSON)
    left, right = st.columns([3, 2])
    source = left.radio(_("Learn from"), list(SOURCES), key=CORPUS_KEY, horizontal=True,
                        format_func=lambda option, translate=state.translator(): translate(SOURCES[option]))
    state.link(CORPUS_KEY, source, LESSON)
    merges = right.select_slider(_("Merges to learn"), bpe.MERGE_CHOICES, value=bpe.DEFAULT_MERGES, key=MERGES_KEY,
                                 bind="query-params",
                                 help=_("The vocabulary will hold the 256 bytes plus one new token per merge."))
    if source == OWN:
        text = st.text_area(_("Paste a text to learn from"), key=OWN_TEXT_KEY, height=150, max_chars=MAX_PASTE_CHARS,
                            help=_("Up to {size:,} KB is used; training takes about a second.").format(
                                size=bpe.MAX_CORPUS_BYTES // 1000))
        if not text:
            st.info(_("Paste a text above (then Ctrl+Enter): a few paragraphs are enough to see the first merges."))
            return None, merges
        return text, merges
    text = bpe.lesson_corpus()
    with st.expander(_("Read the lesson texts")):
        st.text(text)
    return text, merges


def train_or_explain(corpus: str, merges: int) -> bpe.TrainedBPE | None:
    with st.spinner(_("Learning merges…")):
        try:
            result = trained(corpus, merges)
        except InputError as exc:
            st.info(render(exc))
            return None
    for note in result.notes:
        st.warning(render(note))
    row = st.container(horizontal=True)
    row.metric(_("Characters"), f"{result.corpus_chars:,}", width="content")
    row.metric(_("Bytes = tokens before any merge"), f"{result.corpus_bytes:,}", width="content")
    row.metric(_("Words"), f"{result.words:,}", width="content",
               help=_("{count:,} different ones. A merge never crosses from one word into the next.").format(
                   count=result.distinct_words))
    row.metric(_("Merges learned"), f"{result.n_merges:,}", width="content")
    row.metric(_("Corpus tokens after"), f"{result.corpus_tokens(result.n_merges):,}", width="content")
    if result.n_merges < result.requested:
        st.caption(_("Only {count:,} merges could be learned: after them no pair of neighbours occurs {min} times "
                     "or more.").format(count=result.n_merges, min=bpe.MIN_COUNT))
    return result


# ---------------------------------------------------------------- the merges


def _scope(corpus: str, merges: int) -> str:
    return f"{hashlib.sha1(corpus.encode('utf-8', 'replace')).hexdigest()[:12]}-{merges}"


def step_controls(result: bpe.TrainedBPE, corpus: str) -> int:
    """k, the number of merges applied (0 to all of them)."""
    if result.n_merges == 0:
        st.info(_("No pair of neighbouring bytes occurs twice in this text: there is nothing to merge."))
        return 0
    settle_index(STEP_KEY, result.n_merges, min(DEFAULT_STEP, result.n_merges), _scope(corpus, result.requested))
    return stepper(_("Merges applied"), STEP_KEY, result.n_merges,
                   help=_("Step through the merges in the order they were learned."))


def show_step(result: bpe.TrainedBPE, k: int, corpus: str) -> None:
    if k == 0:
        st.markdown(_("**No merge yet.** Every token is one byte: the vocabulary holds the 256 bytes, and the corpus "
                      "has {bytes:,} tokens.").format(bytes=result.corpus_bytes))
    else:
        merge = result.merges[k - 1]
        st.markdown(_("**Merge {step}:** {left} + {right} → {token} (id {id}). The pair stood side by side "
                      "**{count:,}** times in the corpus, more often than any other pair at that moment. Afterwards the "
                      "corpus has {tokens:,} tokens ({share:.0%} of its {bytes:,} bytes).").format(
            step=merge.step, left=_code(symbol(merge.left)), right=_code(symbol(merge.right)),
            token=_code(symbol(merge.token)), id=merge.token_id, count=merge.count, tokens=merge.corpus_tokens,
            share=merge.corpus_tokens / result.corpus_bytes, bytes=result.corpus_bytes))
    table = merges_table(corpus, result.requested, state.language())
    if len(table):
        start = max(k - 1 - NEARBY, 0)
        nearby = table.iloc[start:k + NEARBY]
        st.dataframe(nearby.style.apply(lambda row: ["background-color: #ffe08a" if row.iloc[0] == k else ""
                                                     for _cell in row], axis=1), hide_index=True)
        with st.expander(_("All {count:,} merges").format(count=len(table))):
            st.dataframe(table, hide_index=True)


def _code(text: str) -> str:
    """`text` as a Markdown code span, shown exactly as it is (a span with a backtick needs a longer fence)."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


# ---------------------------------------------------------------- the sentence


def _chips(tokenizer, text: str) -> tuple[int, str]:
    chips = chips_for(tokenizer, text)
    return len(chips), chips_html(chips, _=_)


def sentence_after(result: bpe.TrainedBPE, k: int, text: str, corpus: str) -> None:
    count, markup = _chips(result.tokenizer(k), text)
    st.markdown(_("Merges applied: **{k:,}** · **{count:,}** tokens for {bytes:,} bytes.").format(
        k=k, count=count, bytes=len(text.encode("utf-8"))))
    st.html(markup)
    if count > MAX_CHIPS:
        st.caption(_("The first {shown:,} of {count:,} tokens are drawn; the table lists them all.").format(
            shown=MAX_CHIPS, count=count))
    curve = sentence_curve(corpus, result.requested, text)
    corpus_curve = [result.corpus_tokens(j) for j in range(result.n_merges + 1)]
    export.chart(make_merge_curve_figure(curve, corpus_curve, step=k, _=_,
                                            title=_("Fewer, longer tokens as the merges accumulate")),
                    key="bpe_curve", config={"displayModeBar": False})
    st.subheader(_("After 0, 10, 100 and 1,000 merges"))
    for snapshot in SNAPSHOTS:
        if snapshot > result.n_merges:
            st.caption(_("This training learned only {count:,} merges: no snapshot after {k:,}.").format(
                count=result.n_merges, k=snapshot))
            break
        count, markup = _chips(result.tokenizer(snapshot), text)
        st.markdown(_("**{k:,}** merges · {count:,} tokens").format(k=snapshot, count=count))
        st.html(markup)


def real_tokenizers(text: str) -> None:
    """The same sentence under the tokenizers of the installed trained models."""
    st.header(_("The same sentence, under real tokenizers"))
    st.caption(_("These were trained on corpora many thousands of times larger, with tens of thousands of merges. "
                 "WordPiece is learned in much the same way, but it merges the pair that is frequent relative to its "
                 "two parts (the merge that most raises the likelihood of the corpus), not simply the most frequent."))
    models = tokenizer_models()
    for column, name in zip(st.columns(max(len(models), 1)), models):
        read = tokenizer_or_error(name)
        if read is None:
            continue
        with column:
            st.subheader(f"{tokenizer_name(read.tokenizer.kind, _)} · {_(spec_of(name).title)}")
            count, markup = _chips(read.tokenizer, text)
            st.caption(_("{count:,} tokens · a vocabulary of {vocab:,}").format(count=count,
                                                                              vocab=read.tokenizer.vocab_size))
            st.html(markup)
