"""The Transformer block: attention, add & norm, feed-forward, add & norm.

Pre-norm (GPT-2, Llama):  x = x + sublayer(norm(x))
Post-norm (the paper, BERT): x = norm(x + sublayer(x))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadAttention
from .config import ModelConfig
from .positional import Rotary
from .trace import FeedForwardRecord, LayerRecord


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 as Llama does: the mean of squares overflows or underflows in half precision.
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def make_norm(config: ModelConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.d_model, config.norm_eps)
    return nn.LayerNorm(config.d_model, eps=config.norm_eps)


_ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "swiglu": F.silu,  # SwiGLU = silu(gate) * up
}


class FeedForward(nn.Module):
    """Two projections with a non-linearity between; SwiGLU adds a gating projection."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gated = config.activation == "swiglu"
        self.activation = _ACTIVATIONS[config.activation]
        self.fc_in = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.fc_up = nn.Linear(config.d_model, config.d_ff, bias=config.bias) if self.gated else None
        self.fc_out = nn.Linear(config.d_ff, config.d_model, bias=config.bias)

    def forward(self, x: torch.Tensor, capture: bool = False) -> tuple[torch.Tensor, FeedForwardRecord | None]:
        pre = self.fc_in(x)  # (B, T, f)
        up = self.fc_up(x) if self.gated else None  # (B, T, f)
        act = self.activation(pre) if up is None else self.activation(pre) * up  # (B, T, f)
        out = self.fc_out(act)  # (B, T, d)
        return out, FeedForwardRecord(pre=pre, act=act, out=out, up=up) if capture else None


class Block(nn.Module):
    """Self-attention, optional cross-attention (encoder-decoder's decoder), feed-forward."""

    def __init__(self, config: ModelConfig, cross_attention: bool = False):
        super().__init__()
        self.pre_norm = config.norm_placement == "pre"
        self.self_attn = MultiHeadAttention(config)
        self.attn_norm = make_norm(config)
        self.cross_attn = MultiHeadAttention(config) if cross_attention else None
        self.cross_norm = make_norm(config) if cross_attention else None
        self.mlp = FeedForward(config)
        self.mlp_norm = make_norm(config)

    def _sublayer(self, x: torch.Tensor, norm: nn.Module, run) -> tuple[torch.Tensor, torch.Tensor, object]:
        """Returns (new residual stream, norm output, sub-layer record)."""
        if self.pre_norm:
            normed = norm(x)
            out, record = run(normed)
            return x + out, normed, record
        out, record = run(x)
        normed = norm(x + out)
        return normed, normed, record

    def forward(
        self,
        x: torch.Tensor,
        allowed: torch.Tensor | None,
        rotary: Rotary | None = None,
        memory: torch.Tensor | None = None,
        memory_allowed: torch.Tensor | None = None,
        capture: bool = False,
    ) -> tuple[torch.Tensor, LayerRecord | None]:
        resid_pre = x
        x, attn_norm, attn = self._sublayer(
            x, self.attn_norm, lambda h: self.self_attn(h, allowed, rotary=rotary, capture=capture)
        )
        resid_mid = x
        cross_norm = cross = resid_cross = None
        if self.cross_attn is not None:
            x, cross_norm, cross = self._sublayer(
                x, self.cross_norm, lambda h: self.cross_attn(h, memory_allowed, memory=memory, capture=capture)
            )
            resid_cross = x
        x, mlp_norm, mlp = self._sublayer(x, self.mlp_norm, lambda h: self.mlp(h, capture=capture))
        if not capture:
            return x, None
        record = LayerRecord(
            resid_pre=resid_pre,
            attn_norm=attn_norm,
            self_attn=attn,
            resid_mid=resid_mid,
            mlp_norm=mlp_norm,
            mlp=mlp,
            resid_post=x,
            cross_norm=cross_norm,
            cross_attn=cross,
            resid_cross=resid_cross,
        )
        return x, record
