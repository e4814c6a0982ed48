"""The record of one forward pass: what a page shows, as plain numpy data.

While the model runs, the same dataclasses hold torch tensors with a batch
dimension (`Transformer(..., capture=True)`). A `Trace`, what `lm.trace(text)`
returns, holds numpy arrays without the batch dimension, in a compact dtype;
nothing in `viz/` ever sees torch.

A trace keeps O(T·d) numbers, not O(T²): most of its values are `Lazy`, produced
when first read by running the part of the model that computed them again, on the
residual stream the trace kept (core/runtime/replay.py). They equal what the forward pass
computed, bit for bit, and stay in the trace's bounded `ValueCache` once produced.

Every recorded value has a hierarchical name (`layers[3].self_attn.probs`,
`encoder.layers[0].mlp.act`); `Trace.names()` lists them and `Trace.get(name)`
looks one up. Shapes below are per sequence: T queries, S keys, nh query
heads, nkv key/value heads, hs head size, d model width, f feed-forward width.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.record.losses import TokenLosses, next_token_losses


class ValueCache:
    """Values a trace produced on demand, the least recently read dropped first, within `max_bytes`.
    A value larger than the whole budget is returned but not kept."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self.nbytes = 0
        # Re-entrant: producing one value may read others (a head's probabilities read q and k).
        self._lock = threading.RLock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            with torch.inference_mode():
                value = compute()
            size = held_bytes(value)
            if size <= self.max_bytes:
                self._values[key], self._sizes[key] = value, size
                self.nbytes += size
                while self.nbytes > self.max_bytes:
                    oldest, _ = self._values.popitem(last=False)
                    self.nbytes -= self._sizes.pop(oldest)
            return value

    def peek(self, key: Hashable) -> Any:
        """The value if it is kept, else None; never computes."""
        with self._lock:
            return self._values.get(key)


class Lazy:
    """A recorded value produced when first read: `compute()` returns it, or a dict holding it under
    `field` together with values computed alongside (q, k and v come from one run of the projections)."""

    __slots__ = ("cache", "key", "compute", "field")

    def __init__(self, cache: ValueCache, key: Hashable, compute: Callable[[], Any], field: str | None = None):
        self.cache, self.key, self.compute, self.field = cache, key, compute, field

    def get(self) -> Any:
        value = self.cache.get(self.key, self.compute)
        return value if self.field is None else value[self.field]

    def part(self, field: str) -> Lazy:
        """The value computed alongside, under `field` of the same dict."""
        return Lazy(self.cache, self.key, self.compute, field)


class _Record:
    """A record whose fields may be `Lazy`: reading such a field produces its value."""

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        return value.get() if type(value) is Lazy else value

    def __repr__(self) -> str:  # the generated one would produce every lazy value
        return f"{type(self).__name__}({', '.join(f.name for f in dataclasses.fields(self))})"


KEY_MEAN_QUERIES = 32  # query rows behind a head's mean per key: enough to see a sink, cheap at 2,048 tokens


