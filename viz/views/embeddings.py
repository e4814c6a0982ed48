"""The Embeddings page's parts: the text's token vectors and their nearest tokens, the cosine similarity of
words or sentences, and how one token's vector moves from layer to layer in different contexts.

Every number comes from the core (`core.lessons.embeddings`) and the cached traces; nearest tokens and sentence
vectors are cached per model, so moving the layer slider reruns no model.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import streamlit as st

from core import MODELS, Capability, InputError, model_shape, spec_of
from core.lessons import embeddings as emb
from viz import export, state
from viz.figures.embeddings import (
    make_embedding_heatmap_figure,
    make_layer_cosine_figure,
    make_projection_figure,
    make_similarity_figure,
)
from viz.loading import get_model, model_or_error, trace_or_error
from viz.markdown import markdown_literal
from viz.state import _
from viz.tokens import axis_labels, label_of, labels_for
from viz.views.controls import settle_index, stepper

TOKEN_KEY, HIDDEN_KEY = state.TOKEN, state.HIDDEN
TOKEN_TEXT = "_embeddings_token_of"  # the (model, text) the token choice belongs to
NEIGHBOURS = 10
MAX_PAIRS = 6  # lines on the per-layer cosine figure


@st.cache_resource(max_entries=512, show_spinner=False)
def neighbours(name: str, token_id: int) -> list[emb.Neighbour]:
    return emb.nearest_tokens(get_model(name), token_id, NEIGHBOURS)


@st.cache_resource(max_entries=512, show_spinner=False)
def sentence_vector(name: str, item: str) -> np.ndarray | None:
    """The sentence model's vector for one word or sentence; None when it has no token for any of it."""
    try:
        return get_model(name).sentence_embedding(item)
    except InputError:
        return None


def sentence_model() -> str | None:
    """The first installed model trained to compare sentences, in registry order."""
    return next((name for name, spec in MODELS.items()
                 if spec.can(Capability.SENTENCE_EMBEDDING) and spec.trained and spec.available()), None)


# ---------------------------------------------------------------- token vectors


def _default_token(labels: list[str], special: list[bool], focus: str | None) -> int:
    """The preset's word, else the first word of four letters or more, else the first token of the text.
    `labels` are the tokens as they read (not made unique for an axis)."""
    words = [label.strip("␣ ") for label in labels]
    for i, word in enumerate(words):
        if focus and word.lower() == focus.lower():
            return i
    ordinary = [i for i, s in enumerate(special) if not s] or [0]
    return next((i for i in ordinary if len(words[i]) >= 4 and words[i].isalpha()), ordinary[0])


def pick_token(readable: list[str], labels: list[str], special: list[bool], owner: tuple[str, str],
               focus: str | None) -> int:
    """The position of the token studied; a new text or model starts at the default one."""
    default, count = _default_token(readable, special, focus), len(labels)
    if st.session_state.get(TOKEN_TEXT) not in (None, owner):
        st.session_state[TOKEN_KEY] = default
    value = st.session_state.get(TOKEN_KEY)
    if value is None:
        raw = st.query_params.get(TOKEN_KEY)
        value = int(raw) if raw is not None and raw.isdigit() else default
    if not 0 <= int(value) < count:
        st.warning(_("The text has no token #{value}; showing #{shown}.").format(value=value, shown=default),
                   icon="🔗")
        value = default
    st.session_state[TOKEN_KEY], st.session_state[TOKEN_TEXT] = int(value), owner
    chosen = st.selectbox(_("Study a token"), range(count), key=TOKEN_KEY, placeholder=_("Choose one"),
                          format_func=lambda i: f"#{i}  {labels[i]}")
    state.link(TOKEN_KEY, chosen, default)
    return chosen


def token_vectors(lm, trace, text: str, focus: str | None) -> int:
    """The heat map of the text's token embeddings and the chosen token's nearest rows; returns its id."""
    stack = emb.text_stack(trace)
    tokenizer = lm.tokenizer
    readable = labels_for(tokenizer, stack.token_ids)
    labels = axis_labels(readable)
    vectors = np.asarray(stack.embeddings, dtype=np.float32)
    export.chart(make_embedding_heatmap_figure(vectors, labels, _=_, title=_(
        "{count} tokens × {d} dimensions: each row is the token's row of the embedding table").format(
        count=len(labels), d=vectors.shape[1])), key="embeddings_heatmap")
    if lm.config.scale_embeddings:
        st.caption(_("This model multiplies each row by √d = {root:.1f} before using it; the figure shows the "
                     "scaled vectors.").format(root=np.sqrt(vectors.shape[1])))
    st.subheader(_("Nearest tokens in the embedding table"))
    special = [i in tokenizer.special_ids and not tokenizer.is_unknown(i) for i in stack.token_ids]
    position = pick_token(readable, labels, special, (lm.name, text), focus)
    token_id = int(stack.token_ids[position])
    found = neighbours(lm.name, token_id)
    st.caption(_("The {count} rows of the {vocab:,}-row table whose direction is closest to the row of {token} "
                 "(id {id}), by cosine.").format(count=len(found), vocab=lm.info.vocab_size,
                                                 token=_md(labels[position]), id=token_id))
    st.dataframe(pd.DataFrame({
        "#": range(1, len(found) + 1),
        _("token"): [label_of(tokenizer, n.token_id) for n in found],
        "id": [n.token_id for n in found],
        _("cosine"): [round(n.cosine, 4) for n in found],
    }), hide_index=True)
    return token_id


