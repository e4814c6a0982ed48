"""Normalisation layers: LayerNorm (the paper, BERT) and RMSNorm (Llama, Gemma)."""

from __future__ import annotations

import torch
from torch import nn

from core.engine.config import ModelConfig


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps), times a learned scale per channel.

    Llama scales by w; Gemma by (1 + w) (`unit_offset`), so its stored weights sit around 0.
    """

    def __init__(self, d: int, eps: float, unit_offset: bool = False):
        super().__init__()
        self.eps, self.unit_offset = eps, unit_offset
        self.weight = nn.Parameter(torch.zeros(d) if unit_offset else torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32: the mean of squares overflows or underflows in half precision.
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.unit_offset:
            # Gemma multiplies in float32 and casts last (transformers' Gemma3RMSNorm).
            return (normed * (1.0 + self.weight.float())).to(x.dtype)
        # Llama casts first, then multiplies in the model's dtype (transformers' LlamaRMSNorm).
        return self.weight * normed.to(x.dtype)


def make_norm(config: ModelConfig, d: int | None = None) -> nn.Module:
    """The model's norm over the last dimension, of width d (default d_model)."""
    d = config.d_model if d is None else d
    if config.norm == "rmsnorm":
        return RMSNorm(d, config.norm_eps, config.norm_unit_offset)
    return nn.LayerNorm(d, eps=config.norm_eps)
