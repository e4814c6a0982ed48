"""The Transformer: embeddings, a stack of blocks, and (for decoders) a vocabulary projection.

One class covers the three families by configuration:
encoder (BERT), decoder (GPT, Llama) and encoder-decoder (the original paper).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from core.engine.attention import HeadAblation, KVCache
from core.engine.blocks import Block, make_norm
from core.engine.config import ModelConfig
from core.engine.layout import by_column
from core.engine.masks import MaskRule, padding_allowed
from core.engine.positional import Rotary, rope_angles, sinusoidal_table
from core.record.trace import PositionRecord, StackRecord

LogitsFor = Literal["all", "last", "none"]


@dataclass(frozen=True)
class EmbeddingOutput:
    x: torch.Tensor  # (B, T, d) what enters the first block
    embeddings: torch.Tensor  # (B, T, d)
    positions: PositionRecord
    token_types: torch.Tensor | None
    rotary: Rotary | None  # for "global" layers (every layer, unless some are "sliding")
    local_rotary: Rotary | None = None  # for "sliding" layers, where their base differs

    def rotary_for(self, kind: str) -> Rotary | None:
        return self.local_rotary if kind == "sliding" and self.local_rotary is not None else self.rotary


def _embedding(rows: int, d: int) -> nn.Embedding:
    """nn.Embedding with its usual N(0, 1) rows, drawn by torch.randn: nn.Embedding's own
    initialiser, on the meta device of Transformer.empty, imports torch._dynamo (a second of start-up)."""
    return nn.Embedding(rows, d, _weight=torch.randn(rows, d))


class Embedding(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.tokens = _embedding(config.vocab_size, config.d_model)
        self.positions = _embedding(config.max_positions, config.d_model) if config.positional == "learned" else None
        self.token_types = _embedding(config.type_vocab_size, config.d_model) if config.type_vocab_size else None
        self.norm = make_norm(config) if config.embedding_norm else None

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None, start: int = 0,
                positions: bool = True) -> EmbeddingOutput:
        """ids (B, T) at positions start … start + T - 1 (start > 0: after tokens read before, in a KVCache).
        positions=False leaves the positional information out: no vector added, no rotation to pass on."""
        config, t = self.config, ids.size(1)
        kind = config.positional if positions else "none"
        position_ids = torch.arange(start, start + t, device=ids.device)
        embeddings = self.tokens(ids)  # (B, T, d)
        if config.scale_embeddings:
            # The scale in the weights' dtype, as Gemma computes it (in bfloat16, sqrt(640) is 25.25).
            embeddings = embeddings * embeddings.new_tensor(math.sqrt(config.d_model))
        x, rotary, local_rotary, position_values, local_values = embeddings, None, None, None, None
        if kind == "rope":
            angles = rope_angles(position_ids, config.head_dim, config.rope_base)  # (T, hs/2)
            rotary = Rotary(angles, embeddings.dtype)
            position_values = angles[None]
            local_base = config.rope_base_of("sliding")
            if "sliding" in config.layer_kinds and local_base != config.rope_base:
                local_angles = rope_angles(position_ids, config.head_dim, local_base)  # (T, hs/2)
                local_rotary = Rotary(local_angles, embeddings.dtype)
                local_values = local_angles[None]
        elif kind != "none":
            if self.positions is None:
                # (T, d), cheaper to compute than to keep
                table = sinusoidal_table(start + t, config.d_model)[start:].to(ids.device)
            else:
                table = self.positions(position_ids)  # (T, d)
            position_values = table[None].to(embeddings.dtype)  # (1, T, d)
            x = x + position_values
        token_types = None
        if self.token_types is not None:
            types = torch.zeros_like(ids) if token_type_ids is None else token_type_ids
            token_types = self.token_types(types)  # (B, T, d)
            x = x + token_types
        if self.norm is not None:
            x = self.norm(x)
        record = PositionRecord(kind, position_values, local_values)
        return EmbeddingOutput(x, embeddings, record, token_types, rotary, local_rotary)


@dataclass(frozen=True)
class StackCheckpoints:
    """What a trace keeps of one stack's forward pass, in the dtype it computed in: its inputs and the
    residual stream before every sub-layer. Enough to run any sub-layer again and get the same numbers,
    and linear in T: (2 or 3) x layers x T x d numbers, where every head's probabilities are heads x T^2 a layer."""

    ids: torch.Tensor  # (B, T)
    token_type_ids: torch.Tensor | None
    key_is_real: torch.Tensor | None  # (B, T) False at padding
    streams: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None], ...]  # per block: resid_pre, resid_mid, resid_cross
    out: torch.Tensor  # (B, T, d) the last block's output, before the final norm
    memory: torch.Tensor | None = None  # (B, S, d) the encoder's output, for cross-attention
    memory_is_real: torch.Tensor | None = None  # (B, S)

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor held, each once (for counting bytes)."""
        held = [self.ids, self.token_type_ids, self.key_is_real, self.out, self.memory, self.memory_is_real]
        held += [t for stream in self.streams for t in stream]
        return [t for t in held if t is not None]


class DecoderCache:
    """A KVCache per layer: what a decoder keeps between generated tokens."""

    def __init__(self, n_layers: int):
        self.layers = [KVCache() for _ in range(n_layers)]

    @property
    def length(self) -> int:
        return self.layers[0].length

    def truncate(self, length: int) -> None:
        for layer in self.layers:
            layer.truncate(length)


class Stack(nn.Module):
    """Embedding, blocks and optional final norm: an encoder or a decoder."""

    def __init__(self, config: ModelConfig, kinds: tuple[str, ...], causal: bool, cross_attention: bool = False):
        super().__init__()
        self.causal, self.kinds, self.window = causal, kinds, config.sliding_window
        self.embed = Embedding(config)
        self.layers = nn.ModuleList(Block(config, cross_attention) for _ in kinds)
        self.norm = make_norm(config) if config.final_norm else None

    def mask_rules(self, key_is_real: torch.Tensor | None = None) -> dict[str, MaskRule]:
        """Each layer kind's mask, as a definition."""
        rules = {"global": MaskRule(causal=self.causal, key_is_real=key_is_real)}
        if "sliding" in self.kinds:
            rules["sliding"] = MaskRule(causal=True, window=self.window, key_is_real=key_is_real)
        return rules

    def forward(
        self,
        ids: torch.Tensor,
        key_is_real: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_is_real: torch.Tensor | None = None,
        capture: bool = False,
        checkpoints: bool = False,
        cache: DecoderCache | None = None,
        head_ablation: Mapping[int, HeadAblation] | None = None,
        also_allowed: torch.Tensor | None = None,
        positions: bool = True,
    ) -> tuple[torch.Tensor, StackRecord | StackCheckpoints | None]:
        """ids (B, T); key_is_real (B, S) False at padding. Returns (B, T, d) and, with `capture`, the record of
        everything computed, or with `checkpoints`, what a trace keeps to compute any of it again.
        With a `cache`, ids continue the positions it holds, and their keys and values join it.
        Interventions (core/lessons/): `head_ablation` {layer: heads switched off before W_O}; `also_allowed`
        (B, 1, T, S) bool, and-ed into every layer's self-attention mask; `positions=False`, no positional
        information (Embedding.forward)."""
        start = 0 if cache is None else cache.length
        t = ids.size(1)
        masks = {kind: rule.allowed(t, start + t, ids.device) for kind, rule in self.mask_rules(key_is_real).items()}
        if also_allowed is not None:
            masks = {kind: also_allowed if m is None else m & also_allowed for kind, m in masks.items()}
        ablations = head_ablation or {}
        memory_allowed = None if memory_is_real is None else padding_allowed(memory_is_real)
        embedded = self.embed(ids, token_type_ids, start, positions)
        x = embedded.x
        hidden, records, streams = [x], [], []
        for i, (block, kind) in enumerate(zip(self.layers, self.kinds)):
            layer_cache = None if cache is None else cache.layers[i]
            x, record = block(x, masks[kind], embedded.rotary_for(kind), memory, memory_allowed,
                              capture or checkpoints, layer_cache, ablations.get(i))
            if capture:
                hidden.append(x)
                records.append(record)
            elif checkpoints:
                streams.append((record.resid_pre, record.resid_mid, record.resid_cross))
                del record  # the rest of it (every head's T x S matrices among it) is freed before the next block
        final = self.norm(x) if self.norm is not None else None
        out = x if final is None else final
        if checkpoints and not capture:
            return out, StackCheckpoints(ids, token_type_ids, key_is_real, tuple(streams), x, memory, memory_is_real)
        if not capture:
            return out, None
        record = StackRecord(
            tokens=None,
            token_ids=None,
            offsets=None,
            embeddings=embedded.embeddings,
            positions=embedded.positions,
            embed_out=embedded.x,
            layers=tuple(records),
            final_norm=final,
            hidden_states=torch.stack(hidden, dim=1),  # (B, L + 1, T, d)
            token_types=embedded.token_types,
        )
        return out, record


