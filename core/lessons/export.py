"""Downloads: the numbers behind a view as CSV, and a trace as a compressed .npz that opens without pickle.

CSV. Written with the csv module (every quote, comma and newline escaped), UTF-8. A cell of text that a
spreadsheet would run as a formula (it begins with = + - @, or a tab or carriage return) gets a leading
apostrophe, as OWASP recommends: the spreadsheet shows the text, never runs it. Numbers are written as
numbers. Token text is the real text of the token (the characters its span covers), not its display label.

Trace. `trace_arrays` walks `trace.names()` and produces the values a trace holds lazily one at a time, the
O(T·d) ones first (token ids, the residual stream, the last logits), then each layer's internals, under a byte
budget. It never produces the T × vocab logits, nor any T × T attention matrix of a text longer than
`ATTENTION_TOKENS`; every value left out is named in the file with how to get it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_BYTES = 64 * 1024**2  # uncompressed bytes a trace download may hold
ATTENTION_TOKENS = 64  # T × T attention values (scores, probs, mask) go into a download up to this many tokens
TIME_BY_TIME = re.compile(r"\.(scores|probs|mask)$")
NEVER = {"logits"}  # T × vocab: use last_logits, or trace.get("logits") in Python
FIRST = ("tokens", "token_ids", "offsets", "embeddings", "positions.values", "embed_out", "hidden_states",
         "final_norm")


def safe_cell(value):
    """A CSV cell a spreadsheet will not run: text beginning like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence, rows: Iterable[Sequence]) -> str:
    """CSV of `header` and `rows`, every cell guarded with `safe_cell`; numbers as numbers."""
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF rows, so a cell holding \r or \n is quoted
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([safe_cell(_plain(cell)) for cell in row])
    return out.getvalue()


def _plain(cell):
    if isinstance(cell, np.generic):
        return cell.item()
    return cell


def token_texts(tokens: Sequence[str], offsets: Sequence[tuple[int, int]], text: str) -> list[str]:
    """Each token's real text: the characters of `text` its span covers; a token added by the tokenizer
    (an empty span) keeps its vocabulary string ("[CLS]")."""
    return [text[a:b] if b > a else token for token, (a, b) in zip(tokens, offsets)]


def attention_csv(weights: np.ndarray, mask: np.ndarray, query_tokens: Sequence[str],
                  key_tokens: Sequence[str]) -> str:
    """The attention matrix (T, S): one row per query, one column per key; masked cells empty."""
    weights, mask = np.asarray(weights, dtype=np.float32), np.asarray(mask, dtype=bool)
    header = ["position", "token", *key_tokens]
    rows = ([i, query, *(float(w) if m else "" for w, m in zip(weights[i], mask[i]))]
            for i, query in enumerate(query_tokens))
    return csv_text(header, rows)


def distribution_csv(ids: np.ndarray, tokens: Sequence[str], logits: np.ndarray, probs: np.ndarray) -> str:
    """Candidate next tokens, most likely first: rank, id, text, logit, probability."""
    rows = ([rank, int(i), token, float(z), float(p)]
            for rank, (i, token, z, p) in enumerate(zip(ids, tokens, logits, probs)))
    return csv_text(["rank", "token_id", "token", "logit", "probability"], rows)


def embeddings_csv(ids: Sequence[int], tokens: Sequence[str], vectors: np.ndarray) -> str:
    """One row per token: position, id, text, then its vector's d numbers."""
    vectors = np.asarray(vectors, dtype=np.float32)
    header = ["position", "token_id", "token", *(f"d{k}" for k in range(vectors.shape[1]))]
    rows = ([i, int(token_id), token, *map(float, vector)]
            for i, (token_id, token, vector) in enumerate(zip(ids, tokens, vectors)))
    return csv_text(header, rows)


def loss_csv(ids: Sequence[int], tokens: Sequence[str], probability: np.ndarray, loss: np.ndarray) -> str:
    """One row per predicted token (position 1 on): the probability the model gave it, and −ln of it."""
    rows = ([i + 1, int(token_id), token, float(p), float(nats)]
            for i, (token_id, token, p, nats) in enumerate(zip(ids, tokens, probability, loss)))
    return csv_text(["position", "token_id", "token", "probability", "loss_nats"], rows)


# ---------------------------------------------------------------- the whole trace


@dataclass(frozen=True)
class TraceExport:
    arrays: dict[str, np.ndarray]  # name -> value, as np.savez_compressed writes them
    left_out: dict[str, str]  # name -> why it was left out
    nbytes: int  # uncompressed bytes of `arrays`


HOW_TO_GET = ("In Python: lm = core.load_model(MODEL); trace = lm.trace(TEXT); trace.get(NAME) "
              "(one head's attention: trace.layers[i].self_attn.head_probs(h)).")


def _ordered(names: list[str]) -> list[str]:
    first = [n for n in FIRST if n in names]
    return first + [n for n in names if n not in first]


def _as_array(name: str, value) -> np.ndarray:
    if isinstance(value, list) and value and isinstance(value[0], str):
        return np.array(value, dtype=np.str_)
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{name} is not numeric")
    return array


def trace_arrays(trace, text: str, budget: int = EXPORT_BYTES, attention_tokens: int = ATTENTION_TOKENS) -> TraceExport:
    """The trace's values as arrays, under `budget` bytes, without producing what a long text makes huge."""
    t = len(trace.token_ids)
    arrays: dict[str, np.ndarray] = {}
    left_out: dict[str, str] = {}
    used, full = 0, False
    for name in _ordered(trace.names()):
        if name in NEVER:
            left_out[name] = "T × vocabulary numbers; last_logits holds the last position's"
            continue
        if TIME_BY_TIME.search(name) and t > attention_tokens:
            left_out[name] = f"T × T per head, kept only for texts of up to {attention_tokens} tokens"
            continue
        if full:
            left_out[name] = "over the download's size budget"
            continue
        array = _as_array(name, trace.get(name))
        if used + array.nbytes > budget:
            left_out[name] = "over the download's size budget"
            full = True  # later values are not produced: each costs a replay
            continue
        arrays[name], used = array, used + array.nbytes
    if trace.last_logits is not None:
        arrays["last_logits"] = np.asarray(trace.last_logits)
        used += arrays["last_logits"].nbytes
    arrays["meta.model"] = np.array(trace.model, dtype=np.str_)
    arrays["meta.text"] = np.array(text, dtype=np.str_)
    arrays["meta.token_text"] = np.array(token_texts(trace.tokens, trace.stack.offsets, text), dtype=np.str_)
    arrays["meta.left_out"] = np.array([f"{name}: {why}" for name, why in left_out.items()], dtype=np.str_)
    arrays["meta.how_to_get"] = np.array(HOW_TO_GET, dtype=np.str_)
    return TraceExport(arrays, left_out, used)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as one compressed .npz: plain arrays and unicode strings only, so np.load(...,
    allow_pickle=False) opens it."""
    for name, array in arrays.items():
        if array.dtype == object:
            raise TypeError(f"{name} would need pickle")
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()
