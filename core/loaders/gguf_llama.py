"""A Llama-architecture GGUF file (SmolLM2) into our decoder, dequantised once at load.

`GGUFModel`, `dequantized` and `build` serve every GGUF loader (gguf_gemma.py too)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from gguf.constants import GGMLQuantizationType
from gguf.quants import dequantize

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.errors import N_, ModelUnavailableError
from core.loaders.gguf_file import GGUFFile
from core.loaders.weights import assign
from core.text.tokenizers import TextTokenizer, byte_bpe_from_gguf


class GGUFModel:
    """The metadata and tensors of a GGUF file, read without executing anything from it."""

    def __init__(self, source: Path | GGUFFile):
        # GGUFFile raises ModelUnavailableError on a damaged or truncated file.
        self.file = source if isinstance(source, GGUFFile) else GGUFFile(source)
        self.path = self.file.path

    def field(self, key: str, default=None):
        return self.file.metadata.get(key, default)

    def arch(self, key: str):
        value = self.field(f"{self.field('general.architecture')}.{key}")
        if value is None:
            raise ModelUnavailableError(N_("{file} lacks the field {field}"), file=self.path.name, field=key)
        return value

    def tensors(self) -> dict[str, np.ndarray]:
        """Every tensor as float32, shaped like a torch Linear weight (out, in)."""
        # numpy releases the GIL inside dequantisation, so threads use both cores.
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            arrays = pool.map(_dequantize, self.file.tensors)
            return {t.name: a for t, a in zip(self.file.tensors, arrays)}

    def dequantized(self) -> dict[str, np.ndarray]:
        """`tensors()`, with any failure (a quantisation type gguf cannot dequantise) as ModelUnavailableError."""
        try:
            return self.tensors()
        except Exception as exc:
            raise ModelUnavailableError(N_("{file} is damaged: {detail}"), file=self.path.name, detail=str(exc)) from exc


ROWS_PER_CHUNK = 16_384
PLAIN = (GGMLQuantizationType.F32, GGMLQuantizationType.F16)  # no intermediate copy worth slicing


def _dequantize(t) -> np.ndarray:
    """float32 values of one tensor. A tall matrix goes in slices of rows into one output array: gguf builds
    a float32 copy of the integers before scaling them, which for Gemma's 262k x 640 embedding alone
    would hold 0.7 GB more at the peak."""
    if t.tensor_type == GGMLQuantizationType.Q8_0 and t.data.ndim == 2:
        return _q8_0(t.data)
    if t.tensor_type in PLAIN or t.data.ndim != 2 or t.data.shape[0] <= ROWS_PER_CHUNK:
        return dequantize(t.data, t.tensor_type)
    rows, width = t.data.shape[0], tuple(reversed(t.dims))[-1]
    out = np.empty((rows, width), dtype=np.float32)
    for start in range(0, rows, ROWS_PER_CHUNK):
        out[start : start + ROWS_PER_CHUNK] = dequantize(t.data[start : start + ROWS_PER_CHUNK], t.tensor_type)
    return out


Q8_0_BLOCK = 2 + 32  # bytes: a float16 scale, then 32 int8 values (value = scale * q)


def _q8_0(data: np.ndarray) -> np.ndarray:
    """Q8_0 rows of bytes as float32, in torch: gguf's numpy code takes 11 s for Gemma's 262k x 640 embedding
    (its mixed-type product over strided blocks), this 0.4 s, bit for bit the same values."""
    rows = data.shape[0]
    out = np.empty((rows, data.shape[1] // Q8_0_BLOCK * 32), dtype=np.float32)
    for start in range(0, rows, ROWS_PER_CHUNK):
        blocks = torch.from_numpy(np.array(data[start : start + ROWS_PER_CHUNK])).view(-1, Q8_0_BLOCK)  # a copy: writable
        scale = blocks[:, :2].contiguous().view(torch.float16).float()  # (blocks, 1)
        values = torch.from_numpy(out[start : start + ROWS_PER_CHUNK]).view(-1, 32)  # (blocks, 32), into `out`
        torch.mul(blocks[:, 2:].view(torch.int8), scale, out=values)
    return out


def build(config: ModelConfig, arrays: dict[str, np.ndarray], source: str) -> Transformer:
    """Our model with `arrays` (our parameter names) as its parameters, the output head tied where configured."""
    model = Transformer.empty(config)
    assign(model, arrays, source)
    return model.tie_weights()


def llama_config(g: GGUFModel, tied: bool) -> ModelConfig:
    return ModelConfig(
        vocab_size=len(g.field("tokenizer.ggml.tokens")),
        d_model=g.arch("embedding_length"),
        n_layers=g.arch("block_count"),
        n_heads=g.arch("attention.head_count"),
        n_kv_heads=g.arch("attention.head_count_kv"),
        d_ff=g.arch("feed_forward_length"),
        max_positions=g.arch("context_length"),
        architecture="decoder",
        positional="rope",
        rope_base=g.arch("rope.freq_base"),
        norm="rmsnorm",
        norm_placement="pre",
        norm_eps=g.arch("attention.layer_norm_rms_epsilon"),
        activation="swiglu",
        bias=False,
        tie_embeddings=tied,
    )


def llama_config_from(path: Path) -> ModelConfig:
    """The architecture alone, from the file's metadata (a tenth of a second: no tensor is read)."""
    g = GGUFModel(path)
    return llama_config(g, tied="output.weight" not in g.file.tensor_names)


