"""The Attention page's widgets: which attention, which layer and head, and its figures.

`explorer` is one fragment: stepping through layers and heads reruns only that part
of the page and reads the cached trace, so the model never runs again. The current
layer and head live in st.session_state["layer"] / ["head"], bound to the URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

import numpy as np
import streamlit as st

from viz import state
from viz.figures.attention import (
    head_weights,
    key_shares,
    make_attention_heatmap_figure,
    make_attention_lines_figure,
    make_attention_mosaic_figure,
    make_attention_row_figure,
    mosaic_layout,
    thumbnails,
    token_labels,
    without_keys,
)

LAYER_KEY, HEAD_KEY = "layer", "head"
KIND_KEY, MODE_KEY, HIDE_KEY, QUERY_KEY, TARGET_KEY = (
    "attention_kind", "attention_heads", "attention_hide_sinks", "attention_query", "attention_target")
ONE_HEAD, AVERAGE = "One head", "Average over heads"
SINK_NOTE_SHARE = 0.3  # above this, say what an attention sink is


@dataclass(frozen=True)
class AttentionSource:
    """One kind of attention in the trace: its records per layer, and who looks at whom."""

    records: tuple  # one AttentionRecord per layer
    queries: list[str]  # readable token text of the tokens that look
    keys: list[str]  # ... and of the tokens looked at
    sink_keys: np.ndarray  # (S,) bool: special tokens and the first token, where attention tends to pool

    @property
    def n_layers(self) -> int:
        return len(self.records)

    @property
    def n_heads(self) -> int:
        return self.records[0].probs.shape[0]


def readable_tokens(stack, tokenizer) -> list[str]:
    """Byte-level tokens as the text they stand for (" animal", not "Ġanimal")."""
    if tokenizer.byte_level:
        return [tokenizer.token_text(i) for i in stack.token_ids]
    return list(stack.tokens)


def _source(records, query_stack, key_stack, tokenizer) -> AttentionSource:
    sinks = np.array([i in tokenizer.special_ids and not tokenizer.is_unknown(i) for i in key_stack.token_ids])
    sinks[0] = True  # decoders without a start token park attention on whatever comes first
    return AttentionSource(tuple(records), readable_tokens(query_stack, tokenizer),
                           readable_tokens(key_stack, tokenizer), sinks)


def attention_sources(trace, tokenizer) -> dict[str, AttentionSource]:
    decoder = trace.stack
    self_attention = _source((layer.self_attn for layer in decoder.layers), decoder, decoder, tokenizer)
    if trace.architecture != "encoder-decoder":
        return {"Self-attention": self_attention}
    encoder = trace.encoder
    return {
        "Decoder self-attention": self_attention,
        "Cross-attention (target looks at source)": _source(
            (layer.cross_attn for layer in decoder.layers), decoder, encoder, tokenizer),
        "Encoder self-attention": _source((layer.self_attn for layer in encoder.layers), encoder, encoder, tokenizer),
    }


def markdown_literal(text: str) -> str:
    """Token text inside st.markdown: every Markdown/LaTeX character shown as itself."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$&])", r"\\\1", text)


def decoder_target(text: str) -> str:
    """The encoder-decoder's decoder input; by default the source itself, as in a copy task."""
    st.warning("The classic model is **untrained**: its weights are random numbers, so these are real "
               "attention computations whose patterns carry no meaning. Compare them with a trained model.")
    typed = st.text_input("What the decoder has written so far (cross-attention queries)", key=TARGET_KEY,
                          max_chars=state.MAX_TEXT_CHARS, placeholder="Empty: the same text as the source")
    return typed or text


# ---------------------------------------------------------------- controls


def _clamp(value, count: int) -> int:
    try:
        return min(max(int(value), 0), count - 1)
    except (TypeError, ValueError):
        return 0


