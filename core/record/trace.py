"""The record of one forward pass: what a page shows, as typed numpy arrays named hierarchically.

A `Trace`, what `lm.trace(text)` returns, holds numpy arrays without the batch dimension, in a compact dtype;
nothing in `viz/` ever sees torch. While the model runs, the same dataclasses hold torch tensors with a batch
dimension (`Transformer(..., capture=True)`): the field types say both (`Recorded`), and each array field's
annotation names its dimensions (`Shape`), read by `shape_of`.

Most values are not held but produced when first read (`Lazy`), by running the part of the model that computed
them again on the residual stream the trace kept, so that a trace keeps O(T·d) numbers, not O(T²). What does
that is the trace's `replay`, typed here by what the record asks of it (`TraceReplay`, `HeadReplay`): the
runtime implements it (core/runtime/replay.py), so the record needs nothing above it. Produced values equal
what the forward pass computed, bit for bit, and stay in the trace's bounded `ValueCache`.

Every recorded value has a hierarchical name (`layers[3].self_attn.probs`, `encoder.layers[0].mlp.act`);
`Trace.names()` lists them and `Trace.get(name)` looks one up. Dimensions, per sequence: T queries, S keys,
nh query heads, nkv key/value heads, hs head size, d model width, f feed-forward width, L layers.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import typing
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Protocol, runtime_checkable

import numpy as np
import torch

from core.errors import Message
from core.record.losses import TokenLosses, next_token_losses

Recorded = np.ndarray | torch.Tensor
"""A recorded array: numpy, per sequence, in a `Trace`; torch, batch first, in the model's own record."""


@dataclass(frozen=True)
class Shape:
    """The dimensions of a recorded array, per sequence ("nh T S"), as jaxtyping writes them; `dtype` where the
    record fixes it (bool masks, float32 logits), else the trace's dtype."""

    dims: str
    dtype: str | None = None


TokenVectors = Annotated[Recorded, Shape("T d")]  # one d-wide vector per token: residual stream, norms, outputs
QueryHeads = Annotated[Recorded, Shape("nh T hs")]  # one vector per query head and token
KeyHeads = Annotated[Recorded, Shape("nkv S hs")]  # one vector per key/value head and key
HeadMatrices = Annotated[Recorded, Shape("nh T S")]  # one number per head, query and key
AttentionMask = Annotated[Recorded, Shape("T S", "bool")]  # True where the query may attend
Units = Annotated[Recorded, Shape("T f")]  # the feed-forward's hidden units
PositionValues = Annotated[Recorded, Shape("T d | T hs/2")]  # vectors added, or rotary angles
RotaryAngles = Annotated[Recorded, Shape("T hs/2")]
EveryLayer = Annotated[Recorded, Shape("L+1 T d")]  # the embedding's output, then every block's
VocabRows = Annotated[Recorded, Shape("T vocab", "float32")]
VocabRow = Annotated[Recorded, Shape("vocab", "float32")]


def shape_of(record: type, name: str) -> Shape | None:
    """The `Shape` annotated on field `name` of a record class (None for a field that is not an array)."""
    hint = typing.get_type_hints(record, include_extras=True)[name]
    for part in (hint, *typing.get_args(hint)):
        if typing.get_origin(part) is Annotated:
            return next((m for m in part.__metadata__ if isinstance(m, Shape)), None)
    return None


@runtime_checkable
class HeadReplay(Protocol):
    """What produces one attention layer's matrices on demand, a head or a query row at a time."""

    def head(self, which: str, head: int) -> np.ndarray: ...  # (T, S) "scores" or "probs" of one head

    def query_rows(self, query: int) -> np.ndarray: ...  # (nh, S) float32

    def mean_probs(self) -> np.ndarray: ...  # (T, S) float32

    def mean_probs_block(self, start: int, stop: int, keys: int) -> np.ndarray: ...  # (stop - start, keys) float32

    def thumbnails(self, cells: int) -> np.ndarray: ...  # (nh, h, w) float32

    def key_means(self, samples: int) -> np.ndarray: ...  # (nh, S) float32


@runtime_checkable
class TraceReplay(Protocol):
    """What produces a trace's lazy values and holds the residual stream they are produced from."""

    def token_losses(self) -> TokenLosses: ...

    def nbytes(self) -> int: ...  # the residual stream kept and the values produced so far


class ValueCache:
    """Values a trace produced on demand, the least recently read dropped first, within `max_bytes`.
    A value larger than the whole budget is returned but not kept."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._values: OrderedDict[Hashable, object] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self.nbytes = 0
        # Re-entrant: producing one value may read others (a head's probabilities read q and k).
        self._lock = threading.RLock()

    def get(self, key: Hashable, compute: Callable[[], object]) -> object:
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

    def peek(self, key: Hashable) -> object:
        """The value if it is kept, else None; never computes."""
        with self._lock:
            return self._values.get(key)


class Lazy:
    """A recorded value produced when first read: `compute()` returns it, or a dict holding it under
    `field` together with values computed alongside (q, k and v come from one run of the projections)."""

    __slots__ = ("cache", "key", "compute", "field")

    def __init__(self, cache: ValueCache, key: Hashable, compute: Callable[[], object], field: str | None = None):
        self.cache, self.key, self.compute, self.field = cache, key, compute, field

    def get(self) -> object:
        value = self.cache.get(self.key, self.compute)
        return value if self.field is None else value[self.field]

    def part(self, field: str) -> Lazy:
        """The value computed alongside, under `field` of the same dict."""
        return Lazy(self.cache, self.key, self.compute, field)


class _Record:
    """A record whose fields may be given as `Lazy`: reading such a field produces its value, of the field's type."""

    def __getattribute__(self, name: str) -> object:
        value = object.__getattribute__(self, name)
        return value.get() if type(value) is Lazy else value

    def __repr__(self) -> str:  # the generated one would produce every lazy value
        return f"{type(self).__name__}({', '.join(f.name for f in dataclasses.fields(self))})"