@dataclass(frozen=True)
class TransformerOutput:
    hidden: torch.Tensor  # (B, T, d) the main stack's output, after its final norm
    logits: torch.Tensor | None  # (B, T or 1, vocab)
    stack: StackRecord | StackCheckpoints | None
    encoder: StackRecord | StackCheckpoints | None


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        encoder_decoder = config.architecture == "encoder-decoder"
        encoder_kinds = ("global",) * config.encoder_layers
        self.encoder = Stack(config, encoder_kinds, causal=False) if encoder_decoder else None
        self.stack = Stack(config, config.layer_kinds, causal=config.is_causal, cross_attention=encoder_decoder)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False) if config.lm_head else None
        self._tie()

    def _tie(self) -> None:
        if self.config.tie_embeddings:
            self.lm_head.weight = self.stack.embed.tokens.weight

    @classmethod
    def empty(cls, config: ModelConfig) -> Transformer:
        """A model whose parameters are placeholders on the meta device, for loaders that
        replace every one (loaders.weights.assign): random initialisation of a 135M-parameter
        model, then a copy over it, would cost seconds on a small CPU."""
        with torch.device("meta"):
            return cls(config)

    def tie_weights(self) -> Transformer:
        """Share the embedding with the output projection again after its parameters were replaced."""
        self._tie()
        return self

    def prepare_for_inference(self, max_bytes: int = 256 * 1024**2) -> Transformer:
        """Lay the weights out for speed (core/engine/layout.py), their values untouched: self-attention's q, k and v
        in one matrix, a gated feed-forward's gate and up in one, every weight column by column. A weight
        above max_bytes keeps its layout, since its copy would add as much to the peak memory of loading
        (Gemma's 671 MB embedding, which is also its output projection)."""
        with torch.no_grad():
            for linear in {id(m): m for m in self.modules() if isinstance(m, nn.Linear)}.values():
                weight = linear.weight
                if weight.element_size() * weight.nelement() <= max_bytes:
                    linear.weight = nn.Parameter(by_column(weight), requires_grad=weight.requires_grad)
            for stack in (self.encoder, self.stack):
                for block in [] if stack is None else stack.layers:
                    block.self_attn.fuse()
                    if block.mlp.gated:
                        block.mlp.fuse()
        if self.config.tie_embeddings:  # the embedding looks up rows of the same (now strided) table
            self.stack.embed.tokens.weight = self.lm_head.weight
        return self

    def forward(
        self,
        ids: torch.Tensor,
        key_is_real: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        source_ids: torch.Tensor | None = None,
        source_is_real: torch.Tensor | None = None,
        capture: bool = False,
        logits_for: LogitsFor = "all",
        checkpoints: bool = False,
        cache: DecoderCache | None = None,
        head_ablation: Mapping[int, HeadAblation] | None = None,
        also_allowed: torch.Tensor | None = None,
        positions: bool = True,
    ) -> TransformerOutput:
        """ids (B, T) for the main stack; source_ids (B, S) for the encoder of an encoder-decoder.
        capture: record every value (torch tensors, batch first); checkpoints: keep what a trace needs to
        compute any value again (core/runtime/replay.py); cache: a decoder's keys and values of earlier positions;
        head_ablation, also_allowed and positions: interventions on the main stack (Stack.forward)."""
        memory, encoder_record = None, None
        if self.encoder is not None:
            if source_ids is None:
                raise ValueError("an encoder-decoder needs source_ids for its encoder")
            memory, encoder_record = self.encoder(
                source_ids, source_is_real, capture=capture, checkpoints=checkpoints
            )  # (B, S, d)
        hidden, record = self.stack(ids, key_is_real, token_type_ids, memory, source_is_real, capture, checkpoints,
                                    cache, head_ablation, also_allowed, positions)
        logits = None
        if self.lm_head is not None and logits_for != "none":
            # The vocabulary projection is the largest matrix product for short texts: skip rows nobody reads.
            logits = self.vocab_logits(hidden if logits_for == "all" else hidden[:, -1:])  # (B, T or 1, vocab)
        return TransformerOutput(hidden, logits, record, encoder_record)

    def vocab_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, vocab) scores of every token of the vocabulary from the final hidden states (B, T, d)."""
        logits = self.lm_head(hidden)
        if self.config.final_logit_softcap is not None:
            # Squashes logits smoothly into (-cap, cap): no token's score can run away.
            cap = self.config.final_logit_softcap
            logits = torch.tanh(logits / cap) * cap
        return logits
