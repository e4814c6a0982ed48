"""The installed models, each loaded once per test process (core.load_model keeps no copy of its own).

DEVICES: where the core's equality tests load the model. CPU always; CUDA too where PyTorch sees a GPU,
so that on such a machine `make test` runs the parity and trace tests on both (CI has none)."""

from __future__ import annotations

import functools

import torch

from core import LanguageModel, load_model
from core.engine.devices import resolve_device

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def loaded(name: str, device: str = "auto") -> LanguageModel:
    """The process's one copy of an installed model on `device`, in float32 (load_model's defaults). On the
    default device it is the app's own cached copy, so AppTest's pages and the core's tests share it."""
    target = resolve_device(device)
    if target == resolve_device("auto"):
        from viz.loading import cached_model  # the app's cache: imports Streamlit, so only when asked

        return cached_model(name)
    return _on(name, str(target))


@functools.cache
def _on(name: str, device: str) -> LanguageModel:
    return load_model(name, device=device)
