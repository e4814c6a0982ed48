"""Where and in what precision the model runs."""

from __future__ import annotations

import torch

from core.errors import N_, InputError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(N_("CUDA was asked for, but this machine has no usable CUDA device"))
    return resolved


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise InputError(f"unknown precision {dtype!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def device_name(device: torch.device) -> str:
    """'CPU' or the CUDA card's name, for the sidebar and the README's benchmark table."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "CPU"