def _settle(key: str, count: int) -> int:
    """Validate the stored index before its slider exists: the URL or another model may have left
    one that is out of range (?layer=999), and a slider would refuse it."""
    value = st.session_state[key] if key in st.session_state else state.int_param(key, count)
    st.session_state[key] = _clamp(value, count)
    return st.session_state[key]


def _step(key: str, delta: int, count: int) -> None:
    st.session_state[key] = _clamp(st.session_state.get(key, 0) + delta, count)


def _stepper(label: str, key: str, count: int, disabled: bool = False) -> int:
    value = _settle(key, count)
    back, middle, forward = st.columns([1, 8, 1], vertical_alignment="bottom")
    back.button("◀", key=f"{key}-previous", help=f"Previous {label.lower()}", on_click=_step,
                args=(key, -1, count), disabled=disabled or value == 0)
    if count > 1:
        middle.slider(label, 0, count - 1, key=key, bind="query-params", disabled=disabled)
    else:
        middle.caption(f"{label} 0, the only one")
    forward.button("▶", key=f"{key}-next", help=f"Next {label.lower()}", on_click=_step,
                   args=(key, 1, count), disabled=disabled or value == count - 1)
    return value


def _controls(source: AttentionSource) -> tuple[int, int | None, bool]:
    """(layer, head or None for the average over heads, hide sinks?)."""
    mode_column, sink_column = st.columns(2)
    mode = mode_column.radio("Heads", (ONE_HEAD, AVERAGE), key=MODE_KEY, horizontal=True, label_visibility="collapsed")
    hide = sink_column.toggle("Hide attention sinks and renormalise the rest", key=HIDE_KEY,
                              help="Drops the special tokens and the first token from the keys and rescales "
                                   "every row to sum to 1 again, so the weaker patterns show.")
    layer_column, head_column = st.columns(2)
    with layer_column:
        layer = _stepper("Layer", LAYER_KEY, source.n_layers)
    with head_column:
        head = _stepper("Head", HEAD_KEY, source.n_heads, disabled=mode == AVERAGE)
    return layer, None if mode == AVERAGE else head, hide


def _pick_query(labels: list[str], readable: list[str]) -> int | None:
    options = [None, *range(len(labels))]
    it = next((i for i, token in enumerate(readable) if token.strip().lower() == "it"), None)
    return st.selectbox("Whose lines? (a query token)", options, index=options.index(it), key=QUERY_KEY,
                        format_func=lambda i: "every query" if i is None else labels[i])


# ---------------------------------------------------------------- views


def _sink_message(shares: np.ndarray, source: AttentionSource, labels: list[str], whose: str) -> str:
    sinks = sorted(np.flatnonzero(source.sink_keys), key=lambda j: -shares[j])
    names = [f"“{markdown_literal(labels[j])}” {shares[j]:.0%}" for j in sinks]
    total = float(shares[source.sink_keys].sum())
    message = f"**{total:.0%}** of {whose} attention goes to the special and first tokens: {', '.join(names)}."
    if total > SINK_NOTE_SHARE:
        message += (" Tokens that soak up attention like this are called *attention sinks*: a head with nothing "
                    "useful to find parks its weight on a token that is always there. Hide them to see the rest.")
    return message


def _open_tile(chart_key: str, layout, n_heads: int, layer: int | None) -> None:
    """A click on a thumbnail opens that head in the main view."""
    points = st.session_state[chart_key]["selection"]["points"]
    index = layout.tile_at(points[0]["x"], points[0]["y"]) if points else None
    if index is None:
        return
    if layer is None:
        layer, head = divmod(index, n_heads)
    else:
        head = index
    st.session_state[LAYER_KEY], st.session_state[HEAD_KEY] = layer, head
    st.session_state[MODE_KEY] = ONE_HEAD


def _mosaic(chart_key: str, thumbs, n_cols: int, names, rows, cols, current, title, tile_px, n_heads, layer):
    layout = mosaic_layout(thumbs, n_cols)
    figure = make_attention_mosaic_figure(thumbs, layout, tile_names=names, row_labels=rows, col_labels=cols,
                                          current=current, title=title, tile_px=tile_px)
    st.plotly_chart(figure, key=chart_key, on_select=partial(_open_tile, chart_key, layout, n_heads, layer),
                    selection_mode="points", config={"displayModeBar": False})


