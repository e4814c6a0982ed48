"""The Attention page's widgets: which attention, which layer and head, and its figures.

`explorer` is one fragment: stepping through layers and heads reruns only that part
of the page and reads the cached trace, so the model never runs again. The current
layer, head, query token and kind of attention live in st.session_state under the
URL parameter names of `viz.state`, bound to the URL.
"""

from __future__ import annotations

import re
import time
from functools import partial

import numpy as np
import streamlit as st

from core import N_
from core.lessons.head_ranking import HeadScore, parking_keys, worth_a_look
from viz import export, head_roles, state
from viz.attention_sources import AVERAGE, HIDE_SINKS, ONE_HEAD, RANKED_FOR, AttentionSource, attention_sources, shown_weights
from viz.figures import palette
from viz.figures.attention import (
    IMAGE_FROM_CELLS,
    INSTANT_HEADS_MAX_CELLS,
    SCALES,
    THUMBNAIL_CELLS,
    key_shares,
    make_attention_heatmap_figure,
    make_attention_image_figure,
    make_attention_lines_figure,
    make_attention_mosaic_figure,
    make_attention_row_figure,
    mosaic_layout,
    without_keys,
)
from viz.glossary import NUMBERED_FROM_ZERO
from viz.markdown import markdown_literal
from viz.state import _
from viz.tokens import axis_labels

LAYER_KEY, HEAD_KEY, KIND_KEY, QUERY_KEY = state.LAYER, state.HEAD, state.ATTENTION, state.QUERY
MODE_KEY, HIDE_KEY, TARGET_KEY = state.HEAD_MODE, HIDE_SINKS, "attention_target"
QUERY_TOKENS = "attention_query_tokens"  # the tokens the query was picked from: a new text resets the pick
EVERY_QUERY = ""  # the query picker's "every query", in the URL as q= (no token label is empty)
SCALE_KEY = state.SCALE
SCALE_DEFAULT = "attention_scale_default"  # the default the colour scale was last settled against
LINE_WINDOW = 24  # beyond this many tokens the line view shows a window around the chosen query
SINK_NOTE_SHARE = 0.3  # above this, say what an attention sink is
NAMED_SINKS = 6  # the sinks the ranking's caption names; a long text may have more
SCALE_NAMES = {"linear": "0 – 1", "row": "÷ max", "log": "log₁₀"}
# A long text's default scale, measured (SmolLM2 and Gemma 3, 330 to 1,860 tokens, every other head of six
# layers): 0 – 1 colours 0.1–0.7 % of the cells visibly, ÷ max 0.6–3.5 %, log₁₀ 8–62 % (README, Attention).
LONG_SCALE = "log"
KINDS = {"self": N_("Self-attention"), "cross": N_("Cross-attention (target looks at source)"),
         "encoder": N_("Encoder self-attention")}


def is_content(label: str) -> bool:
    """Whether a token label stands for a word or a character of one, not whitespace or punctuation alone
    ("冷(1-2/3)", a byte piece of 冷, is content; "↵·188", a repeated line break at 188, is not): the byte
    counts and the position an axis label adds are dropped first."""
    return any(char.isalnum() for char in LABEL_SUFFIXES.sub("", label))


LABEL_SUFFIXES = re.compile(r"\(\d+(?:-\d+)?/\d+\)|·\d+$")


def long_text(t: int, s: int) -> bool:
    """A text the page draws as an image (viz.figures.attention.IMAGE_FROM_CELLS): there the 0–1 scale colours
    about one cell in a hundred and a query at the end is often a full stop or a line break."""
    return t * s > IMAGE_FROM_CELLS


def decoder_target(text: str) -> str:
    """The encoder-decoder's decoder input; by default the source itself, as in a copy task."""
    typed = st.text_input(_("What the decoder has written so far (cross-attention queries)"), key=TARGET_KEY,
                          max_chars=state.MAX_TEXT_CHARS, placeholder=_("Empty: the same text as the source"))
    return typed or text


# ---------------------------------------------------------------- controls


