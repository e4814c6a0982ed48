"""Attention figures: one head's matrix as a heat map, as lines between tokens, one query's row
as bars, and a mosaic of thumbnails for every head.

Weights arrive as the trace stores them (float16) and leave as float32: Plotly
base64-encodes float32 numpy arrays but has no float16 typed array. Labels are
escaped here: Plotly reads a few HTML tags in text, and a token such as `<b>`
must show as itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.colors import convert_colors_to_same_type, get_colorscale

from ..i18n import Translate, identity
from . import palette
from .text import checked_labels, plotly_text, power_of_ten, token_axis_title

# The screen's colours; a presenter's come from `palette.current()` when a figure is built.
COLOURS = palette.SCREEN.weights
MASKED_COLOUR = palette.SCREEN.masked
LINE_COLOUR = palette.SCREEN.line
CURRENT_COLOUR = palette.SCREEN.highlight
LINE_LEVELS = 20  # the all-queries line view draws this many opacity steps, not one trace per line
THUMBNAIL_CELLS = 24  # a thumbnail averages blocks of cells down to at most this many per side


# ---------------------------------------------------------------- data helpers



def _matrix(weights, mask) -> tuple[np.ndarray, np.ndarray]:
    weights, mask = np.asarray(weights, dtype=np.float32), np.asarray(mask, dtype=bool)
    if weights.ndim != 2 or mask.shape != weights.shape:
        raise ValueError(f"weights and mask must both be (T, S), got {weights.shape} and {mask.shape}")
    return weights, mask


def key_shares(weights, mask) -> np.ndarray:
    """(S,) each key's share of all the attention in the matrix (every row is one query's 100%)."""
    weights, mask = _matrix(weights, mask)
    allowed = np.where(mask, np.nan_to_num(weights), 0.0)
    return allowed.sum(axis=0) / max(float(allowed.sum()), np.finfo(np.float32).tiny)


def without_keys(weights, mask, hidden) -> tuple[np.ndarray, np.ndarray]:
    """Drop the hidden key columns and renormalise every row to sum to 1 over the keys left.

    A row that gave all its attention to hidden keys has nothing left to show: it becomes NaN.
    """
    weights, mask = _matrix(weights, mask)
    hidden = np.asarray(hidden, dtype=bool)
    if hidden.shape != (weights.shape[1],):
        raise ValueError(f"hidden must have one entry per key ({weights.shape[1]}), got shape {hidden.shape}")
    kept = np.where(mask, np.nan_to_num(weights), 0.0)[:, ~hidden]
    totals = kept.sum(axis=1, keepdims=True)
    renormalised = np.divide(kept, totals, out=np.full_like(kept, np.nan), where=totals > 0)
    return renormalised.astype(np.float32), mask[:, ~hidden]



@dataclass(frozen=True)
class MosaicLayout:
    """Where each thumbnail sits in one big image: tiles in rows, one empty cell between them."""

    n_tiles: int
    n_cols: int
    tile_h: int
    tile_w: int
    gap: int = 1

    @property
    def n_rows(self) -> int:
        return -(-self.n_tiles // self.n_cols)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows * (self.tile_h + self.gap) - self.gap, self.n_cols * (self.tile_w + self.gap) - self.gap)

    def origin(self, index: int) -> tuple[int, int]:
        """(row, column) of a tile's top-left cell."""
        return (index // self.n_cols) * (self.tile_h + self.gap), (index % self.n_cols) * (self.tile_w + self.gap)

    def centre(self, index: int) -> tuple[float, float]:
        """(x, y) of a tile's centre, in the mosaic's cell coordinates."""
        top, left = self.origin(index)
        return left + (self.tile_w - 1) / 2, top + (self.tile_h - 1) / 2

    def tile_at(self, x: float, y: float) -> int | None:
        """The tile under a clicked point, or None for a gap or outside the mosaic."""
        column, across = divmod(round(x), self.tile_w + self.gap)
        row, down = divmod(round(y), self.tile_h + self.gap)
        index = row * self.n_cols + column
        inside = across < self.tile_w and down < self.tile_h and 0 <= column < self.n_cols and row >= 0
        return index if inside and index < self.n_tiles else None


def mosaic_layout(thumbs, n_cols: int) -> MosaicLayout:
    thumbs = np.asarray(thumbs)
    if thumbs.ndim != 3 or len(thumbs) == 0 or n_cols < 1:
        raise ValueError(f"thumbnails must be a non-empty (n, h, w) stack, got shape {thumbs.shape}")
    return MosaicLayout(len(thumbs), min(n_cols, len(thumbs)), thumbs.shape[1], thumbs.shape[2])


def tile_mosaic(thumbs, layout: MosaicLayout) -> np.ndarray:
    """One float32 image of every thumbnail, NaN in the gaps."""
    thumbs = np.asarray(thumbs, dtype=np.float32)
    if thumbs.shape != (layout.n_tiles, layout.tile_h, layout.tile_w):
        raise ValueError(f"thumbnails {thumbs.shape} do not fit the layout {layout}")
    image = np.full(layout.shape, np.nan, dtype=np.float32)
    for index, thumb in enumerate(thumbs):
        top, left = layout.origin(index)
        image[top : top + layout.tile_h, left : left + layout.tile_w] = thumb
    return image


# ---------------------------------------------------------------- figures



def _is_causal(mask: np.ndarray) -> bool:
    t, s = mask.shape
    return bool(np.array_equal(mask, np.tril(np.ones((t, s), dtype=bool), k=s - t)))


SCALES = ("linear", "row", "log")
LOG_FLOOR = 1e-4  # the log scale's lowest colour: weights below it look the same
INSTANT_HEADS_MAX_CELLS = 400_000  # above this (heads × T × S), only the shown head is sent
AXIS_LABELS_MAX = 40  # more tokens than this on an axis: label every k-th, and say so


def _display(weights: np.ndarray, mask: np.ndarray, scale: str) -> tuple[np.ndarray, float, float]:
    """The colour values for a (…, T, S) stack of weights under `scale`, with their colour range."""
    z = np.where(mask, weights, np.nan).astype(np.float32)
    if scale == "row":  # each query's largest weight is full colour: a row's pattern shows however flat it is
        peak = np.nanmax(np.where(np.isnan(z), -np.inf, z), axis=-1, keepdims=True)
        return np.divide(z, peak, out=np.full_like(z, np.nan), where=peak > 0).astype(np.float32), 0.0, 1.0
    if scale == "log":
        return np.log10(np.maximum(z, LOG_FLOOR)).astype(np.float32), float(np.log10(LOG_FLOOR)), 0.0
    return z, 0.0, 1.0


def make_attention_heatmap_figure(
    weights, mask, query_labels: Sequence[str], key_labels: Sequence[str], *, title: str = "",
    renormalised: bool = False, scale: str = "linear", head: int | None = None, head_titles: Sequence[str] = (),
    _: Translate = identity,
) -> go.Figure:
    """Queries on y, keys on x, each cell one attention weight; masked cells are grey, not zero.

    `weights` is one (T, S) matrix, or every head of a layer as (heads, T, S) with `head` the one shown
    first: then one trace per head and a row of buttons switch between them in the browser, with no
    round trip to the server (`head_titles` name each). `scale` colours the weights as they are
    ("linear"), divided by each row's largest ("row"), or as log10 ("log"); hover shows the true weight."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    stack = np.asarray(weights, dtype=np.float32)
    if stack.ndim == 3:
        if head is None or not 0 <= head < len(stack) or len(head_titles) != len(stack):
            raise ValueError("a (heads, T, S) stack needs the head shown first and a title per head")
    else:
        stack, head, head_titles = _matrix(weights, mask)[0][None], 0, [title]
    mask = np.asarray(mask, dtype=bool)
    _matrix(stack[0], mask)
    t, s = mask.shape
    ys, xs = checked_labels(query_labels, t, "the query axis"), checked_labels(key_labels, s, "the key axis")
    shown, zmin, zmax = _display(stack, mask, scale)
    what = _("weight, renormalised") if renormalised else _("weight")
    where = _("query") + " %{y}<br>" + _("key") + " %{x}<br>"
    colour_title = {"linear": what, "row": _("weight ÷ row's largest"), "log": _("{what} (log scale)").format(what=what)}[scale]
    fig = go.Figure()
    for index, (z, exact) in enumerate(zip(shown, stack)):
        fig.add_trace(go.Heatmap(
            z=z, x=xs, y=ys, zmin=zmin, zmax=zmax, colorscale=palette.current().weights, hoverongaps=False, name=f"head {index}",
            customdata=np.where(mask, exact, np.nan).astype(np.float32), visible=index == head,
            colorbar=dict(title=dict(text=colour_title, side="right"), **_log_ticks(scale)),
            hovertemplate=f"{where}{what} %{{customdata:.5f}}<extra></extra>",
        ))
    notes = []
    if not mask.all():
        reason = _("masked (future token)") if _is_causal(mask) else _("masked")
        fig.add_trace(go.Heatmap(
            z=np.where(mask, np.nan, 1.0).astype(np.float32), x=xs, y=ys, name="masked", showscale=False,
            colorscale=[[0, MASKED_COLOUR], [1, MASKED_COLOUR]], hoverongaps=False,
            hovertemplate=f"{where}{reason}<extra></extra>",
        ))
        notes.append(_("grey = masked: a token may not look at later tokens") if _is_causal(mask) else
                     _("grey = masked"))
    if renormalised:
        notes.append(_("rows renormalised to sum to 1 without the hidden tokens"))
    if scale != "linear":
        notes.append({"row": _("colour: each row divided by its largest weight"),
                      "log": _("colour: log₁₀ of the weight, from 10⁻⁴ to 1")}[scale])
    if len(stack) > 1:
        _add_head_buttons(fig, head_titles, head, has_mask=not mask.all())
    step = -(-max(t, s) // AXIS_LABELS_MAX)
    if step > 1:  # say which labels are shown, rather than letting Plotly drop some silently
        notes.append(_("every {step}th token labelled; hover shows each").format(step=step))
    fig.update_xaxes(type="category", title_text=token_axis_title(_("key (looked at)"), xs, _), automargin=True,
                     tickmode="array", tickangle=tick_angle(list(key_labels)[::step]), tickvals=xs[::step],
                     ticktext=xs[::step])
    fig.update_yaxes(type="category", autorange="reversed", title_text=token_axis_title(_("query (looking)"), ys, _),
                     automargin=True,
                     tickmode="array", tickvals=ys[::step], ticktext=ys[::step])
    fig.update_layout(
        title=dict(text=plotly_text(head_titles[head]), subtitle=dict(text="; ".join(notes))),
        height=int(np.clip(240 + 22 * t, 400, 990)), margin=dict(l=10, r=10, t=140 if len(stack) > 1 else 80, b=10),
        plot_bgcolor="white",
    )
    return fig


UPRIGHT_WIDTH = 72  # key labels this wide together (a CJK character counts two) stand upright under a heat map


def _width(label: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in label)


def tick_angle(labels: Sequence[str]) -> int:
    """The key axis's tick angle: upright where the labels fit side by side, or are Chinese words of one or two
    characters (turned, 一 reads as "/"), else slanted."""
    short_cjk = all(0 < _width(label) <= 4 and all(_width(char) == 2 for char in label) for label in labels
                    if label not in SPECIAL_LABELS)
    return 0 if sum(_width(label) + 1 for label in labels) <= UPRIGHT_WIDTH or short_cjk else -60


SPECIAL_LABELS = ("<s>", "</s>", "<bos>", "[CLS]", "[SEP]")  # short markers that fit beside Chinese words


def _log_ticks(scale: str) -> dict:
    """The log scale's colour bar in powers of ten (10⁻⁴ … 1), not the exponents −4 … 0."""
    if scale != "log":
        return {}
    exponents = range(round(np.log10(LOG_FLOOR)), 1)
    return dict(tickmode="array", tickvals=list(exponents), ticktext=[power_of_ten(e) for e in exponents])


IMAGE_FROM_CELLS = 160 * 160  # a larger matrix goes to the browser as one PNG image, not as numbers
IMAGE_MAX_SIDE = 1024  # pixels; a longer text is pooled (block maxima, so a sharp peak stays visible)


def _colour_table(name: str | None = None) -> np.ndarray:
    """(256, 3) uint8: the colour scale sampled at 256 levels (the current palette's by default), for
    colouring an image in numpy."""
    stops = get_colorscale(name or palette.current().weights)
    positions = np.array([position for position, _ in stops])
    # A scale's stops come as "rgb(…)" (Blues) or as hex (Viridis): both become (r, g, b) in 0–1.
    colours = np.array(convert_colors_to_same_type([colour for _, colour in stops], "tuple")[0]) * 255
    levels = np.linspace(0, 1, 256)
    return np.stack([np.interp(levels, positions, colours[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


def _pool(values: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Block maxima of a (T, S) array with NaN where masked; NaN where a whole block is masked."""
    t, s = values.shape
    padded = np.full((-(-t // fy) * fy, -(-s // fx) * fx), np.nan, dtype=np.float32)
    padded[:t, :s] = values
    blocks = padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx)
    empty = np.isnan(blocks).all(axis=(1, 3))
    pooled = np.where(np.isnan(blocks), -np.inf, blocks).max(axis=(1, 3))
    return np.where(empty, np.nan, pooled).astype(np.float32)


def attention_image(weights, mask, scale: str = "linear") -> tuple[np.ndarray, int, int]:
    """The (h, w, 3) uint8 picture of a (T, S) attention matrix, pooled to at most IMAGE_MAX_SIDE pixels a
    side, masked cells grey; and the pooling factors (tokens per pixel) along each axis."""
    weights, mask = _matrix(weights, mask)
    shown, zmin, zmax = _display(weights, mask, scale)
    levels = (shown - zmin) / (zmax - zmin)
    fy, fx = -(-weights.shape[0] // IMAGE_MAX_SIDE), -(-weights.shape[1] // IMAGE_MAX_SIDE)
    pooled = _pool(levels, fy, fx) if fy * fx > 1 else levels
    index = (np.clip(np.nan_to_num(pooled), 0, 1) * 255).round().astype(np.uint8)
    rgb = _colour_table()[index]
    rgb[np.isnan(pooled)] = [int(MASKED_COLOUR[i : i + 2], 16) for i in (1, 3, 5)]
    return rgb, fy, fx


def make_attention_image_figure(
    weights, mask, query_labels: Sequence[str], key_labels: Sequence[str], *, title: str = "",
    scale: str = "linear", _: Translate = identity,
) -> go.Figure:
    """A long text's attention matrix as one compressed image (a 2048 × 2048 matrix is a few hundred KB,
    not tens of MB of numbers), every k-th token labelled; exact values belong to a zoomed heat map."""
    weights, mask = _matrix(weights, mask)
    t, s = weights.shape
    ys, xs = checked_labels(query_labels, t, "the query axis"), checked_labels(key_labels, s, "the key axis")
    rgb, fy, fx = attention_image(weights, mask, scale)
    fig = px.imshow(rgb, binary_string=True, binary_compression_level=6)
    fig.update_traces(hoverinfo="skip", hovertemplate=None)
    step = -(-max(t, s) // AXIS_LABELS_MAX)
    rows, cols = np.arange(0, t, step), np.arange(0, s, step)
    fig.update_xaxes(tickmode="array", tickvals=cols / fx, ticktext=[xs[i] for i in cols],
                     tickangle=tick_angle([key_labels[i] for i in cols]),
                     title_text=token_axis_title(_("key (looked at)"), xs, _))
    fig.update_yaxes(tickmode="array", tickvals=rows / fy, ticktext=[ys[i] for i in rows],
                     title_text=token_axis_title(_("query (looking)"), ys, _))
    notes = [_("{t} × {s} tokens as an image; every {step}th token labelled").format(t=t, s=s, step=step)]
    if fy * fx > 1:
        notes.append(_("each pixel the largest of {rows} × {cols} weights").format(rows=fy, cols=fx))
    if scale != "linear":
        notes.append({"row": _("colour: each row divided by its largest weight"),
                      "log": _("colour: log₁₀ of the weight, from 10⁻⁴ to 1")}[scale])
    fig.update_layout(title=dict(text=plotly_text(title), subtitle=dict(text="; ".join(notes))),
                      height=int(np.clip(200 + rgb.shape[0], 500, 900)), margin=dict(l=10, r=10, t=80, b=10))
    return fig


def _add_head_buttons(fig: go.Figure, head_titles: Sequence[str], head: int, has_mask: bool) -> None:
    """One button per head ("h0", "h1", … as the thumbnails name them): a click shows that head's trace and title,
    in the browser alone. The row is centred over the plot: on a phone it then reaches over the axis labels and
    the colour bar instead of running off the right edge."""
    n = len(head_titles)
    buttons = [dict(label=f"h{h}", method="update",
                    args=[{"visible": [i == h for i in range(n)] + ([True] if has_mask else [])},
                          {"title.text": plotly_text(title)}])
               for h, title in enumerate(head_titles)]
    fig.update_layout(updatemenus=[dict(type="buttons", direction="right", buttons=buttons, active=head,
                                        showactive=True, x=0.5, xanchor="center", y=1.0, yanchor="bottom",
                                        pad=dict(t=4, b=4), font=dict(size=12))])


def make_attention_lines_figure(
    weights, mask, query_labels: Sequence[str], key_labels: Sequence[str], *, query: int | None = None,
    title: str = "", _: Translate = identity,
) -> go.Figure:
    """Queries on the left, keys on the right, a line for each weight with opacity = weight.

    With `query`, only that query's lines; otherwise every query's. Lines are grouped into
    LINE_LEVELS opacity steps, so a long text stays a handful of traces (Plotly builds each
    trace slowly); the exact weights are in the heat map and the row chart.
    """
    weights, mask = _matrix(weights, mask)
    t, s = weights.shape
    queries, keys = checked_labels(query_labels, t, "the query column"), checked_labels(key_labels, s, "the key column")
    if query is not None and not 0 <= query < t:
        raise ValueError(f"query {query} is outside 0..{t - 1}")
    drawn = np.where(mask, np.nan_to_num(weights), 0.0)
    if query is not None:
        drawn = np.where(np.arange(t)[:, None] == query, drawn, 0.0)
    fig = go.Figure()
    _add_line_levels(fig, drawn, width=2 if query is None else 4)
    query_text = [f"<b>{q}</b>" if i == query else q for i, q in enumerate(queries)]
    fig.add_trace(go.Scatter(x=[0] * t, y=-np.arange(t), mode="text", text=query_text, name="queries",
                             textposition="middle left", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[1] * s, y=-np.arange(s), mode="text", text=keys, name="keys",
                             textposition="middle right", hoverinfo="skip"))
    rows = max(t, s)
    fig.update_xaxes(visible=False, range=[-0.9, 1.9], fixedrange=True)
    fig.update_yaxes(visible=False, range=[-rows + 0.5, 0.5], fixedrange=True)
    fig.update_layout(title=plotly_text(title) or None, showlegend=False, plot_bgcolor="white",
                      height=int(np.clip(80 + 22 * rows, 260, 1400)), margin=dict(l=10, r=10, t=50, b=10),
                      annotations=[dict(x=0, y=1, xref="x", yref="y", text=_("query"), showarrow=False),
                                   dict(x=1, y=1, xref="x", yref="y", text=_("key"), showarrow=False)])
    return fig


def _add_line_levels(fig: go.Figure, drawn: np.ndarray, width: int) -> None:
    levels = np.round(drawn * LINE_LEVELS).astype(int)
    for level in range(1, LINE_LEVELS + 1):
        queries, keys = np.nonzero(levels == level)
        if len(queries) == 0:
            continue
        x = np.tile([0.0, 1.0, np.nan], len(queries))
        y = np.column_stack([-queries, -keys, np.full(len(queries), np.nan)]).ravel()
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="attention", opacity=level / LINE_LEVELS,
                                 line=dict(color=palette.current().line, width=width), hoverinfo="skip"))


def make_attention_row_figure(row, row_mask, key_labels: Sequence[str], *, title: str = "", subtitle: str = "",
                              _: Translate = identity) -> go.Figure:
    """One query's weights over the keys it may see, as bars: where does this token look?"""
    row, row_mask = np.asarray(row, dtype=np.float32), np.asarray(row_mask, dtype=bool)
    if row.ndim != 1 or row_mask.shape != row.shape:
        raise ValueError(f"row and row_mask must both be (S,), got {row.shape} and {row_mask.shape}")
    keys = checked_labels(key_labels, len(row), "the key axis")
    shown = row_mask & np.isfinite(row)
    fig = go.Figure(go.Bar(
        x=[k for k, keep in zip(keys, shown) if keep], y=row[shown], marker_color=palette.current().line, name="weight",
        hovertemplate=_("key") + " %{x}<br>" + _("weight") + " %{y:.5f}<extra></extra>",
    ))
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_yaxes(range=[0, 1], title_text=_("weight"))
    fig.update_layout(title=dict(text=plotly_text(title), subtitle=dict(text=plotly_text(subtitle))),
                      height=340, margin=dict(l=10, r=10, t=70))
    return fig


def make_attention_mosaic_figure(
    thumbs, layout: MosaicLayout, *, tile_names: Sequence[str], row_labels: Sequence[str],
    col_labels: Sequence[str], current: int | None = None, title: str = "", tile_px: int = 40,
    _: Translate = identity,
) -> go.Figure:
    """Every thumbnail in one heat map (a single trace, so 270 heads stay fast), framed current
    tile, and an invisible marker on each tile's centre so a click can say which one it was."""
    image = tile_mosaic(thumbs, layout)
    names = checked_labels(tile_names, layout.n_tiles, "the tiles")
    rows = checked_labels(row_labels, layout.n_rows, "the mosaic rows")
    cols = checked_labels(col_labels, layout.n_cols, "the mosaic columns")
    centres = np.array([layout.centre(i) for i in range(layout.n_tiles)], dtype=np.float32)
    fig = go.Figure(go.Heatmap(z=image, zmin=0, zmax=1, colorscale=palette.current().weights, showscale=False, hoverinfo="skip",
                               name="thumbnails"))
    # Masked cells are grey inside each tile; the gaps between tiles stay white.
    inside = tile_mosaic(np.zeros_like(np.asarray(thumbs, dtype=np.float32)), layout) == 0
    fig.add_trace(go.Heatmap(z=np.where(inside & np.isnan(image), 1.0, np.nan).astype(np.float32), showscale=False,
                             colorscale=[[0, MASKED_COLOUR], [1, MASKED_COLOUR]], hoverinfo="skip", name="masked"))
    fig.add_trace(go.Scatter(x=centres[:, 0], y=centres[:, 1], mode="markers", name="tiles", text=names,
                             marker=dict(size=max(6, tile_px // 2), symbol="square", opacity=0),
                             hovertemplate="%{text}<extra>" + _("click to open") + "</extra>"))
    if current is not None:
        top, left = layout.origin(current)
        fig.add_shape(type="rect", x0=left - 0.5, x1=left + layout.tile_w - 0.5, y0=top - 0.5,
                      y1=top + layout.tile_h - 0.5, line=dict(color=palette.current().highlight, width=3))
    step_x, step_y = layout.tile_w + layout.gap, layout.tile_h + layout.gap
    fig.update_xaxes(tickmode="array", tickvals=[c * step_x + (layout.tile_w - 1) / 2 for c in range(layout.n_cols)],
                     ticktext=cols, side="top", showgrid=False, zeroline=False, fixedrange=True)
    fig.update_yaxes(tickmode="array", tickvals=[r * step_y + (layout.tile_h - 1) / 2 for r in range(layout.n_rows)],
                     ticktext=rows, autorange="reversed", showgrid=False, zeroline=False, fixedrange=True,
                     scaleanchor="x", constrain="domain")
    fig.update_layout(title=plotly_text(title) or None, showlegend=False, plot_bgcolor="white",
                      hoverdistance=-1, hovermode="closest",
                      height=int(np.clip(90 + tile_px * layout.n_rows, 200, 1200)), margin=dict(l=10, r=10, t=70, b=10),
                      width=int(max(320, 60 + tile_px * layout.n_cols)))
    return fig
