"""The Transformer block: attention, add & norm, feed-forward, add & norm.

Pre-norm (GPT-2, Llama):  x = x + sublayer(norm(x))
Post-norm (the paper, BERT): x = norm(x + sublayer(x))
Sandwich (Gemma 2/3):      x = x + post_norm(sublayer(norm(x)))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.engine.attention import HeadAblation, KVCache, MultiHeadAttention
from core.engine.config import ModelConfig
from core.engine.layout import fuse
from core.engine.norms import RMSNorm, make_norm
from core.engine.positional import Rotary
from core.record.trace import FeedForwardRecord, LayerRecord

_ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "swiglu": F.silu,  # SwiGLU = silu(gate) * up
}

__all__ = ["Block", "FeedForward", "RMSNorm", "make_norm"]


class FeedForward(nn.Module):
    """Two projections with a non-linearity between; gated ones (SwiGLU, GeGLU) add an "up" projection
    that multiplies the activation element-wise."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gated = config.is_gated
        self.activation = _ACTIVATIONS[config.activation]
        self.fc_in = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.fc_up = nn.Linear(config.d_model, config.d_ff, bias=config.bias) if self.gated else None
        self.fc_out = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        # fc_in and fc_up in one matrix, once `fuse` has run (buffers: .to() moves them with the parameters)
        self.register_buffer("gate_up_weight", None, persistent=False)
        self.register_buffer("gate_up_bias", None, persistent=False)

    def fuse(self) -> None:
        """Read the gate and up projections from one matrix (core/engine/layout.py)."""
        self.gate_up_weight, self.gate_up_bias = fuse([self.fc_in, self.fc_up])

    def forward(self, x: torch.Tensor, capture: bool = False) -> tuple[torch.Tensor, FeedForwardRecord | None]:
        if self.gate_up_weight is not None:
            pre, up = F.linear(x, self.gate_up_weight, self.gate_up_bias).chunk(2, dim=-1)  # (B, T, f) each
        else:
            pre = self.fc_in(x)  # (B, T, f)
            up = self.fc_up(x) if self.gated else None  # (B, T, f)
        act = self.activation(pre) if up is None else self.activation(pre) * up  # (B, T, f)
        out = self.fc_out(act)  # (B, T, d)
        return out, FeedForwardRecord(pre=pre, act=act, out=out, up=up) if capture else None


class Block(nn.Module):
    """Self-attention, optional cross-attention (encoder-decoder's decoder), feed-forward.

    Each sub-layer is a method of the residual stream before it, so that a trace can run one again
    on its recorded input and get what the forward pass computed (core/runtime/replay.py)."""

    def __init__(self, config: ModelConfig, cross_attention: bool = False):
        super().__init__()
        self.pre_norm = config.norm_placement == "pre"
        self.self_attn = MultiHeadAttention(config)
        self.attn_norm = make_norm(config)
        self.attn_post_norm = make_norm(config) if config.sandwich_norm else None
        self.cross_attn = MultiHeadAttention(config) if cross_attention else None
        self.cross_norm = make_norm(config) if cross_attention else None
        self.mlp = FeedForward(config)
        self.mlp_norm = make_norm(config)
        self.mlp_post_norm = make_norm(config) if config.sandwich_norm else None

    def _sublayer(
        self, x: torch.Tensor, norm: nn.Module, run, post_norm: nn.Module | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, object, torch.Tensor | None]:
        """Returns (new residual stream, norm output, sub-layer record, post-norm output or None)."""
        if self.pre_norm:
            normed = norm(x)
            out, record = run(normed)
            posted = None if post_norm is None else post_norm(out)  # (B, T, d) what the residual stream receives
            return x + (out if posted is None else posted), normed, record, posted
        out, record = run(x)
        normed = norm(x + out)
        return normed, normed, record, None

    def attention_input(self, x: torch.Tensor, cross: bool = False) -> torch.Tensor:
        """What the (cross-)attention projects: its norm of x (pre-norm), or x itself (post-norm)."""
        if not self.pre_norm:
            return x
        return self.cross_norm(x) if cross else self.attn_norm(x)

    def self_attention(self, x, allowed, rotary=None, capture=False, cache: KVCache | None = None,
                       ablation: HeadAblation | None = None):
        return self._sublayer(
            x, self.attn_norm,
            lambda h: self.self_attn(h, allowed, rotary=rotary, capture=capture, cache=cache, ablation=ablation),
            self.attn_post_norm,
        )

    def cross_attention(self, x, memory, memory_allowed, capture=False):
        return self._sublayer(x, self.cross_norm, lambda h: self.cross_attn(h, memory_allowed, memory=memory,
                                                                            capture=capture))

    def feed_forward(self, x, capture=False):
        return self._sublayer(x, self.mlp_norm, lambda h: self.mlp(h, capture=capture), self.mlp_post_norm)

    def forward(
        self,
        x: torch.Tensor,
        allowed: torch.Tensor | None,
        rotary: Rotary | None = None,
        memory: torch.Tensor | None = None,
        memory_allowed: torch.Tensor | None = None,
        capture: bool = False,
        cache: KVCache | None = None,
        ablation: HeadAblation | None = None,
    ) -> tuple[torch.Tensor, LayerRecord | None]:
        resid_pre = x
        x, attn_norm, attn, attn_post_norm = self.self_attention(x, allowed, rotary, capture, cache, ablation)
        resid_mid = x
        cross_norm = cross = resid_cross = None
        if self.cross_attn is not None:
            x, cross_norm, cross, _ = self.cross_attention(x, memory, memory_allowed, capture)
            resid_cross = x
        x, mlp_norm, mlp, mlp_post_norm = self.feed_forward(x, capture)
        if not capture:
            return x, None
        record = LayerRecord(
            resid_pre=resid_pre,
            attn_norm=attn_norm,
            self_attn=attn,
            attn_post_norm=attn_post_norm,
            resid_mid=resid_mid,
            mlp_norm=mlp_norm,
            mlp=mlp,
            mlp_post_norm=mlp_post_norm,
            resid_post=x,
            cross_norm=cross_norm,
            cross_attn=cross,
            resid_cross=resid_cross,
        )
        return x, record