def _clamp(value, count: int) -> int:
    try:
        return min(max(int(value), 0), count - 1)
    except (TypeError, ValueError):
        return 0


def _step(key: str, delta: int, count: int) -> None:
    st.session_state[key] = _clamp(st.session_state.get(key, 0) + delta, count)


def _stepper(label: str, key: str, count: int, scope: str, disabled: bool = False) -> int:
    value = state.index(key, count, scope)
    # One row that never wraps: on a phone the arrows stay beside their slider.
    row = st.container(horizontal=True, wrap=False, vertical_alignment="bottom")
    row.button("◀", key=f"{key}-previous", help=_("Previous"), on_click=_step,
               args=(key, -1, count), disabled=disabled or value == 0)
    if count > 1:
        row.slider(label, 0, count - 1, key=key, bind="query-params", disabled=disabled, help=_(NUMBERED_FROM_ZERO))
    else:
        row.caption(_("{what} 0, the only one").format(what=label))
    row.button("▶", key=f"{key}-next", help=_("Next"), on_click=_step,
               args=(key, 1, count), disabled=disabled or value == count - 1)
    return value


def _scale(default: str) -> str:
    """The colour scale: the person's (or the link's) choice, else `default` for this text; in the URL by value
    whenever it is not the default, so that a long text and a short one each open on their own. A value equal
    to the default it was settled against was no choice: a new text gets its own default."""
    chosen = st.session_state.get(SCALE_KEY, st.query_params.get(SCALE_KEY))
    if chosen not in SCALES or chosen == st.session_state.get(SCALE_DEFAULT):
        chosen = default
    st.session_state[SCALE_KEY], st.session_state[SCALE_DEFAULT] = chosen, default
    value = st.selectbox(_("Colour scale"), SCALES, key=SCALE_KEY, format_func=SCALE_NAMES.get,
                         placeholder=_("Choose one"),
                         help=_("Long texts spread attention thin: dividing each row by its largest weight, "
                                "or a log scale, makes the small weights visible. Hover shows the true weight."))
    state.link(SCALE_KEY, value, default)
    return value


def _controls(source: AttentionSource, scope: str, scale: str) -> tuple[int, int | None, bool, str]:
    """(layer, head or None for the average over heads, hide sinks?, colour scale); `scale` is the default."""
    mode_column, sink_column, scale_column = st.columns([2, 3, 2])
    mode = mode_column.radio(_("Heads"), (ONE_HEAD, AVERAGE), key=MODE_KEY, horizontal=True,
                             label_visibility="collapsed", format_func=state.translator())
    hide = sink_column.toggle(_("Hide attention sinks"), key=HIDE_KEY,
                              help=_("Drops the special tokens and the first token from the keys and rescales "
                                     "every row to sum to 1 again, so the weaker patterns show."))
    with scale_column:
        scale = _scale(scale)
    layer_column, head_column = st.columns(2)
    with layer_column:
        layer = _stepper(_("Layer"), LAYER_KEY, source.n_layers, scope)
    with head_column:
        head = _stepper(_("Head"), HEAD_KEY, source.n_heads, scope, disabled=mode == AVERAGE)
    return layer, None if mode == AVERAGE else head, hide, scale


def _pick_query(labels: list[str], focus: str | None, meaningful: np.ndarray | None = None) -> int | None:
    """The query token whose lines are drawn, by label, so that the URL names a token of the text.
    A choice that does not belong to the current text falls back to the preset's focus word, else
    the last token; the last of the `meaningful` ones (content, not a sink) where they are given."""
    options = [EVERY_QUERY, *labels]
    last = labels[-1] if meaningful is None or not meaningful.any() else labels[int(np.flatnonzero(meaningful)[-1])]
    default = next((label for label in labels if focus and label.strip("␣").lower() == focus), last)
    seen = st.session_state.get(QUERY_TOKENS)
    if seen is not None and seen != labels:
        st.session_state[QUERY_KEY] = default
    state.settle_choice(QUERY_KEY, options, default)
    st.session_state[QUERY_TOKENS] = labels
    choice = st.selectbox(_("Whose lines? (a query token)"), options, key=QUERY_KEY, placeholder=_("Choose one"),
                          format_func=lambda option, every=_("every query"): every if option == EVERY_QUERY else option)
    state.link(QUERY_KEY, choice, None)
    return None if choice == EVERY_QUERY else labels.index(choice)


