"""Self-attention one step at a time: a small worked example, one real head of a trace, and why Q Kᵀ is
divided by √d_k.

    X → Q = X W_Q, K = X W_K, V = X W_V → Q Kᵀ → ÷ √d_k → + M (0 or −∞) → softmax → × V → Z

The worked example runs through `core.engine.attention.attention_weights`, the function the models use, in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.engine.attention import attention_weights
from core.engine.masks import causal_allowed
from core.errors import N_
from core.numeric import softmax
from core.record.trace import Trace

# The stages, in order, as the page steps through them (a URL's step is an index into this).
STAGES = ("x", "qkv", "scores", "scaled", "masked", "probs", "z")
STAGE_NAMES = {
    "x": N_("X: one row per token"),
    "qkv": N_("Q = X W_Q, K = X W_K, V = X W_V"),
    "scores": N_("Q Kᵀ: every query against every key"),
    "scaled": N_("÷ √d_k"),
    "masked": N_("+ mask (0 or −∞)"),
    "probs": N_("softmax, row by row"),
    "z": N_("Z = weights × V"),
}
D_MODEL = 4  # the worked example's width of X
TOKEN_RANGE, DK_RANGE = (3, 6), (2, 4)
# Source article 001's sentence 小明、小刚、小红是小强的朋友, a word a token.
EXAMPLE_WORDS = (N_("Xiaoming"), N_("Xiaogang"), N_("Xiaohong"), N_("are"), N_("Xiaoqiang's"), N_("friends"))
SEED_ROW = (100.0, 80.0, 20.0, 12.0)  # source article 002's row of Q Kᵀ
SEED_CLAIM = (0.4, 0.2, 0.2, 0.1)  # what the article says its softmax "becomes"
SCALING_DKS = (1, 4, 16, 64, 128, 512)
RANDOM_DKS = (1, 4, 16, 64, 256, 1024)  # head widths for the random scores (the models here: 16 to 256)
RANDOM_PAIRS = 8192


@dataclass(frozen=True)
class WorkedExample:
    x: np.ndarray  # (n, D) the tokens' vectors
    w_q: np.ndarray  # (D, d_k)
    w_k: np.ndarray
    w_v: np.ndarray
    q: np.ndarray  # (n, d_k)
    k: np.ndarray
    v: np.ndarray
    scores: np.ndarray  # (n, n) Q Kᵀ
    scaled: np.ndarray  # (n, n) ÷ √d_k
    allowed: np.ndarray  # (n, n) bool, True where the query may look
    masked: np.ndarray  # (n, n) scaled + (0 or −∞)
    probs: np.ndarray  # (n, n) softmax rows
    z: np.ndarray  # (n, d_k) probs @ V

    @property
    def d_k(self) -> int:
        return self.q.shape[1]

    def contributions(self, query: int) -> np.ndarray:
        """(n, d_k): weight_j × v_j for the query's row; their sum over j is z[query]."""
        return self.probs[query][:, None] * self.v


