"""TransformerScope's numbers: a compact Transformer that records everything it computes.

    from core import load_model
    lm = load_model("smollm2-135m")
    tr = lm.trace("The capital of France is")
    tr.layers[0].self_attn.probs        # (heads, T, T)
    head_scores(lm, "induction", [ids])  # (layers, heads): what each head does (core/lessons/head_scores.py)

Rooms, each importing only the rooms below it (the contract in pyproject.toml, checked by `lint-imports`):

    lessons | training    what the pages compute | training and its jobs (neither imports the other)
    runtime               LanguageModel (a model with its tokenizer: trace, generate, translate), replay, the
                          weights by name (lm.weights.W_O(layer)), registry
    loaders               weights on disk (or a seed) into a Transformer and its tokenizer
    engine | text         the Transformer's torch modules | tokenizers, chat templates, corpora
    record                the typed record of a forward pass
    errors | numeric      messages for people | the one softmax
"""

from core.engine.config import ModelConfig
from core.errors import N_, InputError, Message, ModelUnavailableError, ScopeError, UnknownModelError
from core.lessons.head_scores import head_scores
from core.record.trace import AttentionRecord, FeedForwardRecord, LayerRecord, PositionRecord, StackRecord, Trace
from core.runtime.language_model import LanguageModel, ModelInfo
from core.runtime.registry import (
    MODELS,
    Capability,
    ModelSpec,
    ModelTokenizer,
    available_models,
    keep_trained,
    load_model,
    load_tokenizer,
    model_shape,
    spec_of,
    trained_model,
)

__all__ = [
    "MODELS",
    "N_",
    "Capability",
    "Message",
    "ModelSpec",
    "ModelTokenizer",
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
    "load_tokenizer",
    "load_model",
    "trained_model",
]
