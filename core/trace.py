"""The record of one forward pass: what a page shows, as plain numpy data.

While the model runs, the same dataclasses hold torch tensors with a batch
dimension; `to_numpy` converts them once, at the boundary, dropping the batch
dimension and moving everything to the CPU in a compact dtype. Nothing in
`viz/` ever sees torch.

Every recorded value has a hierarchical name (`layers[3].self_attn.probs`,
`encoder.layers[0].mlp.act`); `Trace.names()` lists them and `Trace.get(name)`
looks one up. Shapes below are per sequence: T queries, S keys, nh query
heads, nkv key/value heads, hs head size, d model width, f feed-forward width.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class AttentionRecord:
    q: Any  # (nh, T, hs), after the query norm and rotary where the model has them
    k: Any  # (nkv, S, hs)
    v: Any  # (nkv, S, hs)
    scores: Any  # (nh, T, S) Q K^T / sqrt(hs) (or times the model's own scale), before the mask
    mask: Any  # (T, S) bool, True where the query may attend (causal, sliding window, padding: this layer's)
    probs: Any  # (nh, T, S) softmax rows, 0 where masked
    z: Any  # (nh, T, hs) probs @ V, each head's output before the output projection
    out: Any  # (T, d) after the output projection


@dataclass(frozen=True)
class FeedForwardRecord:
    pre: Any  # (T, f) first projection (the gate, for SwiGLU and GeGLU)
    up: Any  # (T, f) a gated feed-forward's second projection; None for a plain feed-forward
    act: Any  # (T, f) what enters the down projection (activation, times `up` when gated)
    out: Any  # (T, d)


@dataclass(frozen=True)
class LayerRecord:
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


@dataclass(frozen=True)
class PositionRecord:
    kind: str  # "sinusoidal", "learned", "rope" or "none"
    values: Any  # (T, d) vectors added to the embeddings, or (T, hs/2) rotary angles, or None
    # (T, hs/2) rotary angles of the sliding-window layers where their base differs (Gemma 3: 10k against 1M)
    local_values: Any = None


@dataclass(frozen=True)
class StackRecord:
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


@dataclass(frozen=True)
class Trace:
    model: str
    architecture: str  # "encoder", "decoder" or "encoder-decoder"
    dtype: str  # numpy dtype of the recorded values
    compute_dtype: str  # torch dtype the model computed in
    stack: StackRecord  # the stack that produces the output (the decoder, for an encoder-decoder)
    logits: Any = None  # (T, vocab) for decoders; None for encoders
    encoder: StackRecord | None = None  # encoder-decoder only
    truncated_from: int | None = None  # the token count before truncation to the model's context
    notes: tuple[str, ...] = field(default_factory=tuple)

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
        """Every recorded value's name, in the order the model computed it."""
        return [name for name, _ in _walk(self)]

    def get(self, name: str) -> Any:
        """The value called `name`, e.g. "layers[2].self_attn.probs"."""
        value: Any = self
        for part in re.findall(r"[A-Za-z_]+|\[\d+\]", name):
            if part.startswith("["):
                value = value[int(part[1:-1])]
            elif value is self and not hasattr(self, part):
                value = getattr(self.stack, part)  # the main stack's fields sit at the top level, as in names()
            else:
                value = getattr(value, part)
        return value

    def nbytes(self) -> int:
        return sum(v.nbytes for _, v in _walk(self) if isinstance(v, np.ndarray))


_TOP_LEVEL_STACK_FIELDS = {"stack"}
_METADATA = {"model", "architecture", "dtype", "compute_dtype", "truncated_from", "notes", "kind"}


def _walk(obj: Any, prefix: str = ""):
    """(name, value) for every recorded value; the main stack's fields sit at the top level."""
    # An encoder-decoder's encoder runs first, so its values come first.
    for f in sorted(dataclasses.fields(obj), key=lambda f: f.name != "encoder"):
        value = getattr(obj, f.name)
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


def to_numpy(record: Any, dtype: np.dtype) -> Any:
    """Convert a record of (1, ...) tensors into one of numpy arrays without the batch dimension.

    On a GPU, values are cast to the compact dtype there and all copies to the host are
    queued before one synchronisation: copying hundreds of tensors one by one, each
    waiting for the last, costs far more than the forward pass itself.
    """
    host = _map_tensors(record, lambda t: _queue_copy(t, torch_dtype(dtype)))
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return _map_tensors(host, lambda t: t.numpy())


def cast_floats(record: Any, dtype: torch.dtype) -> Any:
    """The same record with every floating-point tensor cast to `dtype` (masks stay bool)."""
    return _map_tensors(record, lambda t: t if not t.is_floating_point() else t.to(dtype))


def torch_dtype(dtype: np.dtype | type) -> torch.dtype:
    return _TORCH_OF[np.dtype(dtype)]


def _queue_copy(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    value = tensor[0].detach()
    if value.dtype != torch.bool:
        value = value.to(dtype)
    return value.to("cpu", non_blocking=True)


def _map_tensors(record: Any, fn) -> Any:
    if isinstance(record, torch.Tensor):
        return fn(record)
    if dataclasses.is_dataclass(record):
        return dataclasses.replace(
            record, **{f.name: _map_tensors(getattr(record, f.name), fn) for f in dataclasses.fields(record)}
        )
    if isinstance(record, tuple):
        return tuple(_map_tensors(item, fn) for item in record)
    return record


_TORCH_OF = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32}