# ---------------------------------------------------------------- views


def _sink_names(shares: np.ndarray, source: AttentionSource, labels: list[str]) -> str:
    sinks = sorted(np.flatnonzero(source.sink_keys), key=lambda j: -shares[j])
    return ", ".join(f"“{markdown_literal(labels[j])}” {shares[j]:.0%}" for j in sinks)


def _sink_message(shares: np.ndarray, source: AttentionSource, labels: list[str], whose: str,
                  row: np.ndarray | None = None, query_label: str = "") -> str:
    """What the sinks take: averaged over every query (the matrix), and in the chosen query's own row, each
    said as what it is, since the two often differ a lot (75 % on average, 9 % from “it”)."""
    total = float(shares[source.sink_keys].sum())
    message = _("Averaged over every query, **{share:.0%}** of {whose} attention goes to the special and first "
                "tokens: {names}.").format(share=total, whose=whose, names=_sink_names(shares, source, labels))
    if row is not None:
        message += " " + _("The row of “{token}” alone gives them **{share:.0%}**: {names}.").format(
            token=markdown_literal(query_label), share=float(row[source.sink_keys].sum()),
            names=_sink_names(row, source, labels))
    if total > SINK_NOTE_SHARE:
        message += " " + _("Tokens that soak up attention like this are called *attention sinks*: a head with "
                           "nothing useful to find parks its weight on a token that is always there.")
        message += " " + (_("They are hidden below.") if st.session_state.get(HIDE_KEY) else
                          _("Hide them to see the rest."))
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
    st.session_state[TILES_OPENED] = st.session_state.get(TILES_OPENED, 0) + 1


MOSAIC = "_attention_mosaic"  # the grid of thumbnails drawn last, and what it shows
TILES_OPENED = "_attention_tiles_opened"  # clicks that opened a tile: each gives the grid a fresh selection


def _mosaic(chart_key: str, source: AttentionSource, layer: int | None, make, n_heads: int) -> None:
    """A grid of thumbnails, `make()` -> (figure, layout). It marks no open head, so a head step sends the same
    figure again, which the browser leaves as it is (a changed figure is drawn anew, about a tenth of a step's
    work in the browser); the session keeps the last one rather than building it again."""
    opened = st.session_state.get(TILES_OPENED, 0)
    shown = (chart_key, layer, id(source.records[layer or 0]), tuple(source.queries), tuple(source.keys),
             state.language(), palette.current().name, opened)
    memo = st.session_state.get(MOSAIC)
    if memo is None or memo[0] != shown:
        figure, layout = make()
        # The browser keeps a chart's selection while the chart stays the same: after a click has opened a tile,
        # a new chart, so that a click on that tile again opens it again.
        figure.layout.meta = opened
        memo = st.session_state[MOSAIC] = (shown, figure, layout)
    _, figure, layout = memo
    export.chart(figure, key=chart_key, on_select=partial(_open_tile, chart_key, layout, n_heads, layer),
                    selection_mode="points", config={"displayModeBar": False}, width="content")


def _mosaic_figure(thumbs, n_cols: int, names, rows, cols, title: str, tile_px: int):
    layout = mosaic_layout(thumbs, n_cols)
    return make_attention_mosaic_figure(thumbs, layout, tile_names=names, row_labels=rows, col_labels=cols,
                                        title=title, tile_px=tile_px, _=_), layout


GRID_NONE, GRID_LAYER, GRID_MODEL = N_("None"), N_("All heads of this layer"), N_("Every layer × head (model view)")