GRID_NONE, GRID_LAYER, GRID_MODEL = "None", "All heads of this layer", "Every layer × head (model view)"


def _grids(source: AttentionSource, layer: int, head: int | None) -> None:
    """One grid of thumbnails at a time: each is a large figure, rebuilt on every step."""
    heads = range(source.n_heads)
    grid = st.segmented_control("Thumbnails", (GRID_LAYER, GRID_MODEL, GRID_NONE), default=GRID_LAYER,
                                key="attention_grid")
    if grid == GRID_LAYER:
        record = source.records[layer]
        _mosaic("attention-layer-mosaic", thumbnails(record.probs, record.mask), source.n_heads,
                [f"layer {layer}, head {h}" for h in heads], [f"L{layer}"], [f"h{h}" for h in heads], head,
                "Click a head to open it", 90, source.n_heads, layer)
    elif grid == GRID_MODEL:
        thumbs = np.concatenate([thumbnails(r.probs, r.mask) for r in source.records])
        current = None if head is None else layer * source.n_heads + head
        _mosaic("attention-model-mosaic", thumbs, source.n_heads,
                [f"layer {i}, head {h}" for i in range(source.n_layers) for h in heads],
                [f"L{i}" for i in range(source.n_layers)], [f"h{h}" for h in heads], current,
                f"{source.n_layers} layers × {source.n_heads} heads: click one to open it", 30, source.n_heads, None)
    if grid in (GRID_LAYER, GRID_MODEL):
        st.caption("Thumbnails show the raw weights, averaged over blocks of tokens for long texts.")


def _architecture_note(architecture: str) -> None:
    if architecture == "decoder":
        st.caption("A **decoder**: each token sees only itself and the tokens before it, so the upper "
                   "triangle is masked (grey), not merely zero.")
    elif architecture == "encoder":
        st.caption("An **encoder**: every token sees every other token, in both directions; nothing is masked.")


@st.fragment
def explorer(trace, tokenizer) -> None:
    """Layer/head controls and every figure of the chosen head: reruns alone, never runs the model."""
    _architecture_note(trace.architecture)
    sources = attention_sources(trace, tokenizer)
    kind = next(iter(sources))
    if len(sources) > 1:
        kind = st.radio("Which attention", list(sources), key=KIND_KEY, horizontal=True)
    source = sources[kind]
    layer, head, hide = _controls(source)
    record = source.records[layer]
    weights, mask = head_weights(record.probs, head), np.asarray(record.mask, dtype=bool)
    query_labels, key_labels = token_labels(source.queries), token_labels(source.keys)
    whose = "this head's" if head is not None else f"the {source.n_heads} heads' average"
    st.info(_sink_message(key_shares(weights, mask), source, key_labels, whose))
    hide = hide and not source.sink_keys.all()
    if hide:
        weights, mask = without_keys(weights, mask, source.sink_keys)
        key_labels = [label for label, sink in zip(key_labels, source.sink_keys) if not sink]
    name = f"layer {layer}, head {head}" if head is not None else f"layer {layer}, mean of {source.n_heads} heads"
    matrix_column, lines_column = st.columns([3, 2])
    with matrix_column:
        st.plotly_chart(make_attention_heatmap_figure(weights, mask, query_labels, key_labels,
                                                      title=f"{kind}, {name}", renormalised=hide))
    with lines_column:
        query = _pick_query(query_labels, source.queries)
        st.plotly_chart(make_attention_lines_figure(weights, mask, query_labels, key_labels, query=query,
                                                    title="Lines: opacity = weight"))
        if query is not None:
            st.plotly_chart(make_attention_row_figure(weights[query], mask[query], key_labels,
                                                      title=f"Where does “{query_labels[query]}” look? ({name})"))
    _grids(source, layer, head)
