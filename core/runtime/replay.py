"""A trace that keeps O(T·d) numbers: the residual stream, not every head's T × S matrices.

The forward pass keeps, per stack, the residual stream before every sub-layer (`StackCheckpoints`), in
the dtype it computed in. Every other value (a norm's output, q, k, v, one head's scores or
probabilities, z, a feed-forward activation, the logits) is produced when a page first reads it, by
running the same code of the same module on the same numbers again, so it equals what the forward pass
computed, bit for bit (tests/test_lazy_trace.py compares with a recording of every value). A page that
shows one head computes one head: on SmolLM2 at 2,048 tokens that is 8 MB, where every head of every
layer is 4.5 GB.

Produced values are cast to the trace's dtype, copied to the host and kept in the trace's ValueCache,
bounded in bytes (which computes them in inference mode). On a GPU the residual stream stays on the
device; only what a page reads is copied.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.engine.attention import attention_weights, full_mask, repeat_kv
from core.engine.masks import padding_allowed
from core.engine.model import DecoderCache, StackCheckpoints, Transformer
from core.errors import N_, InputError
from core.record.losses import TokenLosses
from core.record.trace import (
    AttentionRecord,
    FeedForwardRecord,
    LayerRecord,
    Lazy,
    PositionRecord,
    StackRecord,
    ValueCache,
    block_means,
    held_bytes,
    sampled_key_means,
    sampled_queries,
    to_host,
)
from core.runtime.weights import Weights
from core.text.tokenizers import Encoded

CACHE_BYTES = 256 * 1024**2  # values produced on demand that a trace keeps: a layer's every head at 2,048 tokens fits
ALL = slice(None)
QUERY_BLOCK = 16  # query rows computed together for one query's row of every head
LOSS_CHUNK = 2**24  # logits computed this many at a time for the per-token losses (64 MB of float32)


class Replay:
    """The on-demand half of a trace (the record's `TraceReplay`): the module, what each stack kept, and the values
    produced so far. Lessons read the residual stream, run a sub-layer again and read the weights through it."""

    def __init__(self, module: Transformer, kept: dict[str, StackCheckpoints | None], dtype: np.dtype,
                 cache_bytes: int = CACHE_BYTES):
        self.module, self.dtype = module, np.dtype(dtype)
        self.kept = {name: stack for name, stack in kept.items() if stack is not None}
        self.cache = ValueCache(cache_bytes)
        self.weights = Weights(module)
        self._stacks: dict[str, StackReplay] = {}

    def nbytes(self) -> int:
        tensors = {id(t): t for kept in self.kept.values() for t in kept.tensors()}
        return held_bytes(list(tensors.values())) + self.cache.nbytes

    def lazy(self, key, compute, field: str | None = None) -> Lazy:
        return Lazy(self.cache, key, compute, field)

    def host(self, tensor: torch.Tensor) -> np.ndarray:
        return to_host(tensor, self.dtype)

    def stack(self, name: str, encoded: Encoded) -> StackRecord:
        return self._stack(name).record(encoded)

    def _stack(self, name: str) -> StackReplay:
        if name not in self._stacks:
            self._stacks[name] = StackReplay(self, name)
        return self._stacks[name]

    # ---- what lessons read: torch, in the dtype the model computed in, on its device

    def stream(self, layer: int, where: str, stack: str = "stack") -> torch.Tensor:
        """(1, T, d) the residual stream of `layer`, "pre", "mid", "cross" or "post" (StackReplay.stream)."""
        return self._stack(stack).stream(layer, where)

    def residual_stream(self, stack: str = "stack") -> list[torch.Tensor]:
        """(1, T, d) each, h_0 … h_L: the embedding's output, then every block's output (before the final norm)."""
        return self._stack(stack).residual_stream()

    def attention(self, layer: int, stack: str = "stack") -> AttentionReplay:
        """One self-attention layer, to run again head by head or query by query."""
        replay = self._stack(stack)
        if not 0 <= layer < len(replay.module.layers):
            raise IndexError(f"layer {layer} is outside the model")
        return AttentionReplay(replay, layer, cross=False)

    def feed_forward(self, layer: int, positions: slice = ALL,
                     stack: str = "stack") -> tuple[torch.Tensor, FeedForwardRecord, torch.Tensor | None]:
        """The feed-forward sub-layer of `layer` run again on its recorded input at `positions`
        (StackReplay.feed_forward)."""
        return self._stack(stack).feed_forward(layer, positions)

    # ---- the vocabulary projection, from the main stack's output

    def final_hidden(self) -> torch.Tensor:
        """(1, T, d) the main stack's output after its final norm, as the logits were computed from it."""
        def compute():
            out, norm = self.kept["stack"].out, self.module.stack.norm
            return out if norm is None else norm(out)
        return self.cache.get(("final32",), compute)

    def prefix_cache(self, ids: Sequence[int]) -> tuple[DecoderCache, torch.Tensor] | None:
        """Every layer's keys and values of the first len(ids) positions, projected again from the residual
        stream kept (the forward pass's own numbers), and the logits after the last of them; None when `ids`
        do not begin the traced text. A run of the later positions continues from this cache."""
        kept, stack, n = self.kept["stack"], self.module.stack, len(ids)
        if kept.ids[0, :n].tolist() != list(ids):
            return None
        embedded = stack.embed(kept.ids[:, :n])
        cache = DecoderCache(len(stack.layers))
        for block, kind, (resid_pre, _, _), layer in zip(stack.layers, stack.kinds, kept.streams, cache.layers):
            _, k, v = block.self_attn.project(block.attention_input(resid_pre[:, :n]), rotary=embedded.rotary_for(kind))
            layer.extend(k, v)
        return cache, self.module.vocab_logits(self.final_hidden()[:, n - 1 : n])[0, -1]

    def logits(self) -> Lazy:
        """(T, vocab) float32, produced from the final hidden states when first read."""
        return self.lazy(("logits",), lambda: _logits(self.module, self.final_hidden()))

    def token_losses(self) -> TokenLosses:
        """The probability of each true next token, from logits computed a few rows at a time: a page that shows
        the losses of 2,048 tokens never holds the (T, vocab) logits."""
        return self.cache.get(("token_losses",), self._token_losses)

    def _token_losses(self) -> TokenLosses:
        ids, final = self.kept["stack"].ids[0], self.final_hidden()
        if len(ids) < 2:
            raise InputError(N_("At least two tokens are needed: one to read and one to predict"))
        rows = max(1, LOSS_CHUNK // self.module.config.vocab_size)
        losses = []
        # In torch, on the threads the caller has: numpy's float64 passes over (T, vocab) took 13 s of Gemma 3's
        # 262,144-word vocabulary at 1,500 tokens, ten times the product that makes the logits.
        for start in range(0, len(ids) - 1, rows):
            end = min(start + rows, len(ids) - 1)  # rows start .. end - 1 predict tokens start + 1 .. end
            logits = self.module.vocab_logits(final[:, start:end])[0].float()  # (rows, vocab)
            if not torch.isfinite(logits).all():
                raise InputError("logits contain NaN or ±inf")
            chosen = logits.gather(1, ids[start + 1 : end + 1, None])[:, 0]
            losses.append((torch.logsumexp(logits, dim=-1) - chosen).double().cpu().numpy())
        loss = np.concatenate(losses)
        return TokenLosses(probability=np.exp(-loss), loss=loss)


def _logits(module: Transformer, final: torch.Tensor) -> np.ndarray:
    return module.vocab_logits(final)[0].float().cpu().numpy()  # (T, vocab), stays float32


class StackReplay:
    """One stack of a trace (the decoder, or an encoder-decoder's encoder), run again part by part."""

    def __init__(self, replay: Replay, name: str):
        self.replay, self.name = replay, name
        self.module = replay.module.stack if name == "stack" else replay.module.encoder
        self.kept = replay.kept[name]
        self.rules = self.module.mask_rules(self.kept.key_is_real)

    @property
    def t(self) -> int:
        return self.kept.ids.size(1)

    def cached(self, key: tuple, compute):
        return self.replay.cache.get((self.name, *key), compute)

    def lazy(self, key: tuple, compute, field: str | None = None) -> Lazy:
        return self.replay.lazy((self.name, *key), compute, field)

    # ---- what the blocks read: the embedding's output, the masks, the residual stream

    def embedded(self):
        """The embedding's output (with the rotary angles every layer needs), run again."""
        return self.cached(("embedded",), lambda: self.module.embed(self.kept.ids, self.kept.token_type_ids))

    def allowed(self, layer: int, cross: bool) -> torch.Tensor | None:
        """The bool mask the layer's attention used, built from its rule."""
        if cross:
            real = self.kept.memory_is_real
            return None if real is None else padding_allowed(real)
        # Built each time from the rule, not kept: (T, S) bools would be the one thing a trace held in T^2.
        return self.rules[self.module.kinds[layer]].allowed(self.t, self.t, self.kept.ids.device)

    def stream(self, layer: int, where: str) -> torch.Tensor:
        """(1, T, d) the residual stream "pre" (before the block), "mid" (after self-attention), "cross"
        (after cross-attention) or "post" (the block's output), as the forward pass computed it."""
        if where == "post":
            streams = self.kept.streams
            return self.kept.out if layer + 1 == len(streams) else streams[layer + 1][0]
        return self.kept.streams[layer][("pre", "mid", "cross").index(where)]

    def residual_stream(self) -> list[torch.Tensor]:
        n = len(self.module.layers)
        return [self.stream(i, "pre") for i in range(n)] + [self.stream(n - 1, "post") if n else self.kept.out]

    def resid(self, layer: int, where: str) -> Lazy:
        if where == "post" and layer + 1 < len(self.kept.streams):
            layer, where = layer + 1, "pre"  # one value under one key: resid_post[i] is resid_pre[i + 1]
        return self.lazy(("resid", layer, where), lambda: self.replay.host(self.stream(layer, where)))

    # ---- the record, every value of it lazy

    def record(self, encoded: Encoded) -> StackRecord:
        embedded = self.lazy(("embedded_host",), self._embedded_host)
        return StackRecord(
            tokens=encoded.tokens,
            token_ids=encoded.ids,
            offsets=encoded.offsets,
            embeddings=embedded.part("embeddings"),
            positions=self._positions(embedded),
            token_types=embedded.part("token_types") if self.module.embed.token_types is not None else None,
            embed_out=self.resid(0, "pre"),
            layers=tuple(self._layer(i) for i in range(len(self.module.layers))),
            final_norm=self.lazy(("final_norm",), self._final_norm) if self.module.norm is not None else None,
            hidden_states=self.lazy(("hidden_states",), self._hidden_states),
        )

    def _positions(self, embedded: Lazy) -> PositionRecord:
        kind, config = self.module.embed.config.positional, self.module.embed.config
        local = kind == "rope" and "sliding" in self.module.kinds and config.rope_base_of("sliding") != config.rope_base
        return PositionRecord(kind, None if kind == "none" else embedded.part("positions"),
                              embedded.part("local") if local else None)

    def _embedded_host(self) -> dict:
        e, host = self.embedded(), self.replay.host
        return {"embeddings": host(e.embeddings), "token_types": None if e.token_types is None else host(e.token_types),
                "positions": None if e.positions.values is None else host(e.positions.values),
                "local": None if e.positions.local_values is None else host(e.positions.local_values)}

    def _final_norm(self) -> np.ndarray:
        return self.replay.host(self.module.norm(self.kept.out))

    def _hidden_states(self) -> np.ndarray:
        stream = [pre for pre, _, _ in self.kept.streams] + [self.kept.out]
        return self.replay.host(torch.stack(stream, dim=1))  # (L + 1, T, d)

    def _layer(self, i: int) -> LayerRecord:
        block = self.module.layers[i]
        attn, cross = AttentionReplay(self, i, cross=False), None
        if block.cross_attn is not None:
            cross = AttentionReplay(self, i, cross=True)
        mlp = self.lazy((i, "mlp"), lambda: self._feed_forward(i))
        return LayerRecord(
            resid_pre=self.resid(i, "pre"),
            attn_norm=attn.norm(),
            self_attn=attn.record(),
            attn_post_norm=attn.output("post_norm") if block.attn_post_norm is not None else None,
            resid_mid=self.resid(i, "mid"),
            cross_norm=None if cross is None else cross.norm(),
            cross_attn=None if cross is None else cross.record(),
            resid_cross=None if cross is None else self.resid(i, "cross"),
            mlp_norm=mlp.part("norm") if block.pre_norm else self.resid(i, "post"),
            mlp=FeedForwardRecord(pre=mlp.part("pre"), up=mlp.part("up") if block.mlp.gated else None,
                                  act=mlp.part("act"), out=mlp.part("out")),
            mlp_post_norm=mlp.part("post_norm") if block.mlp_post_norm is not None else None,
            resid_post=self.resid(i, "post"),
        )

    def feed_forward(self, layer: int, positions: slice = ALL) -> tuple[torch.Tensor, FeedForwardRecord,
                                                                       torch.Tensor | None]:
        """The feed-forward sub-layer of `layer` run again on its recorded input at `positions`: (its norm's
        output, its record, its sandwich norm's output or None), (1, positions, ·) each."""
        block = self.module.layers[layer]
        before = self.stream(layer, "cross" if block.cross_attn is not None else "mid")[:, positions]
        _, normed, record, posted = block.feed_forward(before, capture=True)
        return normed, record, posted

    def _feed_forward(self, i: int) -> dict:
        """The feed-forward sub-layer run again on its input: every value it recorded, on the host."""
        normed, record, posted = self.feed_forward(i)
        host = self.replay.host
        return {"norm": host(normed), "pre": host(record.pre), "up": None if record.up is None else host(record.up),
                "act": host(record.act), "out": host(record.out), "post_norm": None if posted is None else host(posted)}


class AttentionReplay:
    """One attention layer of a trace: q, k and v run again from the residual stream before it, and from them
    any head's scores and probabilities, with the same function and the same mask as the forward pass."""

    def __init__(self, stack: StackReplay, layer: int, cross: bool):
        self.stack, self.layer, self.cross = stack, layer, cross
        block = stack.module.layers[layer]
        self.block, self.attn = block, block.cross_attn if cross else block.self_attn
        self.where = "cross_attn" if cross else "self_attn"

    def _key(self, *parts) -> tuple:
        return (self.layer, self.where, *parts)

    def _input(self) -> torch.Tensor:
        return self.stack.stream(self.layer, "mid" if self.cross else "pre")

    def _allowed(self) -> torch.Tensor | None:
        return self.stack.allowed(self.layer, self.cross)

    # ---- torch, in the compute dtype, on the model's device

    def _rotary(self):
        return None if self.cross else self.stack.embedded().rotary_for(self.stack.module.kinds[self.layer])

    def projections(self) -> dict[str, torch.Tensor]:
        """q (1, nh, T, hs), k and v (1, nkv, S, hs): the attention's own projection of its recorded input."""
        def compute():
            normed = self.block.attention_input(self._input(), self.cross)
            return dict(zip("qkv", self.attn.project(normed, self.stack.kept.memory if self.cross else None,
                                                     self._rotary())))
        return self.stack.cached(self._key("qkv"), compute)

    def weights(self, heads: slice = ALL, queries: slice = ALL, keys: slice = ALL) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores, probs) of some heads and query rows, (1, heads, queries, S), as `attention` computes them:
        keys repeated per query head first, so that one head's product is the forward's product of that head.
        `keys` leaves out keys every chosen query has masked (a causal block's later keys): the same probabilities."""
        allowed = self._allowed()
        k = repeat_kv(self.projections()["k"], self.attn.groups)[:, heads, keys]  # (1, heads, S, hs)
        if allowed is not None and allowed.size(-2) > 1:
            allowed = allowed[..., queries, :]
        if allowed is not None:
            allowed = allowed[..., keys]
        q = self.projections()["q"][:, heads, queries]  # (1, heads, queries, hs)
        return attention_weights(q, k, allowed, self.attn.scale)

    def _lengths(self) -> tuple[int, int]:
        t = self.stack.t
        return t, self.stack.kept.memory.size(1) if self.cross else t

    def _mask(self) -> torch.Tensor:
        """(T, S) bool, as the record's mask."""
        t, s = self._lengths()
        return full_mask(self._allowed(), (1, 1, t, s), self.stack.kept.ids.device)[0]

    # ---- what a page reads: numpy, in the trace's dtype

    def record(self) -> AttentionRecord:
        qkv = self.stack.lazy(self._key("qkv_host"), self._qkv_host)
        return AttentionRecord(
            q=qkv.part("q"), k=qkv.part("k"), v=qkv.part("v"),
            scores=self.stack.lazy(self._key("scores"), lambda: self._every_head("scores")),
            mask=self.stack.lazy(self._key("mask"), lambda: self._mask().cpu().numpy()),
            probs=self.stack.lazy(self._key("probs"), lambda: self._every_head("probs")),
            z=self.output("z"), out=self.output("out"), replay=self,
        )

    def norm(self) -> Lazy:
        """The record's attn_norm / cross_norm: the normed input (pre-norm), or the normed sum leaving (post-norm)."""
        if not self.block.pre_norm:
            return self.stack.resid(self.layer, "cross" if self.cross else "mid")
        return self.stack.lazy(self._key("qkv_host"), self._qkv_host, "normed")

    def output(self, name: str) -> Lazy:
        return self.stack.lazy(self._key("output"), self._output, name)

    def _qkv_host(self) -> dict[str, np.ndarray]:
        host, projected = self.stack.replay.host, self.projections()
        normed = self.block.attention_input(self._input(), self.cross) if self.block.pre_norm else None
        return {"normed": None if normed is None else host(normed), **{n: host(v) for n, v in projected.items()}}

    def _every_head(self, which: str) -> np.ndarray:
        scores, probs = self.weights()
        return self.stack.replay.host(scores if which == "scores" else probs)  # (nh, T, S)

    def _output(self) -> dict[str, np.ndarray]:
        """z, out and the sandwich norm: the sub-layer run again, every head (T x S each) computed and let go."""
        if self.cross:
            _, _, record, posted = self.block.cross_attention(
                self._input(), self.stack.kept.memory, self._allowed(), capture=True)
        else:
            rotary = self.stack.embedded().rotary_for(self.stack.module.kinds[self.layer])
            _, _, record, posted = self.block.self_attention(self._input(), self._allowed(), rotary, capture=True)
        host = self.stack.replay.host
        return {"z": host(record.z), "out": host(record.out), "post_norm": None if posted is None else host(posted)}

    def head_values(self) -> torch.Tensor:
        """(1, nh, S, hs) v as each query head reads it (grouped-query heads share a key/value head's)."""
        return repeat_kv(self.projections()["v"], self.attn.groups)

    def head(self, which: str, head: int) -> np.ndarray:
        """(T, S) one head's "scores" or "probs"."""
        if not 0 <= head < self.attn.n_heads:
            raise IndexError(f"head {head} is outside 0..{self.attn.n_heads - 1}")
        every = self.stack.replay.cache.peek((self.stack.name, *self._key(which)))
        if every is not None:
            return every[head]

        def compute():
            scores, probs = self.weights(slice(head, head + 1))
            return self.stack.replay.host(scores if which == "scores" else probs)[0]
        return self.stack.cached(self._key(which, head), compute)

    def query_rows(self, query: int) -> np.ndarray:
        """(nh, S) float32 every head's probabilities for one query, probs[:, query]."""
        t = self._lengths()[0]
        if not 0 <= query < t:
            raise IndexError(f"query {query} is outside the text")

        def compute():
            # A block of rows around the query, not the row alone: a one-row product is a matrix-vector
            # product, which BLAS sums in another order than the matrix's (a last-bit difference).
            start = min(max(query - QUERY_BLOCK // 2, 0), max(t - QUERY_BLOCK, 0))
            _, probs = self.weights(queries=slice(start, start + QUERY_BLOCK))
            return probs[0, :, query - start].float().cpu().numpy()
        return self.stack.cached(self._key("row", query), compute)

    def _each_head(self):
        """(probs (T, S) float32, allowed (T, S)) of each head in turn: one head's matrix in memory at a time."""
        allowed = self._mask()
        for head in range(self.attn.n_heads):
            yield self.weights(slice(head, head + 1))[1][0, 0].float(), allowed

    def mean_probs(self) -> np.ndarray:
        def compute():
            total = sum(probs for probs, _ in self._each_head())
            return (total / self.attn.n_heads).cpu().numpy()
        return self.stack.cached(self._key("mean"), compute)

    def mean_probs_block(self, start: int, stop: int, keys: int) -> np.ndarray:
        _, probs = self.weights(queries=slice(start, stop), keys=slice(0, keys))  # (1, nh, rows, keys)
        return probs[0].float().mean(dim=0).cpu().numpy()

    def key_means(self, samples: int) -> np.ndarray:
        def compute():
            rows = sampled_queries(self._lengths()[0], samples)
            _, probs = self.weights(queries=rows)
            return sampled_key_means(probs[0], self._mask()[rows])
        return self.stack.cached(self._key("key_means", samples), compute)

    def thumbnails(self, cells: int) -> np.ndarray:
        def compute():
            return np.stack([block_means(probs, allowed, cells) for probs, allowed in self._each_head()])
        return self.stack.cached(self._key("thumbnails", cells), compute)
