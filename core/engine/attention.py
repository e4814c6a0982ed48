"""Scaled dot-product attention, written out so that every matrix exists.

    scores = Q K^T / sqrt(d_k)             # Gemma: Q K^T * query_pre_attn_scalar^-0.5
    probs  = softmax(scores + mask)        # mask: 0 or -inf, added
    out    = probs V
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.engine.config import ModelConfig
from core.engine.layout import fuse
from core.engine.masks import additive
from core.engine.norms import make_norm
from core.engine.positional import Rotary
from core.record.trace import AttentionRecord


@dataclass(frozen=True)
class AttentionResult:
    out: torch.Tensor  # (B, nh, T, hs)
    probs: torch.Tensor  # (B, nh, T, S)
    scores: torch.Tensor  # (B, nh, T, S), scaled, before the mask


def attention_weights(
    q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor | None = None, scale: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, probs), each (B, nh, T, S). A trace calls this again, on one head, to produce that head's
    matrices when a page asks: the same operations on the same q and k give the same numbers."""
    qk = q @ k.transpose(-2, -1)  # (B, nh, T, S)
    # Scaled in place: one (B, nh, T, S) tensor fewer to allocate, the same numbers.
    scores = qk.div_(math.sqrt(q.size(-1))) if scale is None else qk.mul_(scale)
    masked = scores if allowed is None else scores + additive(allowed, scores.dtype)
    # Softmax in float32 at least: half-precision exponentials lose the small weights.
    probs = torch.softmax(masked.to(torch.promote_types(masked.dtype, torch.float32)), dim=-1).to(q.dtype)  # (B, nh, T, S)
    return scores, probs


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    allowed: torch.Tensor | None = None,
    scale: float | None = None,
) -> AttentionResult:
    """q (B, nh, T, hs), k and v (B, nh, S, hs); allowed broadcasts to (B, nh, T, S), True = may attend.
    scale multiplies Q K^T; None divides by sqrt(hs)."""
    scores, probs = attention_weights(q, k, allowed, scale)
    return AttentionResult(out=probs @ v, probs=probs, scores=scores)


ABLATION_MODES = ("zero", "mean")


@dataclass(frozen=True)
class HeadAblation:
    """Heads of one attention layer switched off before the output projection W_O: each head's output z
    (B, nh, T, hs) zeroed ("zero"), or replaced at every position by its mean over the positions ("mean")."""

    heads: tuple[int, ...]
    mode: str = "zero"

    def __post_init__(self):
        if self.mode not in ABLATION_MODES:
            raise ValueError(f"an ablation mode is one of {ABLATION_MODES}, not {self.mode!r}")

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, nh, T, hs) with the chosen heads switched off; z itself is left as it was."""
        heads = sorted(set(self.heads))
        if not heads:
            return z
        z = z.clone()
        z[:, heads] = 0 if self.mode == "zero" else z[:, heads].mean(dim=2, keepdim=True)
        return z


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, nkv, S, hs) -> (B, nkv * groups, S, hs): grouped-query attention shares each K/V head."""
    if groups == 1:
        return x
    b, nkv, s, hs = x.shape
    return x[:, :, None].expand(b, nkv, groups, s, hs).reshape(b, nkv * groups, s, hs)  # one copy, head h = h // groups