# ---------------------------------------------------------------- similarity of words and sentences


def _unknown_characters(lm, items: list[str]) -> list[str]:
    found = []
    for item in items:
        encoded = lm.tokenizer.encode(item)
        found += [item[a:b] for i, (a, b) in zip(encoded.ids, encoded.offsets) if lm.tokenizer.is_unknown(i)]
    return list(dict.fromkeys(found))


def _closest_and_farthest(matrix: np.ndarray, items: list[str]) -> str:
    pairs = list(combinations(range(len(items)), 2))
    best = max(pairs, key=lambda p: matrix[p])
    worst = min(pairs, key=lambda p: matrix[p])
    return _("Closest: **{a}** and **{b}** ({high:.2f}). Farthest apart: **{c}** and **{d}** ({low:.2f}).").format(
        a=_md(items[best[0]]), b=_md(items[best[1]]), high=matrix[best], c=_md(items[worst[0]]),
        d=_md(items[worst[1]]), low=matrix[worst])


def _md(text: str) -> str:
    """User text inside Markdown, shown as itself."""
    return markdown_literal(text)


@st.fragment
def projection_tabs(points: np.ndarray, labels: list[str], key: str, *, groups=None, highlight=None,
                    unit: bool = False, title: str = "") -> None:
    """The points on their first principal axes, in 2-D and in 3-D. Only the open tab is drawn, and choosing the
    other reruns this alone: a hidden 3-D scene cost the browser more than the rest of the page (software WebGL)."""
    projection = emb.pca(points, 3, unit=unit)
    tabs = st.tabs(["2-D", "3-D"], key=f"{key}-tabs", on_change="rerun")
    for tab, dims in zip(tabs, (2, 3)):
        if tab.open is False:
            continue
        with tab:
            export.chart(make_projection_figure(projection.coords[:, :dims], labels, groups=groups,
                                                   highlight=highlight, explained=projection.explained, title=title,
                                                   _=_), key=f"{key}-{dims}d")
    st.caption(_("Principal component analysis: the {d}-dimensional vectors seen along the directions in which they "
                 "differ most; the first two carry {two:.0%} of their spread, the first three {three:.0%}. Distances in "
                 "the picture are only a shadow of the real ones; the numbers above are exact.").format(
        d=points.shape[1], two=float(projection.explained[:2].sum()), three=float(projection.explained.sum())))


def similarity(text: str) -> None:
    name = sentence_model()
    if name is None:
        st.info(_("No installed model was trained to compare sentences."))
        return
    lm = model_or_error(name)
    if lm is None:
        return
    found = emb.items_to_compare(text)
    if len(found.items) < 2:
        st.info(_("Type two or more words or sentences in the text box, one per line, to compare them."))
        return
    if found.by == "word":
        st.caption(_("The text is one line, so its words are compared. Put one word or sentence per line to choose "
                     "what to compare."))
    if found.dropped:
        st.caption(_("The first {count} are compared; {dropped} more are left out.").format(
            count=len(found.items), dropped=found.dropped))
    vectors = {item: sentence_vector(name, item) for item in found.items}
    items = [item for item, vector in vectors.items() if vector is not None]
    if len(items) < len(vectors):
        st.caption(_("Left out, as the model has no token for any of it: {items}").format(
            items=", ".join(_md(i) for i in vectors if vectors[i] is None)))
    if len(items) < 2:
        return
    matrix = emb.cosine_matrix(np.stack([vectors[i] for i in items]))
    export.chart(make_similarity_figure(matrix, items, _=_, title=_("Cosine similarity, {model}").format(
        model=_(spec_of(name).title))), key="embeddings_similarity")
    st.markdown(_closest_and_farthest(matrix, items))
    unknown = _unknown_characters(lm, items)
    if unknown:
        st.warning(_("The sentence model's vocabulary has no token for {chars}: each becomes [UNK], the same vector "
                     "for all of them, so the model cannot tell these words apart.").format(
            chars=" ".join(_md(c) for c in unknown)))
    projection_tabs(np.stack([vectors[i] for i in items]), items, "embeddings_items",
                    title=_("The sentence vectors, projected"))