KEY_MEAN_QUERIES = 32  # query rows behind a head's mean per key: enough to see a sink, cheap at 2,048 tokens


@dataclass(frozen=True, repr=False)
class AttentionRecord(_Record):
    q: QueryHeads  # after the query norm and rotary where the model has them
    k: KeyHeads
    v: KeyHeads
    scores: HeadMatrices  # Q K^T / sqrt(hs) (or times the model's own scale), before the mask
    mask: AttentionMask  # this layer's: causal, sliding window, padding
    probs: HeadMatrices  # softmax rows, 0 where masked
    z: QueryHeads  # probs @ V, each head's output before the output projection
    out: TokenVectors  # after the output projection
    # What produces the matrices on demand; None where they are plain arrays.
    replay: HeadReplay | None = None

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

    def mean_probs_block(self, start: int, stop: int, keys: int) -> np.ndarray:
        """(stop - start, keys) float32: mean_probs()[start:stop, :keys], computed for those rows and keys alone."""
        if self.replay is not None:
            return self.replay.mean_probs_block(start, stop, keys)
        return np.asarray(self.probs[:, start:stop, :keys], dtype=np.float32).mean(axis=0)

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
    pre: Units  # first projection (the gate, for SwiGLU and GeGLU)
    up: Units | None  # a gated feed-forward's second projection; None for a plain feed-forward
    act: Units  # what enters the down projection (activation, times `up` when gated)
    out: TokenVectors


@dataclass(frozen=True, repr=False)
class LayerRecord(_Record):
    """One block. For pre-norm, `*_norm` is the normalised input of the sub-layer;
    for post-norm it is the normalised sum that leaves it (and equals the next resid_*)."""

    resid_pre: TokenVectors  # the block's input
    attn_norm: TokenVectors
    self_attn: AttentionRecord
    attn_post_norm: TokenVectors | None  # sandwich norm of the attention output, what is added to resid_pre
    resid_mid: TokenVectors  # after the self-attention sub-layer
    cross_norm: TokenVectors | None  # encoder-decoder only
    cross_attn: AttentionRecord | None  # queries from the decoder, keys from the encoder
    resid_cross: TokenVectors | None  # after the cross-attention sub-layer
    mlp_norm: TokenVectors
    mlp: FeedForwardRecord
    mlp_post_norm: TokenVectors | None  # sandwich norm of the feed-forward output, what is added to resid_mid
    resid_post: TokenVectors  # the block's output


@dataclass(frozen=True, repr=False)
class PositionRecord(_Record):
    kind: str  # "sinusoidal", "learned", "rope" or "none"
    values: PositionValues | None  # vectors added to the embeddings, or rotary angles; None for "none"
    # the sliding-window layers' rotary angles where their base differs (Gemma 3: 10k against 1M)
    local_values: RotaryAngles | None = None


@dataclass(frozen=True, repr=False)
class StackRecord(_Record):
    """One stack of blocks with its input embedding: the encoder or the decoder."""

    # The text's tokens; None in the model's own record, which has only the ids it ran on.
    tokens: list[str] | None
    token_ids: list[int] | None
    offsets: list[tuple[int, int]] | None  # character span of each token in the text; (0, 0) for special tokens
    # The values below are None in a trace taken with capture=False, which keeps only the tokens.
    embeddings: TokenVectors | None  # token embeddings as looked up (times sqrt(d) where the model scales)
    positions: PositionRecord | None
    token_types: TokenVectors | None  # BERT's segment embeddings; None for a model without them
    embed_out: TokenVectors | None  # what enters the first block (sum, norm applied where the model has one)
    layers: tuple[LayerRecord, ...]
    final_norm: TokenVectors | None  # None for a model without a final norm
    hidden_states: EveryLayer | None  # embed_out, then every block's output


@dataclass(frozen=True, repr=False)
class Trace(_Record):
    model: str
    architecture: str  # "encoder", "decoder" or "encoder-decoder"
    dtype: str  # numpy dtype of the recorded values
    compute_dtype: str  # torch dtype the model computed in
    stack: StackRecord  # the stack that produces the output (the decoder, for an encoder-decoder)
    logits: VocabRows | None = None  # None for encoders
    encoder: StackRecord | None = None  # encoder-decoder only
    truncated_from: int | None = None  # the token count before truncation to the model's context
    notes: tuple[Message, ...] = field(default_factory=tuple)  # what was cut to fit, for the reader
    # The logits after the whole text, what the next token is drawn from: kept apart from `logits`, which are
    # produced on demand (T x vocab float32 is 400 MB at 2,048 tokens on SmolLM2).
    last_logits: VocabRow | None = None
    replay: TraceReplay | None = None  # what produces the lazy values; None where every value is an array

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
    def hidden_states(self) -> np.ndarray | None:
        return self.stack.hidden_states

    @property
    def truncated(self) -> bool:
        return self.truncated_from is not None

    def names(self) -> list[str]:
        """Every recorded value's name, in the order the model computed it (lazy ones are not produced)."""
        return [name for name, _ in _walk(self)]

    def get(self, name: str) -> object:
        """The value called `name`, e.g. "layers[2].self_attn.probs"."""
        value: object = self
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


def _walk(obj: object, prefix: str = "") -> Iterator[tuple[str, object]]:
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


def held_bytes(value: object) -> int:
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