def _grids(source: AttentionSource, layer: int) -> None:
    """One grid of thumbnails at a time: each is a large figure, built again only for a new layer or text."""
    heads = range(source.n_heads)
    grid = st.segmented_control(_("Thumbnails"), (GRID_LAYER, GRID_MODEL, GRID_NONE), default=GRID_LAYER,
                                key="attention_grid", format_func=state.translator())
    tile = _("layer {layer}, head {head}")
    if grid == GRID_LAYER:
        _mosaic("attention-layer-mosaic", source, layer, lambda: _mosaic_figure(
            source.records[layer].thumbnails(THUMBNAIL_CELLS), source.n_heads,
            [tile.format(layer=layer, head=h) for h in heads], [f"L{layer}"], [f"h{h}" for h in heads],
            _("Click a head to open it"), 90), source.n_heads)
    elif grid == GRID_MODEL:
        _mosaic("attention-model-mosaic", source, None, lambda: _mosaic_figure(
            np.concatenate([r.thumbnails(THUMBNAIL_CELLS) for r in source.records]), source.n_heads,
            [tile.format(layer=i, head=h) for i in range(source.n_layers) for h in heads],
            [f"L{i}" for i in range(source.n_layers)], [f"h{h}" for h in heads],
            _("{layers} layers × {heads} heads: click one to open it").format(
                layers=source.n_layers, heads=source.n_heads), 30), source.n_heads)
    if grid in (GRID_LAYER, GRID_MODEL):
        st.caption(_("Thumbnails show the raw weights, averaged over blocks of tokens for long texts."))


def _architecture_note(architecture: str) -> None:
    if architecture == "decoder":
        st.caption(_("A **decoder**: each token sees only itself and the tokens before it, so the upper "
                     "triangle is masked (grey), not merely zero."))
    elif architecture == "encoder":
        st.caption(_("An **encoder**: every token sees every other token, in both directions; nothing is masked."))


def _open_head(layer: int, head: int) -> None:
    st.session_state[LAYER_KEY], st.session_state[HEAD_KEY], st.session_state[MODE_KEY] = layer, head, ONE_HEAD


def no_targets(source: AttentionSource, key_labels: list[str]) -> np.ndarray:
    """(S,) bool: keys a ranked head may not point at: the sinks, tokens where the model parks its weight from
    every query (core.lessons.head_ranking.parking_keys), and whitespace or punctuation."""
    parked = parking_keys([record.key_means() for record in source.records])
    return source.sink_keys | parked | ~np.array([is_content(label) for label in key_labels])


def ranking(source: AttentionSource, query: int, key_labels: list[str]) -> list[HeadScore]:
    """The heads worth a look for the query: one per target word, strongest first."""
    return worth_a_look([record.query_rows(query) for record in source.records], query,
                        no_targets(source, key_labels), self_attention=not source.cross)


def _follow_ranking(ranked: list[HeadScore], ranked_for: tuple, named: bool) -> None:
    """Open the ranking's best head where a person has not chosen one for this text and query: a preset, a
    first visit whose link names no head, a new text or a new query (`ranked_for`: model, tokens, query)."""
    before = st.session_state.get(RANKED_FOR)
    st.session_state[RANKED_FOR] = ranked_for
    preset = st.session_state.pop(state.OPEN_BEST, False)
    # Another model keeps the layer and head it had (state.index remembers them per model).
    changed = before is not None and before[0] == ranked_for[0] and before != ranked_for
    if ranked and (preset or (before is None and not named) or changed):
        _open_head(ranked[0].layer, ranked[0].head)
    st.session_state[state.RANKED_HEADS] = tuple((score.layer, score.head) for score in ranked)


