"""How the weights sit in memory, for speed; never what they are (core/runtime/weights.py reads them by name).

Generating a token multiplies every weight matrix by one vector, so it reads all 540 MB of SmolLM2's float32
weights once per token: speed is memory bandwidth. MKL streams a weight stored column by column (the transposed
layout, same shape and values) faster than one stored row by row, PyTorch's usual layout, and one large matrix
faster than three small ones. Products of many rows (a whole text) run as fast either way.
"""

from __future__ import annotations

import torch
from torch import nn


def by_column(weight: torch.Tensor) -> torch.Tensor:
    """The same (out, in) matrix, stored column by column."""
    return weight.t().contiguous().t()


def fuse(linears: list[nn.Linear]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) holding the given projections' stacked: each projection's own parameters become
    views of it, so the model's parameters and their names stay what they were. Returns (weight, bias)."""
    weight = by_column(torch.cat([linear.weight for linear in linears]))  # (sum of outs, in)
    bias = None if linears[0].bias is None else torch.cat([linear.bias for linear in linears])
    start = 0
    for linear in linears:
        rows = slice(start, start + linear.out_features)
        linear.weight = nn.Parameter(weight[rows], requires_grad=linear.weight.requires_grad)
        if bias is not None:
            linear.bias = nn.Parameter(bias[rows], requires_grad=linear.bias.requires_grad)
        start = rows.stop
    return weight, bias