@dataclass(frozen=True, repr=False)
class AttentionRecord(_Record):
    q: Any  # (nh, T, hs), after the query norm and rotary where the model has them
    k: Any  # (nkv, S, hs)
    v: Any  # (nkv, S, hs)
    scores: Any  # (nh, T, S) Q K^T / sqrt(hs) (or times the model's own scale), before the mask
    mask: Any  # (T, S) bool, True where the query may attend (causal, sliding window, padding: this layer's)
    probs: Any  # (nh, T, S) softmax rows, 0 where masked
    z: Any  # (nh, T, hs) probs @ V, each head's output before the output projection
    out: Any  # (T, d) after the output projection
    # What produces a trace's matrices on demand (core/runtime/replay.py); None where they are plain arrays.
    replay: Any = None

    # A page that shows one head asks for one head: (T, S), not every head's (nh, T, S).
    def head_probs(self, head: int) -> np.ndarray:
        """(T, S) one head's probabilities, equal to probs[head]."""
        return self.replay.head("probs", head) if self.replay is not None else self.probs[head]

    def head_scores(self, head: int) -> np.ndarray:
        """(T, S) one head's scores, equal to scores[head]."""
        return self.replay.head("scores", head) if self.replay is not None else self.scores[head]

    # Summaries over every head, computed head by head: no (nh, T, S) array is ever kept.
    def query_rows(self, query: int) -> np.ndarray:
        """(nh, S) float32: where query position `query` looks, in every head (probs[:, query])."""
        if self.replay is not None:
            return self.replay.query_rows(query)
        return np.asarray(self.probs[:, query], dtype=np.float32)

    def mean_probs(self) -> np.ndarray:
        """(T, S) float32: the mean over heads of the probabilities (the "average over heads" view)."""
        if self.replay is not None:
            return self.replay.mean_probs()
        return np.asarray(self.probs, dtype=np.float32).mean(axis=0)

    def thumbnails(self, cells: int = 24) -> np.ndarray:
        """(nh, h, w) float32, h, w <= cells: each head's block means over allowed cells, NaN where a whole
        block is masked; blocks split the T queries and S keys as evenly as whole tokens allow."""
        if self.replay is not None:
            return self.replay.thumbnails(cells)
        allowed = torch.from_numpy(np.asarray(self.mask, dtype=bool))
        return np.stack([block_means(torch.from_numpy(np.asarray(p, dtype=np.float32)), allowed, cells)
                         for p in self.probs])

    def key_means(self, samples: int = KEY_MEAN_QUERIES) -> np.ndarray:
        """(nh, S) float32: what each head gives each key on average over the queries that may see it, from
        up to `samples` evenly spaced query rows (the last among them): where a head parks its weight."""
        if self.replay is not None:
            return self.replay.key_means(samples)
        rows = sampled_queries(np.asarray(self.mask).shape[0], samples)
        probs = torch.from_numpy(np.asarray(self.probs, dtype=np.float32)[:, rows])
        return sampled_key_means(probs, torch.from_numpy(np.asarray(self.mask, dtype=bool)[rows]))


