"""TransformerScope's numbers: a compact Transformer that records everything it computes.

    from core import load_model
    lm = load_model("smollm2-135m")
    tr = lm.trace("The capital of France is")
    tr.layers[0].self_attn.probs        # (heads, T, T)
    head_scores(lm, "induction", [ids])  # (layers, heads): what each head does (core/head_scores.py)
"""

from .config import ModelConfig
from .errors import N_, InputError, Message, ModelUnavailableError, ScopeError, UnknownModelError
from .head_scores import head_scores
from .language_model import LanguageModel, ModelInfo
from .registry import (
    MODELS,
    Capability,
    ModelSpec,
    available_models,
    keep_trained,
    load_model,
    model_shape,
    spec_of,
    trained_model,
)
from .trace import AttentionRecord, FeedForwardRecord, LayerRecord, PositionRecord, StackRecord, Trace

__all__ = [
    "MODELS",
    "N_",
    "Capability",
    "Message",
    "ModelSpec",
    "model_shape",
    "spec_of",
    "AttentionRecord",
    "FeedForwardRecord",
    "InputError",
    "LanguageModel",
    "LayerRecord",
    "ModelConfig",
    "ModelInfo",
    "ModelUnavailableError",
    "PositionRecord",
    "ScopeError",
    "StackRecord",
    "Trace",
    "UnknownModelError",
    "available_models",
    "head_scores",
    "keep_trained",
    "load_model",
    "trained_model",
]
