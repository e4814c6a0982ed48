"""One configuration for every architecture the core builds.

The classic Transformer, BERT and Llama differ only in a handful of choices
(where positions come from, which norm and where, which activation, how many
key/value heads). They are knobs here, not separate model classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Architecture = Literal["encoder", "decoder", "encoder-decoder"]
PositionalKind = Literal["sinusoidal", "learned", "rope", "none"]
NormKind = Literal["layernorm", "rmsnorm"]
NormPlacement = Literal["pre", "post"]
Activation = Literal["relu", "gelu", "gelu_tanh", "swiglu"]


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
    positional: PositionalKind = "rope"
    rope_base: float = 10000.0
    norm: NormKind = "layernorm"
    norm_placement: NormPlacement = "pre"
    norm_eps: float = 1e-5
    embedding_norm: bool = False  # BERT normalises the summed embeddings
    final_norm: bool = True
    activation: Activation = "gelu"
    bias: bool = True
    type_vocab_size: int = 0  # BERT's segment (token type) embeddings
    scale_embeddings: bool = False  # "Attention Is All You Need" multiplies by sqrt(d_model)
    tie_embeddings: bool = False
    lm_head: bool = True  # a vocabulary projection on top (decoders); encoders stop at hidden states

    def __post_init__(self) -> None:
        positive = {
            "vocab_size": self.vocab_size,
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "d_ff": self.d_ff,
            "max_positions": self.max_positions,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
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

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

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