def random_inputs(n_tokens: int, d_k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X (n, 4), W_Q, W_K, W_V (4, d_k): small numbers with one decimal, so that a person can follow them."""
    if not TOKEN_RANGE[0] <= n_tokens <= TOKEN_RANGE[1] or not DK_RANGE[0] <= d_k <= DK_RANGE[1]:
        raise ValueError(f"{n_tokens} tokens and d_k = {d_k} are outside the worked example's sizes")
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0.0, 1.0, (n_tokens, D_MODEL)), 1)
    weights = [np.round(rng.normal(0.0, 1.0, (D_MODEL, d_k)), 1) for _ in range(3)]
    return x, *weights


def worked_example(x, w_q, w_k, w_v, causal: bool = False) -> WorkedExample:
    """Every stage of one head's self-attention on X, in float64, with the models' own attention function."""
    x, w_q, w_k, w_v = (np.array(a, dtype=np.float64) for a in (x, w_q, w_k, w_v))
    if x.ndim != 2 or any(w.shape != (x.shape[1], w_q.shape[1]) for w in (w_q, w_k, w_v)):
        raise ValueError("X is (n, D) and each W is (D, d_k)")
    if not all(np.isfinite(a).all() for a in (x, w_q, w_k, w_v)):
        raise ValueError("the worked example's numbers must be finite")
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    n = x.shape[0]
    allowed = causal_allowed(n).numpy() if causal else np.ones((n, n), dtype=bool)
    qt, kt = torch.from_numpy(q)[None, None], torch.from_numpy(k)[None, None]
    scaled, probs = attention_weights(qt, kt, torch.from_numpy(allowed) if causal else None)
    scaled, probs = scaled[0, 0].numpy(), probs[0, 0].numpy()
    masked = np.where(allowed, scaled, -np.inf)
    return WorkedExample(x, w_q, w_k, w_v, q, k, v, q @ k.T, scaled, allowed, masked, probs, probs @ v)


# ---------------------------------------------------------------- one real head


@dataclass(frozen=True)
class HeadSteps:
    """One query of one real head, every step with the trace's numbers (float32)."""

    q: np.ndarray  # (hs,) the query vector (after rotary, where the model has it)
    k: np.ndarray  # (S, hs) every key this head reads (its key/value head's)
    v: np.ndarray  # (S, hs)
    dots: np.ndarray  # (S,) q · k_j
    scale: float  # what the model multiplies q · k by: 1/√d_k, or its own
    scores: np.ndarray  # (S,) the trace's scaled scores, before the mask
    allowed: np.ndarray  # (S,) bool
    probs: np.ndarray  # (S,) the trace's softmax row
    contributions: np.ndarray  # (S, hs) probs_j × v_j
    z: np.ndarray  # (hs,) the trace's z: the head's output at this query, before W_O
    kv_head: int  # which key/value head this query head reads


def head_steps(trace: Trace, layer: int, head: int, query: int, scale: float | None = None) -> HeadSteps:
    """The steps of `head` in `layer` of the trace's main stack for one query, from the trace's own q, k, v,
    scores, probabilities and z. `scale` is the model's multiplier of Q Kᵀ (None: 1/√d_k)."""
    record = trace.layers[layer].self_attn
    n_heads, n_kv = record.q.shape[0], record.k.shape[0]
    if not 0 <= head < n_heads:
        raise IndexError(f"head {head} is outside 0..{n_heads - 1}")
    kv_head = head // (n_heads // n_kv)
    q = np.asarray(record.q[head, query], dtype=np.float32)
    k = np.asarray(record.k[kv_head], dtype=np.float32)
    v = np.asarray(record.v[kv_head], dtype=np.float32)
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    probs = np.asarray(record.head_probs(head)[query], dtype=np.float32)
    return HeadSteps(
        q=q, k=k, v=v, dots=k @ q, scale=factor,
        scores=np.asarray(record.head_scores(head)[query], dtype=np.float32),
        allowed=np.asarray(record.mask[query], dtype=bool),
        probs=probs, contributions=probs[:, None] * v,
        z=np.asarray(record.z[head, query], dtype=np.float32), kv_head=kv_head,
    )


# ---------------------------------------------------------------- why divide by √d_k



def scaling_table(row=SEED_ROW, d_ks=SCALING_DKS) -> tuple[np.ndarray, np.ndarray]:
    """(softmax of the row as it is, (len(d_ks), n) softmax of the row ÷ √d_k for each d_k)."""
    return softmax(row), np.stack([softmax(np.asarray(row, dtype=np.float64) / math.sqrt(d)) for d in d_ks])


def random_score_spread(d_ks=RANDOM_DKS, pairs: int = RANDOM_PAIRS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The reason for ÷ √d_k, measured: at each d_k, `pairs` random queries and keys whose numbers are independent
    with mean 0 and variance 1. Returns (standard deviation of q · k, about √d_k as a sum of d_k products of
    variance 1; standard deviation of q · k / √d_k, about 1), float64."""
    rng = np.random.default_rng(seed)
    raw = []
    for d in d_ks:
        dots = []
        for start in range(0, pairs, 1024):  # a block of pairs at a time: little memory at d_k = 1024
            q, k = rng.standard_normal((2, min(1024, pairs - start), d), dtype=np.float32)
            dots.append(np.einsum("pd,pd->p", q, k, dtype=np.float64))
        raw.append(np.concatenate(dots).std())
    raw = np.array(raw)
    return raw, raw / np.sqrt(np.asarray(d_ks, dtype=np.float64))
