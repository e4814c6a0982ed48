"""Copy named arrays into a module, checking that every parameter is covered exactly once."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ..errors import ModelUnavailableError


def assign(module: nn.Module, arrays: Mapping[str, np.ndarray | torch.Tensor], source: str) -> None:
    """Load `arrays` (our parameter name -> value) into `module`; tied parameters appear once."""
    expected = dict(module.named_parameters())
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ModelUnavailableError(
            f"{source} does not match the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    with torch.no_grad():
        for name, value in arrays.items():
            # Read-only arrays (memory-mapped files) are copied: torch refuses to wrap them silently.
            tensor = torch.from_numpy(np.require(value, requirements="W")) if isinstance(value, np.ndarray) else value
            if tuple(tensor.shape) != tuple(expected[name].shape):
                raise ModelUnavailableError(
                    f"{source}: {name} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}"
                )
            expected[name].copy_(tensor)
