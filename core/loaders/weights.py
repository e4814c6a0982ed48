"""Put named arrays into a module as its parameters, checking that every one is covered exactly once."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from core.errors import N_, ModelUnavailableError


def assign(module: nn.Module, arrays: Mapping[str, np.ndarray | torch.Tensor], source: str) -> None:
    """Make `arrays` (our parameter name -> value) the parameters of `module`, without copying.

    The module may live on the meta device (see Transformer.empty): every parameter is replaced.
    Tied parameters appear once in `arrays`; call the model's tie step afterwards.
    """
    expected = dict(module.named_parameters())
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ModelUnavailableError(
            N_("{file} does not match the architecture: missing {missing}, unexpected {unexpected}"),
            file=source, missing=missing[:3], unexpected=unexpected[:3],
        )
    for name, value in arrays.items():
        # Read-only arrays (memory-mapped files) are copied: torch refuses to wrap them silently.
        tensor = torch.from_numpy(np.require(value, requirements="W")) if isinstance(value, np.ndarray) else value
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ModelUnavailableError(
                N_("{file}: {tensor} has shape {shape}, expected {expected}"), file=source, tensor=name,
                shape=tuple(tensor.shape), expected=tuple(expected[name].shape),
            )
        owner, _, leaf = name.rpartition(".")
        setattr(module.get_submodule(owner), leaf, nn.Parameter(tensor, requires_grad=False))
