"""Small random models of each kind of norm (RMSNorm, Gemma's offset RMSNorm with sandwich norms and a soft-cap,
LayerNorm with biases) on the byte tokenizer: what the lessons' tests compare with numpy, in milliseconds."""

from __future__ import annotations

import torch

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.runtime.language_model import LanguageModel
from core.text.tokenizers import bytes_tokenizer

V = bytes_tokenizer().vocab_size
SMALL = {
    "llama": ModelConfig(vocab_size=V, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2, d_ff=48, max_positions=4096,
                         positional="rope", norm="rmsnorm", activation="swiglu", bias=False),
    "gemma": ModelConfig(vocab_size=V, d_model=32, n_layers=3, n_heads=4, n_kv_heads=1, head_dim=16, d_ff=48,
                         max_positions=4096, positional="rope", rope_base=1e6, layer_types=("sliding", "global", "sliding"),
                         sliding_window=5, norm="rmsnorm", norm_unit_offset=True, sandwich_norm=True, qk_norm=True,
                         activation="gelu_tanh", gated=True, bias=False, scale_embeddings=True, tie_embeddings=True,
                         final_logit_softcap=30.0),
    "gpt2": ModelConfig(vocab_size=V, d_model=32, n_layers=3, n_heads=4, d_ff=64, max_positions=4096,
                        positional="learned", norm="layernorm", activation="gelu", bias=True),
}


def small_lm(kind: str) -> LanguageModel:
    torch.manual_seed(0)
    module = Transformer(SMALL[kind])
    with torch.no_grad():  # norms start at the identity: give every gain and bias its own numbers
        for name, p in module.named_parameters():
            if "norm" in name or p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.3)
    return LanguageModel(kind, kind, module, bytes_tokenizer(), "random", torch.device("cpu"))