def sampled_queries(t: int, samples: int) -> slice:
    """Up to `samples` evenly spaced positions of T queries, the last one among them."""
    step = -(-t // max(samples, 1))
    return slice((t - 1) % step, t, step)


def sampled_key_means(probs: torch.Tensor, allowed: torch.Tensor) -> np.ndarray:
    """(nh, S) each head's mean over sampled query rows (nh, rows, S) of the weight on each key, counting only
    the rows that may see it (allowed: (rows, S)); 0 for a key no sampled row sees."""
    allowed = allowed.to(probs.device).float()
    sums = (torch.nan_to_num(probs.float()) * allowed).sum(dim=-2)
    return (sums / allowed.sum(dim=-2).clamp_min(1)).cpu().numpy()


def block_starts(n: int, cells: int) -> np.ndarray:
    """Where each of min(n, cells) blocks of n tokens starts: as evenly as whole tokens allow."""
    return np.linspace(0, n, min(n, cells) + 1).astype(int)[:-1]


def _block_matrix(n: int, cells: int, device) -> torch.Tensor:
    """(blocks, n) float32, 1 where token j falls in block i: a matrix product sums blocks."""
    starts = torch.as_tensor(block_starts(n, cells), device=device)
    block_of = torch.searchsorted(starts, torch.arange(n, device=device), right=True) - 1  # (n,)
    return (block_of[None, :] == torch.arange(len(starts), device=device)[:, None]).float()


def block_means(probs: torch.Tensor, allowed: torch.Tensor, cells: int) -> np.ndarray:
    """(h, w) float32 mean of one head's (T, S) probabilities over the allowed cells of each block; NaN where
    a block has none. Two matrix products (rows, then columns) instead of T x S additions in Python."""
    rows, cols = _block_matrix(probs.size(0), cells, probs.device), _block_matrix(probs.size(1), cells, probs.device)
    allowed = allowed.to(probs.device).float()
    sums = rows @ (torch.nan_to_num(probs.float()) * allowed) @ cols.T  # (h, w)
    counts = rows @ allowed @ cols.T
    return torch.where(counts > 0, sums / counts.clamp_min(1), torch.nan).cpu().numpy()


@dataclass(frozen=True, repr=False)
class FeedForwardRecord(_Record):
    pre: Any  # (T, f) first projection (the gate, for SwiGLU and GeGLU)
    up: Any  # (T, f) a gated feed-forward's second projection; None for a plain feed-forward
    act: Any  # (T, f) what enters the down projection (activation, times `up` when gated)
    out: Any  # (T, d)


@dataclass(frozen=True, repr=False)
class LayerRecord(_Record):
    """One block. For pre-norm, `*_norm` is the normalised input of the sub-layer;
    for post-norm it is the normalised sum that leaves it (and equals the next resid_*)."""

    resid_pre: Any  # (T, d) the block's input
    attn_norm: Any  # (T, d)
    self_attn: AttentionRecord
    attn_post_norm: Any  # (T, d) sandwich norm of the attention output, what is added to resid_pre; else None
    resid_mid: Any  # (T, d) after the self-attention sub-layer
    cross_norm: Any  # (T, d) encoder-decoder only, else None
    cross_attn: AttentionRecord | None  # queries from the decoder, keys from the encoder
    resid_cross: Any  # (T, d) after the cross-attention sub-layer
    mlp_norm: Any  # (T, d)
    mlp: FeedForwardRecord
    mlp_post_norm: Any  # (T, d) sandwich norm of the feed-forward output, what is added to resid_mid; else None
    resid_post: Any  # (T, d) the block's output


@dataclass(frozen=True, repr=False)
class PositionRecord(_Record):
    kind: str  # "sinusoidal", "learned", "rope" or "none"
    values: Any  # (T, d) vectors added to the embeddings, or (T, hs/2) rotary angles, or None
    # (T, hs/2) rotary angles of the sliding-window layers where their base differs (Gemma 3: 10k against 1M)
    local_values: Any = None


@dataclass(frozen=True, repr=False)
class StackRecord(_Record):
    """One stack of blocks with its input embedding: the encoder or the decoder."""

    tokens: list[str]
    token_ids: list[int]
    offsets: list[tuple[int, int]]  # character span of each token in the text; (0, 0) for special tokens
    embeddings: Any  # (T, d) token embeddings as looked up (times sqrt(d) where the model scales)
    positions: PositionRecord
    token_types: Any  # (T, d) BERT's segment embeddings, else None
    embed_out: Any  # (T, d) what enters the first block (sum, norm applied where the model has one)
    layers: tuple[LayerRecord, ...]
    final_norm: Any  # (T, d) or None
    hidden_states: Any  # (layers + 1, T, d): embed_out, then every block's output


@dataclass(frozen=True, repr=False)
class Trace(_Record):
    model: str
    architecture: str  # "encoder", "decoder" or "encoder-decoder"
    dtype: str  # numpy dtype of the recorded values
    compute_dtype: str  # torch dtype the model computed in
    stack: StackRecord  # the stack that produces the output (the decoder, for an encoder-decoder)
    logits: Any = None  # (T, vocab) float32 for decoders; None for encoders
    encoder: StackRecord | None = None  # encoder-decoder only
    truncated_from: int | None = None  # the token count before truncation to the model's context
    notes: tuple[str, ...] = field(default_factory=tuple)
    # (vocab,) float32 the logits after the whole text, what the next token is drawn from: kept apart from
    # `logits`, which is produced on demand (T x vocab float32 is 400 MB at 2,048 tokens on SmolLM2).
    last_logits: Any = None
    replay: Any = None  # what produces the lazy values, and holds the residual stream (core/runtime/replay.py)

    @property
    def tokens(self) -> list[str]:
        return self.stack.tokens

    @property
    def token_ids(self) -> list[int]:
        return self.stack.token_ids

    @property
    def layers(self) -> tuple[LayerRecord, ...]:
        return self.stack.layers

    @property
    def hidden_states(self) -> np.ndarray:
        return self.stack.hidden_states

    @property
    def truncated(self) -> bool:
        return self.truncated_from is not None

    def names(self) -> list[str]:
        """Every recorded value's name, in the order the model computed it (lazy ones are not produced)."""
        return [name for name, _ in _walk(self)]

    def get(self, name: str) -> Any:
        """The value called `name`, e.g. "layers[2].self_attn.probs"."""
        value: Any = self
        for part in re.findall(r"[A-Za-z_]+|\[\d+\]", name):
            if part.startswith("["):
                value = value[int(part[1:-1])]
            elif value is self and part not in self.__dataclass_fields__ and not hasattr(type(self), part):
                value = getattr(self.stack, part)  # the main stack's fields sit at the top level, as in names()
            else:
                value = getattr(value, part)
        return value

    def token_losses(self) -> TokenLosses:
        """The TokenLosses of the text: the probability of each true next token (decoders only)."""
        if self.replay is not None:
            return self.replay.token_losses()
        return next_token_losses(self.logits, self.token_ids)

    def nbytes(self) -> int:
        """Bytes held: arrays recorded as such, and the replay's residual stream and produced values."""
        held = self._array_bytes + held_bytes(self.last_logits)
        return held + (0 if self.replay is None else self.replay.nbytes())

    @functools.cached_property
    def _array_bytes(self) -> int:
        return sum(v.nbytes for _, v in _walk(self) if isinstance(v, np.ndarray))


_TOP_LEVEL_STACK_FIELDS = {"stack"}
_METADATA = {"model", "architecture", "dtype", "compute_dtype", "truncated_from", "notes", "kind", "replay",
             "last_logits"}


def _walk(obj: Any, prefix: str = ""):
    """(name, value) for every recorded value, a `Lazy` left unproduced; the main stack's fields sit at the top level."""
    # An encoder-decoder's encoder runs first, so its values come first.
    for f in sorted(dataclasses.fields(obj), key=lambda f: f.name != "encoder"):
        value = object.__getattribute__(obj, f.name)
        if f.name in _METADATA or value is None or (isinstance(value, tuple) and not value):
            continue
        name = prefix if f.name in _TOP_LEVEL_STACK_FIELDS else f"{prefix}{f.name}"
        if f.name in _TOP_LEVEL_STACK_FIELDS:
            yield from _walk(value, prefix)
        elif dataclasses.is_dataclass(value):
            yield from _walk(value, name + ".")
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for i, item in enumerate(value):
                yield from _walk(item, f"{name}[{i}].")
        else:
            yield name, value


def held_bytes(value: Any) -> int:
    """Bytes of the arrays and tensors in `value` (nested in dicts, tuples, lists and plain objects)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, dict):
        return sum(held_bytes(v) for v in value.values())
    if isinstance(value, tuple | list):
        return sum(held_bytes(v) for v in value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return sum(held_bytes(v) for v in vars(value).values())
    return 0


def torch_dtype(dtype: np.dtype | type) -> torch.dtype:
    return _TORCH_OF[np.dtype(dtype)]


def to_host(tensor: torch.Tensor, dtype: np.dtype | type) -> np.ndarray:
    """One sequence's tensor (the batch's first) as a numpy array in the record dtype; masks stay bool."""
    value = tensor[0].detach()
    if value.is_floating_point():
        target = torch_dtype(dtype)
        if target == torch.float16 and value.numel() and value.abs().max() > torch.finfo(torch.float16).max:
            target = value.dtype  # Gemma's residual stream passes 65,504: keep its true values, not infinity
        value = value.to(target)
    return value.cpu().numpy()


_TORCH_OF = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32}
