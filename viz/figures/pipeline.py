"""The whole model as one picture: text → tokens → embeddings → N blocks → output, with its real sizes.

`make_pipeline_figure` takes a model configuration (anything with the fields of
`core.engine.config.ModelConfig`) and draws one column per stack: an encoder stops at
hidden states, a decoder ends in a softmax over its vocabulary, and an
encoder-decoder draws both with the cross-attention that joins them.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from core.errors import N_

from ..i18n import Translate, identity
from .text import plotly_text

ROW = 1.0  # vertical distance between stages, in data units
LABEL_ROW = 0.6  # the space a repeated block's label takes above its first stage
COLOURS = {"io": "#f2f2f2", "embed": "#dbe9f6", "attn": "#fde2c8", "norm": "#ececec", "ff": "#dcefd9", "head": "#eadcf2"}
POSITIONS = {
    "sinusoidal": N_("+ sin/cos positions"),
    "learned": N_("+ learned positions"),
    "rope": N_("rotary (RoPE) positions"),
    "none": N_("no positions"),
}
ACTIVATIONS = {"relu": "ReLU", "gelu": "GELU", "gelu_tanh": "GELU", "silu": "SiLU", "swiglu": "SwiGLU"}
GATED = {"gelu": "GeGLU", "gelu_tanh": "GeGLU", "silu": "SwiGLU", "swiglu": "SwiGLU", "relu": "ReGLU"}
ARCHITECTURES = ("encoder", "decoder", "encoder-decoder")


@dataclass(frozen=True)
class Stage:
    """Title and detail are English templates, translated when drawn; `fields` fill the detail."""

    title: str
    detail: str
    kind: str  # a key of COLOURS
    fields: tuple[tuple[str, object], ...] = ()

    def text(self, _: Translate) -> tuple[str, str]:
        fields = {name: _(value) if isinstance(value, str) else value for name, value in self.fields}
        return _(self.title), _(self.detail).format(**fields)


@dataclass(frozen=True)
class Repeat:
    times: int
    label: str  # a template with {n}
    stages: tuple[Stage, ...]


def _check(config) -> None:
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {config.architecture!r}; expected one of {ARCHITECTURES}")
    for field in ("n_layers", "n_heads", "d_model", "d_ff", "vocab_size"):
        if int(getattr(config, field)) <= 0:
            raise ValueError(f"{field} must be positive, got {getattr(config, field)}")


def _attention(config, title: str) -> Stage:
    fields = (("heads", config.n_heads), ("dims", config.head_dim), ("kv", config.kv_heads))
    if config.kv_heads != config.n_heads:
        return Stage(title, N_("{heads} heads × {dims} dims, {kv} shared key/value heads"), "attn", fields)
    return Stage(title, N_("{heads} heads × {dims} dims"), "attn", fields)


def _add_norm(config) -> Stage:
    norm = (("norm", "RMSNorm" if config.norm == "rmsnorm" else "LayerNorm"),)
    if config.norm_placement == "pre":
        return Stage(N_("Add & norm"), N_("residual add; {norm} before each sub-layer"), "norm", norm)
    return Stage(N_("Add & norm"), N_("residual add, then {norm}"), "norm", norm)


def _block(config, causal: bool, cross: bool) -> tuple[Stage, ...]:
    attention = [_attention(config, N_("Masked self-attention") if causal else N_("Self-attention (sees both sides)")),
                 _add_norm(config)]
    if cross:
        attention += [Stage(CROSS_ATTENTION, N_("queries here, keys & values from the encoder"), "attn"),
                      _add_norm(config)]
    ff = Stage(N_("Feed-forward"), "{d} → {f} → {d}, {activation}", "ff",
               (("d", config.d_model), ("f", config.d_ff),
                ("activation", _activation_name(config))))
    return (*attention, ff, _add_norm(config))


def _activation_name(config) -> str:
    names = GATED if getattr(config, "is_gated", False) else ACTIVATIONS
    return names.get(config.activation, config.activation)


def _inputs(config, text: str, what: str) -> list[Stage]:
    return [
        Stage(text, what, "io"),
        Stage(N_("Tokens"), N_("ids from a vocabulary of {vocab:,}"), "io", (("vocab", config.vocab_size),)),
        Stage(N_("Embeddings + positions"), N_("{d} numbers per token; {positions}"), "embed",
              (("d", config.d_model), ("positions", POSITIONS[config.positional]))),
    ]


def _head(config) -> list[Stage]:
    sizes = (("d", config.d_model), ("vocab", config.vocab_size))
    return [
        Stage(N_("Linear"), N_("{d} → {vocab:,}: one score (logit) per token"), "head", sizes),
        Stage(N_("Softmax"), N_("probabilities over {vocab:,} tokens"), "head", sizes),
        Stage(N_("Next token"), N_("pick one, append it, run again"), "io"),
    ]


def pipeline_columns(config) -> list[list[Stage | Repeat]]:
    """The stages of each stack, top to bottom: one column, or two for an encoder-decoder."""
    _check(config)
    n, d = config.n_layers, (("d", config.d_model),)
    if config.architecture == "encoder":
        return [[*_inputs(config, N_("Text"), N_("the whole sentence at once")),
                 Repeat(n, N_("× {n} encoder blocks"), _block(config, causal=False, cross=False)),
                 Stage(N_("Hidden states"), N_("{d} numbers per token; no vocabulary softmax"), "io", d),
                 Stage(N_("Sentence embedding"), N_("mean over tokens → {d} numbers"), "io", d)]]
    if config.architecture == "decoder":
        return [[*_inputs(config, N_("Text"), N_("the sentence so far")),
                 Repeat(n, N_("× {n} decoder blocks"), _block(config, causal=True, cross=False)),
                 *_head(config)]]
    m = config.encoder_layers
    encoder = [*_inputs(config, N_("Source text"), N_("the sentence to transform")),
               Repeat(m, N_("× {n} encoder blocks"), _block(config, causal=False, cross=False)),
               Stage(ENCODER_OUTPUT, N_("{d} numbers per source token"), "io", d)]
    decoder = [*_inputs(config, N_("Output so far"), N_("starts with the start token <s>")),
               Repeat(n, N_("× {n} decoder blocks"), _block(config, causal=True, cross=True)),
               *_head(config)]
    return [encoder, decoder]


ENCODER_OUTPUT, CROSS_ATTENTION = N_("Encoder output"), N_("Cross-attention")


def _draw_box(fig: go.Figure, x: float, y: float, width: float, stage: Stage, _: Translate,
              height: float = 0.72) -> None:
    fig.add_shape(type="rect", x0=x - width / 2, x1=x + width / 2, y0=y - height / 2, y1=y + height / 2,
                  fillcolor=COLOURS[stage.kind], line=dict(color="#555", width=1), layer="below")
    # "<s>" (the start token) would otherwise strike the rest through.
    title, detail = (plotly_text(part) for part in stage.text(_))
    # The detail in the annotation's own size and the title relative to it: a presenter's larger type scales both.
    fig.add_annotation(x=x, y=y, text=f"<b><span style='font-size:1.2em'>{title}</span></b><br>{detail}",
                       showarrow=False, font=dict(size=11, color="#222"))


def _arrow(fig: go.Figure, x: float, y_from: float, y_to: float, x_from: float | None = None) -> None:
    fig.add_annotation(x=x, y=y_to, ax=x if x_from is None else x_from, ay=y_from, xref="x", yref="y",
                       axref="x", ayref="y", text="", showarrow=True, arrowhead=2, arrowsize=1.2, arrowcolor="#555")


def _draw_column(fig: go.Figure, items: list[Stage | Repeat], x: float, width: float,
                 _: Translate) -> dict[str, float]:
    """Draw one stack downward from y=0; returns the y of stages other columns connect to."""
    y, previous_bottom, anchors = 0.0, None, {}
    for item in items:
        if isinstance(item, Repeat):
            top = y + ROW / 2
            label = plotly_text(_(item.label).format(n=item.times))
            fig.add_annotation(x=x - width / 2 + 0.01, y=y + 0.13, text=f"<b>{label}</b>",
                               showarrow=False, xanchor="left", font=dict(size=13, color="#a33"))
            y -= LABEL_ROW
            stages = item.stages
        else:
            top, stages = None, (item,)
        for stage in stages:
            inner = width * (0.86 if top is not None else 1.0)
            if previous_bottom is not None:
                _arrow(fig, x, previous_bottom, y + 0.36)
            _draw_box(fig, x, y, inner, stage, _)
            anchors.setdefault(stage.title, y)
            previous_bottom, y = y - 0.36, y - ROW
        if top is not None:
            fig.add_shape(type="rect", x0=x - width / 2, x1=x + width / 2, y0=y + ROW / 2 - 0.05, y1=top,
                          line=dict(color="#a33", width=1.5, dash="dash"), layer="below")
            y -= 0.2
    anchors["bottom"] = y
    return anchors


def make_pipeline_figure(config, _: Translate = identity) -> go.Figure:
    """Boxes and arrows for the model described by `config` (a `ModelConfig`), its words translated by `_`."""
    columns = pipeline_columns(config)
    width = 0.8 if len(columns) == 1 else 0.46
    centres = [0.5] if len(columns) == 1 else [0.25, 0.75]
    fig = go.Figure()
    anchors = [_draw_column(fig, items, x, width, _) for items, x in zip(columns, centres)]
    if len(columns) == 2:
        # The encoder's output feeds every decoder block's cross-attention.
        _arrow(fig, centres[1] - width * 0.43, anchors[0][ENCODER_OUTPUT], anchors[1][CROSS_ATTENTION],
               x_from=centres[0] + width / 2)
    lowest = min(a["bottom"] for a in anchors) + ROW / 2  # "bottom" is the slot below the last stage
    top = ROW / 2 + 0.1
    fig.update_xaxes(visible=False, range=[0, 1], fixedrange=True)
    fig.update_yaxes(visible=False, range=[lowest, top], fixedrange=True)
    fig.update_layout(height=int(62 * (top - lowest)) + 20, margin=dict(l=0, r=0, t=10, b=10),
                      plot_bgcolor="white", showlegend=False)
    return fig
