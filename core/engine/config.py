"""One configuration for every architecture the core builds.

The classic Transformer, BERT, Llama and Gemma differ only in a handful of choices
(where positions come from, which norm and where, which activation, how many
key/value heads, which layers see the whole text and which a sliding window).
They are knobs here, not separate model classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Architecture = Literal["encoder", "decoder", "encoder-decoder"]
PositionalKind = Literal["sinusoidal", "learned", "rope", "none"]
NormKind = Literal["layernorm", "rmsnorm"]
NormPlacement = Literal["pre", "post"]
Activation = Literal["relu", "gelu", "gelu_tanh", "silu", "swiglu"]  # "swiglu": silu, gated (Llama's name)
LayerKind = Literal["global", "sliding"]  # attend to every earlier token, or only to the last `sliding_window`

LAYER_KINDS = ("global", "sliding")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    max_positions: int
    architecture: Architecture = "decoder"
    n_kv_heads: int | None = None  # None: one key/value head per query head
    n_encoder_layers: int | None = None  # encoder-decoder only; None: same as n_layers
    # Width of each attention head. None: d_model // n_heads. Gemma 3 270M has 4 heads of 256 on d_model 640:
    # queries are projected up to 1024 and the output projection brings them back to 640.
    head_dim: int | None = None
    positional: PositionalKind = "rope"
    rope_base: float = 10000.0
    norm: NormKind = "layernorm"
    norm_placement: NormPlacement = "pre"
    norm_eps: float = 1e-5
    # Gemma's RMSNorm scales by (1 + w), computed in float32, so a weight of 0 is the identity.
    norm_unit_offset: bool = False
    # Gemma 2/3 "sandwich": a second norm on each sub-layer's output, before it is added to the residual stream.
    sandwich_norm: bool = False
    qk_norm: bool = False  # RMSNorm over head_dim on every query and key head, before rotary (Gemma 3)
    embedding_norm: bool = False  # BERT normalises the summed embeddings
    final_norm: bool = True
    activation: Activation = "gelu"
    gated: bool = False  # feed-forward act(x W_gate) * (x W_up): GeGLU with gelu_tanh, SwiGLU with silu
    bias: bool = True
    type_vocab_size: int = 0  # BERT's segment (token type) embeddings
    scale_embeddings: bool = False  # "Attention Is All You Need" and Gemma multiply by sqrt(d_model)
    tie_embeddings: bool = False
    lm_head: bool = True  # a vocabulary projection on top (decoders); encoders stop at hidden states
    # Multiplies Q K^T. None: 1/sqrt(head_dim). Gemma: query_pre_attn_scalar ** -0.5.
    attn_scale: float | None = None
    final_logit_softcap: float | None = None  # logits = cap * tanh(logits / cap) (Gemma 2); None: no cap
    # Per-layer attention kind, one entry per layer of the main stack. None: every layer is "global".
    layer_types: tuple[LayerKind, ...] | None = None
    sliding_window: int | None = None  # keys a "sliding" layer sees, the query's own included
    rope_local_base: float | None = None  # rotary base of "sliding" layers; None: rope_base

    def __post_init__(self) -> None:
        if self.head_dim is None:
            if self.n_heads > 0 and self.d_model % self.n_heads:
                raise ValueError(
                    f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; give head_dim explicitly"
                )
            # Frozen dataclass: resolve the default once, so every reader sees a number.
            object.__setattr__(self, "head_dim", self.d_model // max(self.n_heads, 1))
        positive = {
            "vocab_size": self.vocab_size,
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "head_dim": self.head_dim,
            "d_ff": self.d_ff,
            "max_positions": self.max_positions,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.kv_heads}")
        if self.positional == "rope" and self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size, got {self.head_dim}")
        if self.architecture == "encoder" and self.lm_head:
            raise ValueError("an encoder has no language-model head; set lm_head=False")
        if self.n_encoder_layers is not None and self.architecture != "encoder-decoder":
            raise ValueError("n_encoder_layers is only meaningful for an encoder-decoder")
        if self.tie_embeddings and not self.lm_head:
            raise ValueError("tie_embeddings needs an lm_head")
        if self.sandwich_norm and self.norm_placement != "pre":
            raise ValueError("sandwich_norm adds a norm after each sub-layer of a pre-norm block; set norm_placement='pre'")
        if self.norm_unit_offset and self.norm != "rmsnorm":
            raise ValueError("norm_unit_offset is Gemma's RMSNorm; set norm='rmsnorm'")
        for name in ("attn_scale", "final_logit_softcap", "rope_local_base"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value}")
        if self.final_logit_softcap is not None and not self.lm_head:
            raise ValueError("final_logit_softcap needs an lm_head")
        if self.rope_local_base is not None and self.positional != "rope":
            raise ValueError("rope_local_base needs positional='rope'")
        self._check_layer_types()

    def _check_layer_types(self) -> None:
        if self.layer_types is not None:
            if len(self.layer_types) != self.n_layers:
                raise ValueError(f"layer_types has {len(self.layer_types)} entries for {self.n_layers} layers")
            unknown = set(self.layer_types) - set(LAYER_KINDS)
            if unknown:
                raise ValueError(f"unknown layer types {sorted(unknown)}; choose from {LAYER_KINDS}")
        sliding = "sliding" in self.layer_kinds
        if sliding and self.architecture != "decoder":
            raise ValueError("sliding-window layers are for decoders (the window looks back from each query)")
        if sliding != (self.sliding_window is not None):
            raise ValueError("sliding_window is needed exactly when some layer is 'sliding'")
        if self.sliding_window is not None and self.sliding_window <= 0:
            raise ValueError(f"sliding_window must be positive, got {self.sliding_window}")

    @property
    def layer_kinds(self) -> tuple[LayerKind, ...]:
        """The attention kind of every layer of the main stack."""
        return self.layer_types if self.layer_types is not None else ("global",) * self.n_layers

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def encoder_layers(self) -> int:
        return self.n_encoder_layers or self.n_layers

    @property
    def is_causal(self) -> bool:
        """Whether the main (output-producing) stack masks the future."""
        return self.architecture != "encoder"

    @property
    def is_gated(self) -> bool:
        """Whether the feed-forward multiplies its activation by a second ("up") projection."""
        return self.gated or self.activation == "swiglu"

    @property
    def scale(self) -> float:
        """What Q K^T is multiplied by before the softmax."""
        return self.attn_scale if self.attn_scale is not None else 1.0 / math.sqrt(self.head_dim)

    def rope_base_of(self, kind: LayerKind) -> float:
        if kind == "sliding" and self.rope_local_base is not None:
            return self.rope_local_base
        return self.rope_base