def _worth_a_look(ranked: list[HeadScore], query_label: str, key_labels: list[str], skipped: np.ndarray,
                  scores=None) -> None:
    """The ranked heads, one click each, each with its measured role where `scores` (the Head finder's, once known)
    give it one, and what the ranking leaves out."""
    if not ranked:
        return
    sinks = [f"“{markdown_literal(key_labels[j])}”" for j in np.flatnonzero(skipped) if is_content(key_labels[j])]
    names = ", ".join(sinks[:NAMED_SINKS]) + (", …" if len(sinks) > NAMED_SINKS else "")
    st.caption(_("Heads worth a look for “{token}”: the word each looks at most, one head per word, beyond itself, "
                 "its neighbour, punctuation and the sinks ({sinks})").format(
        token=markdown_literal(query_label), sinks=names or "—"))
    row = st.container(horizontal=True)
    for score in ranked:
        role = head_roles.role_name(scores, score.layer, score.head)
        row.button(_("L{layer}·h{head} → {token} {weight:.0%}").format(
                   layer=score.layer, head=score.head, token=markdown_literal(key_labels[score.key]),
                   weight=score.score) + (f" · {role}" if role else ""),
                   key=f"worth-{score.layer}-{score.head}", on_click=_open_head, args=(score.layer, score.head))


def _cost(trace, model: float | None, figure_seconds: float) -> None:
    """Say, small, what this view cost, so that a person sees it grow with the length of the text; not in
    presenter mode, where the projector shows the lesson (as the frame's own cost line)."""
    st.session_state[state.COST_SAID] = True
    if state.presenting():
        return
    parts = [_("{count:,} tokens").format(count=len(trace.token_ids))]
    if model is not None:
        parts.append(_("model {seconds:.2f} s").format(seconds=model))
    parts.append(_("figure {seconds:.2f} s").format(seconds=figure_seconds))
    st.caption(" · ".join(parts))


