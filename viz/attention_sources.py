"""The kinds of attention a trace holds, and the weights the Attention page shows of one: a head, or the mean of
the heads, with attention sinks hidden or not. The Attention view draws them; compare mode, the downloads, the
Encoder–decoder view and the class's question read the same choice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import N_
from viz.tokens import labels_for

ONE_HEAD, AVERAGE = N_("One head"), N_("Average over heads")
RANKED_FOR = "attention_ranked_for"  # (model, tokens, query) whose ranking chose the Attention page's head last
HIDE_SINKS = "attention_hide_sinks"  # session key of the Attention page's switch that hides the sinks


@dataclass(frozen=True)
class AttentionSource:
    """One kind of attention in the trace: its records per layer, and who looks at whom."""

    records: tuple  # one AttentionRecord per layer
    queries: list[str]  # readable token text of the tokens that look
    keys: list[str]  # ... and of the tokens looked at
    sink_keys: np.ndarray  # (S,) bool: special tokens and the first token, where attention tends to pool
    cross: bool = False  # queries from one stack, keys from the other

    @property
    def n_layers(self) -> int:
        return len(self.records)

    @property
    def n_heads(self) -> int:
        return self.records[0].query_rows(0).shape[0]  # one row per head: never every head's matrix


def readable_tokens(stack, tokenizer) -> list[str]:
    """Tokens as the text they stand for (" animal", not "Ġanimal"; 冷(1-2/3), not a byte)."""
    return labels_for(tokenizer, stack.token_ids)


def _source(records, query_stack, key_stack, tokenizer) -> AttentionSource:
    sinks = np.array([i in tokenizer.special_ids and not tokenizer.is_unknown(i) for i in key_stack.token_ids])
    sinks[0] = True  # decoders without a start token park attention on whatever comes first
    queries = readable_tokens(query_stack, tokenizer)
    keys = queries if key_stack is query_stack else readable_tokens(key_stack, tokenizer)
    return AttentionSource(tuple(records), queries, keys, sinks, cross=query_stack is not key_stack)


def attention_sources(trace, tokenizer) -> dict[str, AttentionSource]:
    """Every kind of attention the trace holds, keyed by the URL's `attn` values."""
    decoder = trace.stack
    sources = {"self": _source((layer.self_attn for layer in decoder.layers), decoder, decoder, tokenizer)}
    if trace.encoder is not None:
        encoder = trace.encoder
        sources["cross"] = _source((layer.cross_attn for layer in decoder.layers), decoder, encoder, tokenizer)
        sources["encoder"] = _source((layer.self_attn for layer in encoder.layers), encoder, encoder, tokenizer)
    return sources


def shown_weights(record, head: int | None) -> np.ndarray:
    """(T, S) float32: one head's weights, or the mean over heads, produced by the trace alone."""
    return np.asarray(record.mean_probs() if head is None else record.head_probs(head), dtype=np.float32)
