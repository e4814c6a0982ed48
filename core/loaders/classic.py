"""The paper's encoder-decoder at classroom size, with seeded random weights.

Its numbers are real computations of an untrained model: they show the
mechanics (shapes, masks, sinusoids, cross-attention), not learned meaning.
"""

from __future__ import annotations

import torch

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.text.tokenizers import TextTokenizer, bytes_tokenizer

SEED = 0


def classic_config(vocab_size: int) -> ModelConfig:
    return ModelConfig(
        vocab_size=vocab_size,
        d_model=64,
        n_layers=2,
        n_heads=4,
        d_ff=256,
        max_positions=512,
        architecture="encoder-decoder",
        positional="sinusoidal",
        norm="layernorm",
        norm_placement="post",
        activation="relu",
        scale_embeddings=True,
        tie_embeddings=True,
    )


def load_classic() -> tuple[Transformer, TextTokenizer]:
    tokenizer = bytes_tokenizer()
    torch.manual_seed(SEED)
    model = Transformer(classic_config(tokenizer.vocab_size))
    with torch.no_grad():
        # Default nn.Embedding rows have norm ~8 and would drown the sinusoids; the paper's
        # shared embedding is scaled to variance 1/d_model, then multiplied by sqrt(d_model).
        for embed in (model.encoder.embed.tokens, model.stack.embed.tokens):
            embed.weight.normal_(0.0, model.config.d_model**-0.5)
    return model, tokenizer