def _line_window(query: int | None, t: int) -> slice:
    """The queries the line view draws: all of a short text, else a window around the chosen query."""
    if t <= LINE_WINDOW:
        return slice(0, t)
    centre = t - 1 if query is None else query
    start = min(max(centre - LINE_WINDOW // 2, 0), t - LINE_WINDOW)
    return slice(start, start + LINE_WINDOW)


def _heatmap(source, record, layer, head, kind_name, mask, labels, hide, scale, query) -> str:
    """The main heat map: every head of the layer in the figure (switched in the browser) when small enough;
    for a long text, an image of the matrix and a zoom around the chosen query with exact values."""
    query_labels, key_labels = labels
    name = (_("layer {layer}, head {head}").format(layer=layer, head=head) if head is not None
            else _("layer {layer}, mean of {count} heads").format(layer=layer, count=source.n_heads))
    t, s = mask.shape
    instant = head is not None and source.n_heads * t * s <= INSTANT_HEADS_MAX_CELLS and t * s <= IMAGE_FROM_CELLS
    # Every head of the layer only where it is small; else the one head (or the mean) the trace produces.
    weights = np.asarray(record.probs, dtype=np.float32) if instant else shown_weights(record, head)
    if hide:
        weights = (np.stack([without_keys(w, mask, source.sink_keys)[0] for w in weights]) if instant
                   else without_keys(weights, mask, source.sink_keys)[0])
        mask = mask[:, ~source.sink_keys]
    title = _("{what}, {where}").format(what=kind_name, where=name)
    if t * mask.shape[1] > IMAGE_FROM_CELLS:
        export.chart(make_attention_image_figure(weights, mask, query_labels, key_labels, title=title,
                                                    scale=scale, _=_), key="attention-image")
        _zoom(weights, mask, query_labels, key_labels, query, scale, title)
        return name
    titles = [_("{what}, {where}").format(what=kind_name, where=_("layer {layer}, head {head}").format(layer=layer, head=h))
              for h in range(source.n_heads)] if instant else ()
    figure = make_attention_heatmap_figure(weights, mask, query_labels, key_labels, title=title,
                                           renormalised=hide, scale=scale, head=head if instant else None,
                                           head_titles=titles, _=_)
    export.chart(figure, key="attention-heatmap")
    if instant:
        st.caption(_("The buttons above the matrix switch heads at once, in your browser; ◀ ▶ under “Head” also "
                     "move the lines, bars and thumbnails."))
    return name


def _zoom(weights, mask, query_labels, key_labels, query: int | None, scale: str, title: str) -> None:
    """Exact weights around the chosen query: a window of rows, and of keys on the same stretch of text."""
    rows = _line_window(query, len(query_labels))
    keys = _line_window(query, len(key_labels)) if len(key_labels) == len(query_labels) else slice(None)
    export.chart(make_attention_heatmap_figure(
        weights[rows, keys], mask[rows, keys], query_labels[rows], key_labels[keys], scale=scale, _=_,
        title=_("Zoom: tokens {first}–{last} (hover for exact weights)").format(first=rows.start, last=rows.stop - 1)
        + f" · {title}"), key="attention-zoom")


@st.fragment
def explorer(trace, tokenizer, focus: str | None = None, model_seconds: float | None = None, after=None) -> None:
    """Layer/head controls and every figure of the chosen head: reruns alone, never runs the model.
    `focus` is a word whose lines to draw first (a preset's point), if the text has it; `model_seconds`
    what the model took for this text, said beside the figure's own time; `after(kind, layer, head, query)`
    draws more inside the fragment (downloads, compare mode)."""
    _architecture_note(trace.architecture)
    sources = attention_sources(trace, tokenizer)
    state.settle_choice(KIND_KEY, sources, "self")
    kind = "self"
    if len(sources) > 1:
        kind = st.radio(_("Which attention"), list(sources), key=KIND_KEY, horizontal=True,
                        format_func=lambda kind, translate=state.translator(): translate(KINDS[kind]))
    state.link(KIND_KEY, kind, "self")
    source = sources[kind]
    query_labels, key_labels = axis_labels(source.queries), axis_labels(source.keys)
    long = long_text(len(query_labels), len(key_labels))
    skipped = no_targets(source, key_labels)
    query = _pick_query(query_labels, focus, ~skipped if long and not source.cross else None)
    named = LAYER_KEY in st.session_state or LAYER_KEY in st.query_params or HEAD_KEY in st.query_params
    ranked = ranking(source, query, key_labels) if query is not None else []
    _follow_ranking(ranked, (trace.model, tuple(trace.token_ids), query), named)
    if query is not None:
        roles = head_roles.known_scores(trace.model) if kind == "self" and trace.architecture == "decoder" else None
        _worth_a_look(ranked, query_labels[query], key_labels, skipped, roles)
    layer, head, hide, scale = _controls(source, trace.model, LONG_SCALE if long else "linear")
    record = source.records[layer]
    weights, mask = shown_weights(record, head), np.asarray(record.mask, dtype=bool)
    whose = _("this head's") if head is not None else _("the {count} heads' average").format(count=source.n_heads)
    st.info(_sink_message(key_shares(weights, mask), source, key_labels, whose,
                          None if query is None else np.where(mask[query], np.nan_to_num(weights[query]), 0.0),
                          "" if query is None else query_labels[query]))
    hide = hide and not source.sink_keys.all()
    shown_keys = [label for label, sink in zip(key_labels, source.sink_keys) if not (hide and sink)]
    started = time.perf_counter()
    name = _heatmap(source, record, layer, head, _(KINDS[kind]), mask, (query_labels, shown_keys), hide, scale,
                    query)
    _cost(trace, model_seconds, time.perf_counter() - started)
    if hide:
        weights, mask = without_keys(weights, mask, source.sink_keys)
    lines_column, row_column = st.columns(2)
    with lines_column:
        window = _line_window(query, len(query_labels))
        if window != slice(0, len(query_labels)):
            st.caption(_("Lines of tokens {first}–{last} of {count}, around the chosen one.").format(
                first=window.start, last=window.stop - 1, count=len(query_labels)))
        keys = _line_window(query, len(shown_keys)) if len(shown_keys) == len(query_labels) else slice(None)
        export.chart(make_attention_lines_figure(
            weights[window, keys], mask[window, keys], query_labels[window], shown_keys[keys], _=_,
            query=None if query is None or not window.start <= query < window.stop else query - window.start,
            title=_("Lines: opacity = weight")))
    if query is not None:
        with row_column:
            export.chart(make_attention_row_figure(
                weights[query], mask[query], shown_keys, _=_, subtitle=name,
                title=_("Where does “{token}” look?").format(token=query_labels[query])))
    _grids(source, layer)
    if after is not None:
        after(kind, layer, head, query)