class KVCache:
    """The keys and values one attention layer has read so far, so that reading one more token costs
    one position, not the whole text. The buffer doubles when full: appending copies only the new token."""

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None  # (B, nkv, capacity, hs)
        self.values: torch.Tensor | None = None
        self.length = 0
        self.last_row: torch.Tensor | None = None  # (B, nh, S) where the last query read looked, in every head

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append (B, nkv, t, hs) keys and values; return every one so far, (B, nkv, S, hs)."""
        n = self.length + k.size(2)
        if self.keys is None or n > self.keys.size(2):
            self._grow(k, v, capacity=max(2 * n, 64))
        self.keys[:, :, self.length : n] = k
        self.values[:, :, self.length : n] = v
        self.length = n
        return self.keys[:, :, :n], self.values[:, :, :n]

    def _grow(self, k: torch.Tensor, v: torch.Tensor, capacity: int) -> None:
        b, h, _, hs = k.shape
        keys, values = k.new_empty(b, h, capacity, hs), v.new_empty(b, h, capacity, hs)
        if self.keys is not None:
            keys[:, :, : self.length] = self.keys[:, :, : self.length]
            values[:, :, : self.length] = self.values[:, :, : self.length]
        self.keys, self.values = keys, values

    def truncate(self, length: int) -> None:
        """Forget every position from `length` on (a text that shares only a prefix with what was read)."""
        self.length = min(self.length, length)


class MultiHeadAttention(nn.Module):
    """Self- or cross-attention with n_heads query heads and n_kv_heads key/value heads."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        d, hs = config.d_model, config.head_dim
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.kv_heads, hs
        self.q_proj = nn.Linear(d, config.n_heads * hs, bias=config.bias)
        self.k_proj = nn.Linear(d, config.kv_heads * hs, bias=config.bias)
        self.v_proj = nn.Linear(d, config.kv_heads * hs, bias=config.bias)
        self.o_proj = nn.Linear(config.n_heads * hs, d, bias=config.bias)
        # Gemma 3 normalises each query and key head, which keeps Q K^T in range without a soft-cap.
        self.q_norm = make_norm(config, hs) if config.qk_norm else None
        self.k_norm = make_norm(config, hs) if config.qk_norm else None
        self.scale = config.attn_scale  # None: 1/sqrt(hs)
        # q, k and v in one matrix, once `fuse` has run: buffers, so that .to() moves them with the parameters
        self.register_buffer("qkv_weight", None, persistent=False)
        self.register_buffer("qkv_bias", None, persistent=False)

    @property
    def groups(self) -> int:
        """Query heads per key/value head: head h reads key/value head h // groups."""
        return self.n_heads // self.n_kv_heads

    def _split(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, heads, self.head_dim).transpose(1, 2)  # (B, heads, T, hs)

    def fuse(self) -> None:
        """Read q, k and v from one matrix (core/engine/layout.py): for self-attention, where they project the same x."""
        self.qkv_weight, self.qkv_bias = fuse([self.q_proj, self.k_proj, self.v_proj])

    def project(
        self, x: torch.Tensor, memory: torch.Tensor | None = None, rotary: Rotary | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q (B, nh, T, hs) from x; k and v (B, nkv, S, hs) from memory (cross-attention) or x; after the
        query/key norm and rotary where the model has them."""
        if memory is None and self.qkv_weight is not None:
            sizes = [self.n_heads * self.head_dim] + [self.n_kv_heads * self.head_dim] * 2
            q, k, v = F.linear(x, self.qkv_weight, self.qkv_bias).split(sizes, dim=-1)  # one product, not three
        else:
            source = x if memory is None else memory
            q, k, v = self.q_proj(x), self.k_proj(source), self.v_proj(source)
        q = self._split(q, self.n_heads)  # (B, nh, T, hs)
        k, v = self._split(k, self.n_kv_heads), self._split(v, self.n_kv_heads)  # (B, nkv, S, hs)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if rotary is not None:
            q, k = rotary(q), rotary(k)
        return q, k, v

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None,
        ablation: HeadAblation | None = None,
    ) -> tuple[AttentionResult, torch.Tensor]:
        """Every head's attention and the output projection of their concatenation, (B, T, d); `ablation`
        switches heads off before the projection (the result's `out` is then what the projection read)."""
        result = attention(q, repeat_kv(k, self.groups), repeat_kv(v, self.groups), allowed, self.scale)
        if ablation is not None:
            result = dataclasses.replace(result, out=ablation.apply(result.out))
        b, _, t, _ = q.shape
        z = result.out.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)  # (B, T, nh*hs)
        return result, self.o_proj(z)  # (B, T, d)

    def forward(
        self,
        x: torch.Tensor,
        allowed: torch.Tensor | None,
        memory: torch.Tensor | None = None,
        rotary: Rotary | None = None,
        capture: bool = False,
        cache: KVCache | None = None,
        ablation: HeadAblation | None = None,
    ) -> tuple[torch.Tensor, AttentionRecord | None]:
        """x (B, T, d); memory (B, S, d) for cross-attention, else keys come from x (and from `cache`,
        the keys and values of the positions read before, where one is given). `ablation`: heads whose
        output is switched off before the output projection (core/lessons/ablation.py)."""
        q, k, v = self.project(x, memory, rotary)
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, nkv, S, hs): the earlier positions' and these
        result, out = self.attend(q, k, v, allowed, ablation)
        if cache is not None:  # what generation records of each step, without recording the rest
            cache.last_row = result.probs[:, :, -1]  # (B, nh, S)
        if not capture:
            return out, None
        record = AttentionRecord(
            q=q,
            k=k,
            v=v,
            scores=result.scores,
            mask=full_mask(allowed, result.scores.shape, result.scores.device),
            probs=result.probs,
            z=result.out,
            out=out,
        )
        return out, record


def full_mask(allowed: torch.Tensor | None, shape: torch.Size, device=None) -> torch.Tensor:
    """The (B, T, S) bool mask as it applied to every head (heads share one mask) of (B, nh, T, S) scores."""
    b, _, t, s = shape
    if allowed is None:
        return torch.ones(b, t, s, dtype=torch.bool, device=device)
    return allowed.expand(b, 1, t, s)[:, 0]
