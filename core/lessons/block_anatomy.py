"""Inside a block, as numbers: the residual stream's size layer by layer and what each sub-layer added to it,
one token's vector before and after its norm (LayerNorm beside RMSNorm), and the feed-forward's hidden units.

Everything is read from a trace (core/record/trace.py) and the model's own norms (`lm.weights`); the results are small
(layers x tokens at most), so a page can cache them per (model, text).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.errors import N_
from core.runtime.weights import Norm

NEAR_ZERO = 0.01  # "near zero": |a| at most this share of the largest |a| of the same token's units
TOP_UNITS = 12
WHERE = ("attn", "mlp")  # the norm before (pre-norm) or after (post-norm) the attention or the feed-forward
ACTIVATION_NAMES = {  # how each feed-forward is called, by (activation, gated)
    ("relu", False): N_("ReLU"), ("gelu", False): N_("GELU"), ("gelu_tanh", False): N_("GELU (tanh)"),
    ("silu", False): N_("SiLU"), ("swiglu", True): N_("SwiGLU: SiLU(gate) × up"), ("silu", True): N_("SwiGLU: SiLU(gate) × up"),
    ("gelu_tanh", True): N_("GeGLU: GELU(gate) × up"), ("gelu", True): N_("GeGLU: GELU(gate) × up"),
    ("relu", True): N_("ReGLU: ReLU(gate) × up"),
}


def _norms(values) -> np.ndarray:
    """(T,) float32 Euclidean length of each row."""
    return np.linalg.norm(np.asarray(values, dtype=np.float32), axis=-1)


@dataclass(frozen=True)
class ResidualNorms:
    stream: np.ndarray  # (L + 1, T) ‖h‖ of the embedding's output, then of every block's output
    attention: np.ndarray  # (L, T) ‖what self-attention added‖ (its output, after a sandwich norm where there is one)
    feed_forward: np.ndarray  # (L, T) ‖what the feed-forward added‖
    cross: np.ndarray | None  # (L, T) cross-attention's, encoder-decoder only
    post_norm: bool  # True: the sum is normalised after each addition (BERT, the paper), so it does not accumulate


def _added(record_out, post) -> np.ndarray:
    return _norms(record_out if post is None else post)


def residual_norms(trace, post_norm: bool) -> ResidualNorms:
    """The norm of each token's vector in the residual stream at every layer, and of each sub-layer's output.

    `post_norm` says how the model adds (lm.config.norm_placement == "post"): the record holds the same fields."""
    layers = trace.layers
    stream = np.stack([_norms(trace.stack.embed_out)] + [_norms(layer.resid_post) for layer in layers])
    attention = np.stack([_added(layer.self_attn.out, layer.attn_post_norm) for layer in layers])
    feed_forward = np.stack([_added(layer.mlp.out, layer.mlp_post_norm) for layer in layers])
    cross = None
    if layers and layers[0].cross_attn is not None:
        cross = np.stack([_norms(layer.cross_attn.out) for layer in layers])
    return ResidualNorms(stream, attention, feed_forward, cross, post_norm)


# ---------------------------------------------------------------- one vector, normalised two ways


def layer_norm(x: np.ndarray, eps: float) -> np.ndarray:
    """(x − mean) / √(var + ε), no gain."""
    return (x - x.mean()) / np.sqrt(x.var() + eps)


def rms_norm(x: np.ndarray, eps: float) -> np.ndarray:
    """x / √(mean(x²) + ε), no gain."""
    return x / np.sqrt(np.mean(x * x) + eps)


@dataclass(frozen=True)
class Moments:
    mean: float
    variance: float
    rms: float

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        return cls(float(x.mean()), float(x.var()), float(np.sqrt(np.mean(x * x))))


@dataclass(frozen=True)
class NormComparison:
    kind: str  # the model's norm: "layernorm" or "rmsnorm"
    other_kind: str
    eps: float
    x: np.ndarray  # (d,) float64 the vector entering the norm
    own: np.ndarray  # (d,) the model's kind, without its learned gain
    other: np.ndarray  # (d,) the other kind on the same vector, without gain
    gain: np.ndarray  # (d,) the learned gain as it multiplies (1 + w for Gemma's offset RMSNorm)
    bias: np.ndarray | None  # (d,) LayerNorm's learned shift, None for RMSNorm
    out: np.ndarray  # (d,) own × gain (+ bias): what the model computed

    @property
    def other_out(self) -> np.ndarray:
        """The other kind with the same learned gain (a LayerNorm's bias added too, where the model has one)."""
        return self.other * self.gain + (0.0 if self.bias is None else self.bias)

    def moments(self) -> dict[str, Moments]:
        return {name: Moments.of(v) for name, v in (("x", self.x), ("own", self.own), ("other", self.other),
                                                     ("out", self.out))}


def _gain_and_bias(norm: Norm) -> tuple[np.ndarray, np.ndarray | None]:
    bias = None if norm.bias is None else norm.bias.double().cpu().numpy()
    return norm.gain(torch.float64).cpu().numpy(), bias


def norm_input(trace, pre_norm: bool, layer: int, where: str) -> np.ndarray:
    """(T, d) what the norm of the attention ("attn") or feed-forward ("mlp") sub-layer of `layer` normalised:
    the residual stream before the sub-layer (pre-norm), or that stream plus the sub-layer's output (post-norm)."""
    record = trace.layers[layer]
    if where == "attn":
        before, out = record.resid_pre, record.self_attn.out
    elif where == "mlp":
        before = record.resid_mid if record.resid_cross is None else record.resid_cross
        out = record.mlp.out
    else:
        raise ValueError(f"where must be one of {WHERE}, got {where!r}")
    before = np.asarray(before, dtype=np.float64)
    return before if pre_norm else before + np.asarray(out, dtype=np.float64)


def compare_norms(lm, trace, layer: int, token: int, where: str = "attn") -> NormComparison:
    """One token's vector entering a norm of `layer`, normalised by the model's kind and by the other kind,
    with the model's learned gain (and bias) shown apart. `out` is the model's norm of the vector."""
    config = lm.config
    norm = lm.weights.attn_norm(layer) if where == "attn" else lm.weights.mlp_norm(layer)
    x = norm_input(trace, config.norm_placement == "pre", layer, where)[token]
    gain, bias = _gain_and_bias(norm)
    kind, eps = norm.kind, norm.eps
    own, other = (layer_norm(x, eps), rms_norm(x, eps)) if kind == "layernorm" else (rms_norm(x, eps), layer_norm(x, eps))
    out = own * gain + (0.0 if bias is None else bias)
    return NormComparison(kind, "rmsnorm" if kind == "layernorm" else "layernorm", eps, x, own, other, gain, bias, out)


# ---------------------------------------------------------------- the feed-forward's hidden units


def activation_name(config) -> str:
    return ACTIVATION_NAMES.get((config.activation, config.is_gated), N_("another activation"))


@dataclass(frozen=True)
class Sparsity:
    zero: float  # share of units exactly 0
    near_zero: float  # share with |a| ≤ NEAR_ZERO × the token's largest |a|


def sparsity(act: np.ndarray) -> Sparsity:
    """Over every row (token) of `act` (..., f): the share of units exactly zero and near zero."""
    a = np.abs(np.asarray(act, dtype=np.float32))
    largest = a.max(axis=-1, keepdims=True)
    return Sparsity(float((a == 0).mean()), float((a <= NEAR_ZERO * largest).mean()))


@dataclass(frozen=True)
class FeedForwardActivity:
    name: str  # the activation, marked for the catalogues
    gated: bool
    pre: np.ndarray  # (f,) float32 first projection (the gate)
    up: np.ndarray | None  # (f,) a gated feed-forward's second projection
    act: np.ndarray  # (f,) what enters the down projection
    top: np.ndarray  # (k,) int the most active units, by |act|, largest first
    sparsity: Sparsity  # of this token's units


def feed_forward_activity(trace, config, layer: int, token: int, top: int = TOP_UNITS) -> FeedForwardActivity:
    mlp = trace.layers[layer].mlp
    act = np.asarray(mlp.act[token], dtype=np.float32)
    order = np.argsort(-np.abs(act), kind="stable")[:top]
    up = None if mlp.up is None else np.asarray(mlp.up[token], dtype=np.float32)
    return FeedForwardActivity(activation_name(config), config.is_gated, np.asarray(mlp.pre[token], dtype=np.float32),
                               up, act, order, sparsity(act))


def text_sparsity(trace) -> Sparsity:
    """Every unit of every token at every layer of the text."""
    parts = [sparsity(record.mlp.act) for record in trace.layers]
    return Sparsity(float(np.mean([p.zero for p in parts])), float(np.mean([p.near_zero for p in parts])))
