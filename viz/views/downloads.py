"""The data behind a view as files: CSV of what the page shows (token text as written, safely quoted), and the
whole trace as .npz. Each file is built when its button is clicked (viz/export.py), from the cached trace."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.lessons import export as core_export
from viz import export
from viz.attention_sources import shown_weights
from viz.state import _

DISTRIBUTION_ROWS = 1_000  # the next-token CSV: the most likely tokens, not the whole vocabulary


def real_tokens(stack, text: str) -> list[str]:
    return core_export.token_texts(stack.tokens, stack.offsets, text)


def attention(trace, text: str, target: str | None, kind: str, layer: int, head: int | None) -> None:
    """The shown head's (or the heads' mean) attention matrix with its tokens, and the whole trace."""
    decoder_text = target or text
    stacks = {"self": (trace.stack, decoder_text, trace.stack, decoder_text),
              "cross": (trace.stack, decoder_text, trace.encoder, text),
              "encoder": (trace.encoder, text, trace.encoder, text)}
    queries, query_text, keys, key_text = stacks[kind]
    record = (queries.layers[layer].cross_attn if kind == "cross" else queries.layers[layer].self_attn)
    name = f"head{head}" if head is not None else "mean"
    row = st.container(horizontal=True)
    with row:
        export.csv_button(
            _("Attention matrix (CSV)"), lambda: core_export.attention_csv(
                shown_weights(record, head), record.mask, real_tokens(queries, query_text), real_tokens(keys, key_text)),
            (kind, f"layer{layer}", name), key="download-attention",
            help=_("One row per query token, one column per key token: the raw weights of this view (before hiding "
                   "sinks); masked cells are empty."))
        export.trace_button(trace, decoder_text, key="download-trace")


def next_token(tokenizer, trace, text: str) -> None:
    """The next-token distribution (the most likely tokens) and, for a decoder, each token's loss."""
    logits = np.asarray(trace.last_logits, dtype=np.float32)
    row = st.container(horizontal=True)

    def distribution() -> str:
        order = np.argsort(-logits, kind="stable")[:DISTRIBUTION_ROWS]
        shifted = np.exp(logits.astype(np.float64) - logits.max())
        probs = shifted / shifted.sum()
        return core_export.distribution_csv(order, [tokenizer.token_bytes(int(i)).decode("utf-8", errors="backslashreplace")
                                                    for i in order], logits[order],
                                            probs[order])

    with row:
        export.csv_button(_("Next-token distribution (CSV)"), distribution, ("distribution",),
                          key="download-distribution",
                          help=_("The {count:,} most likely next tokens at temperature 1: logit and probability.")
                          .format(count=DISTRIBUTION_ROWS))
        if len(trace.token_ids) >= 2 and trace.architecture == "decoder":
            def losses() -> str:
                values = trace.token_losses()
                return core_export.loss_csv(trace.token_ids[1:], real_tokens(trace.stack, text)[1:],
                                            values.probability, values.loss)
            export.csv_button(_("Per-token loss (CSV)"), losses, ("loss",), key="download-loss",
                              help=_("Each token from the second on: the probability the model gave it, and −ln p."))
        export.trace_button(trace, text, key="download-trace")


def embeddings(trace, text: str) -> None:
    """The token embeddings (rows of the embedding table, as the model looked them up) with their tokens."""
    stack = trace.stack if trace.encoder is None else trace.encoder
    row = st.container(horizontal=True)
    with row:
        export.csv_button(_("Embeddings (CSV)"), lambda: core_export.embeddings_csv(
            stack.token_ids, real_tokens(stack, text), stack.embeddings), ("embeddings",), key="download-embeddings",
            help=_("One row per token: its id, its text and its embedding vector."))
        export.trace_button(trace, text, key="download-trace")
