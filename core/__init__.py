"""TransformerScope's numbers: a compact Transformer that records everything it computes.

    from core import load_model
    lm = load_model("smollm2-135m")
    tr = lm.trace("The capital of France is")
    tr.layers[0].self_attn.probs        # (heads, T, T)
"""

from .config import ModelConfig
from .errors import InputError, ModelUnavailableError, ScopeError, UnknownModelError
from .language_model import LanguageModel, ModelInfo
from .registry import MODELS, available_models, load_model
from .trace import AttentionRecord, FeedForwardRecord, LayerRecord, PositionRecord, StackRecord, Trace

__all__ = [
    "MODELS",
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
    "load_model",
]