# ---------------------------------------------------------------- contexts


def encoders() -> list[str]:
    """Installed trained models that read in both directions (encoders)."""
    return [name for name, spec in MODELS.items()
            if spec.trained and spec.available() and model_shape(name)[0].architecture == "encoder"]


def decoder_note(word: str) -> None:
    st.info(_("A line stays at 1.000: in a decoder each token sees only the tokens before it, and these occurrences "
              "have the same words before them, so their vectors are identical at every layer. What follows cannot "
              "change them. An encoder reads in both directions: switch to one to see the words after “{token}” "
              "move it.").format(token=_md(word)))
    for name in encoders():
        st.button(_("Switch to {model}").format(model=_(spec_of(name).title)), key=f"embeddings-switch-{name}",
                  on_click=state.set_model, args=(name,))


def contexts(lm, text: str, token_id: int) -> None:
    """The studied token's vector in each line where it stands, layer by layer, and every token of every line
    on the principal axes of the chosen layer."""
    lines = [line.strip() for line in text.splitlines() if line.strip()][:emb.MAX_ITEMS] or [text]
    traces = [trace_or_error(lm.name, line) for line in lines]
    kept = [(line, trace) for line, trace in zip(lines, traces) if trace is not None]
    if not kept:
        return
    stacks = [emb.text_stack(trace) for _line, trace in kept]
    tokenizer, last = lm.tokenizer, stacks[0].hidden_states.shape[0] - 1
    word = label_of(tokenizer, token_id).strip("␣") or label_of(tokenizer, token_id)
    found = emb.occurrences([s.token_ids for s in stacks], token_id)
    layer = settle_index(HIDDEN_KEY, last, last, lm.name)
    names = [_("line {index}").format(index=i + 1) for i in range(len(stacks))]
    if len(found) < 2:
        st.info(_("“{token}” stands only once in the text: type it in another line (another context) to compare "
                  "its vectors.").format(token=_md(word)))
    else:
        pairs = list(combinations(found, 2))[:MAX_PAIRS]
        curves = np.stack([emb.layer_cosines(stacks[a].hidden_states, pa, stacks[b].hidden_states, pb)
                           for (a, pa), (b, pb) in pairs])
        pair_names = [f"{names[a]} #{pa} ↔ {names[b]} #{pb}" for (a, pa), (b, pb) in pairs]
        export.chart(make_layer_cosine_figure(curves, pair_names, layer=layer, _=_, title=_(
            "cos between the vectors of “{token}”, layer by layer").format(token=word)), key="embeddings_layers")
        st.markdown("\n".join("- " + _("{pair}: {first} at layer 0, {final} after layer {last}").format(
            pair=name, first=_number(curve[0]), final=_number(curve[-1]), last=last)
            for name, curve in zip(pair_names, curves)))
        if lm.info.architecture == "decoder" and (np.abs(curves - 1.0) < 1e-3).all(axis=1).any():
            decoder_note(word)
    stepper(_("Layer"), HIDDEN_KEY, last, help=_("0 is the input to the first block (embedding, plus positions where "
                                                  "the model adds them); {last} is the output of the last.").format(
        last=last))
    _overflow_note(stacks)
    points = np.concatenate([np.asarray(s.hidden_states[layer], dtype=np.float32) for s in stacks])
    labels = np.array([label for s in stacks for label in labels_for(tokenizer, s.token_ids)], dtype=object)
    groups = np.array([names[i] for i, s in enumerate(stacks) for _t in s.token_ids], dtype=object)
    ringed = np.zeros(len(points), dtype=bool)
    offsets = np.cumsum([0] + [len(s.token_ids) for s in stacks])
    for text_index, position in found:
        ringed[offsets[text_index] + position] = True
    finite = emb.finite_rows(points)
    if finite.any():
        projection_tabs(points[finite], list(labels[finite]), "embeddings_context", groups=list(groups[finite]),
                        highlight=ringed[finite], unit=True,
                        title=_("Every token of every line at layer {layer}, scaled to length 1").format(layer=layer))


def _number(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "—"


def _overflow_note(stacks) -> None:
    """Say where the recorded vectors overflowed float16, since those are left out of every figure here."""
    broken = [(~emb.finite_rows(np.asarray(s.hidden_states))).nonzero() for s in stacks]
    count = sum(len(layers) for layers, _positions in broken)
    if count:
        layers = sorted({int(layer) for found, _positions in broken for layer in found})
        st.caption(_("The trace keeps its numbers as float16, whose largest value is 65,504: {count} vectors "
                     "(at layers {first} to {last}) grew past it and became infinite, so they are left out here.")
                   .format(count=count, first=layers[0], last=layers[-1]))