def unpermute_rotary_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row permutation (adjacent rotary pairs) back to the half-split layout."""
    out_dim = w.shape[0]
    return w.reshape(n_heads, out_dim // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


LAYER_NAMES = {
    "attn_norm.weight": "attn_norm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "mlp_norm.weight",
    "ffn_gate.weight": "mlp.fc_in.weight",
    "ffn_up.weight": "mlp.fc_up.weight",
    "ffn_down.weight": "mlp.fc_out.weight",
}


def rename(gguf_name: str, layer_names: dict[str, str] = LAYER_NAMES) -> str:
    """llama.cpp's tensor name -> our parameter name ("blk.3.attn_q.weight" -> "stack.layers.3.self_attn.q_proj.weight")."""
    if gguf_name == "token_embd.weight":
        return "stack.embed.tokens.weight"
    if gguf_name == "output_norm.weight":
        return "stack.norm.weight"
    if gguf_name == "output.weight":
        return "lm_head.weight"
    _, layer, rest = gguf_name.split(".", 2)
    return f"stack.layers.{layer}.{layer_names.get(rest, rest)}"


def load_gguf_llama(path: Path) -> tuple[Transformer, TextTokenizer, GGUFModel]:
    g = GGUFModel(path)
    if g.field("general.architecture") != "llama":
        raise ModelUnavailableError(N_("{file} is a {found!r} model, not {expected}"), file=path.name,
                                    found=g.field("general.architecture"), expected="llama")
    tensors = g.dequantized()
    config = llama_config(g, tied="output.weight" not in tensors)
    for name, value in list(tensors.items()):
        if name.endswith("attn_q.weight"):
            tensors[name] = unpermute_rotary_rows(value, config.n_heads)
        elif name.endswith("attn_k.weight"):
            tensors[name] = unpermute_rotary_rows(value, config.kv_heads)
    model = build(config, {rename(name): value for name, value in tensors.items()}, path.name)
    return model, llama_tokenizer(g), g


def llama_tokenizer(g: GGUFModel) -> TextTokenizer:
    """The byte-level BPE tokenizer from the file's vocabulary, merges and token types."""
    return byte_bpe_from_gguf(
        g.field("tokenizer.ggml.tokens"), g.field("tokenizer.ggml.merges"), g.field("tokenizer.ggml.token_type")
    )
