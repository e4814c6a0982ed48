"""Whatever a student types, nothing breaks: random text (hypothesis) through tokenisation, the trace, the
figure builders that show token labels, and the pages that show the text, with no exception anywhere.

The text is built from pieces that have broken text tools before: nothing, whitespace, one character,
emoji joined by ZWJ, right-to-left text and its controls, combining marks, control characters and NUL,
lone surrogates, byte-order and zero-width marks, the special-token strings of the models, markup; and
the maximum length and beyond (state.MAX_TEXT_CHARS). A model may refuse a text with a clear message
(a ScopeError: empty text, say); that is an answer, not a failure. Anything else raised is a bug.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from core import MODELS, ScopeError, load_model
from viz import catalog, state, tokens
from viz.figures import attention as attention_figures
from viz.figures import distribution as distribution_figures
from viz.figures import embeddings as embedding_figures
from viz.figures import masks as mask_figures

APP = Path(__file__).resolve().parent.parent / "app.py"
MAX = state.MAX_TEXT_CHARS
TRACE_TOKENS = 128
SURROGATE = re.compile("[\ud800-\udfff]")
TRACED = ("minilm-l6", "smollm2-135m")  # an encoder (WordPiece) and a decoder (byte-level BPE)
PIECES = (
    "", " ", "   ", "\t\n\r ", "a", "冷", "今天太冷了", ".",
    "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>",
    "<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>",
    "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏽‍💻", "🫶🏿", "\u200d", "\u200b", "\ufeff", "\ufffd",
    "שלום עולם", "مرحبا بالعالم", "\u202eevil\u202c", "\u200f", "\u2067x\u2069",
    "e\u0301", "a\u0300\u0301\u0302\u0303\u0304\u0305", "Z̷̢͎a̸l̵g̴o̶", "\u0e01\u0e34\u0e4a",
    "\x00", "\x01\x07\x08", "\x1b[31m", "\x7f", "\x85", "\u2028",
    "\ud800", "\udfff", "\udc80abc",
    "<script>alert(1)</script>", "[link](javascript:alert(1))", "**bold** `code` $x$", "{text} {0} %s",
)
LONG = ("a" * MAX, "ab " * (MAX // 3 + 1), "冷" * (MAX + 1))  # at the limit and beyond
TEXTS = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=6),
              st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
              st.characters(max_codepoint=0x1F)),  # control characters
    max_size=6,
).map("".join)


@pytest.fixture(scope="module")
def models():
    return {name: load_model(name) for name in TRACED if MODELS[name].available()}


def test_the_traced_models_are_installed(models):
    assert set(models) == set(TRACED)


def figures_of(labels: list[str]) -> None:
    """Every builder family that draws token labels, given these labels (unique on axes, as pages do)."""
    axis = tokens.axis_labels(labels)
    n = len(axis)
    rng = np.random.default_rng(n)
    weights = rng.random((n, n)).astype(np.float32)
    mask = np.tril(np.ones((n, n), dtype=bool))
    weights = np.where(mask, weights, 0) / np.where(mask, weights, 0).sum(-1, keepdims=True)
    attention_figures.make_attention_heatmap_figure(weights, mask, axis, axis, title=labels[-1])
    attention_figures.make_attention_image_figure(weights, mask, axis, axis, title=labels[0])
    attention_figures.make_attention_lines_figure(weights, mask, axis, axis, query=n - 1)
    attention_figures.make_attention_row_figure(weights[-1], mask[-1], axis)
    distribution_figures.make_distribution_figure(labels, np.full(n, 1 / n), rng.normal(size=n))
    distribution_figures.make_token_loss_figure(labels, rng.random(n))
    mask_figures.make_mask_figure(mask, axis, axis)
    embedding_figures.make_embedding_heatmap_figure(rng.normal(size=(n, 4)), axis)
    embedding_figures.make_similarity_figure(np.corrcoef(rng.normal(size=(n, 4))) if n > 1 else np.ones((1, 1)),
                                             axis)
    embedding_figures.make_projection_figure(rng.normal(size=(n, 2)), axis)


def through_the_core(lm, text: str) -> None:
    try:
        encoded, _ = lm.encode(text)
    except ScopeError:
        return  # said to the student as a message
    labels = tokens.labels_for(lm.tokenizer, encoded.ids[:48])
    chips = tokens.chips_for(lm.tokenizer, text[:400])
    tokens.chips_html(chips)
    tokens.chip_rows(chips)
    assert all(isinstance(label, str) and label for label in labels)
    if labels:
        figures_of(labels)
    try:  # cut at 128 tokens: the long examples take the same path as 2,048 (tests/test_long_text.py runs those)
        trace = lm.trace(text, max_tokens=TRACE_TOKENS)
    except ScopeError:
        return
    layer = trace.layers[0].self_attn
    probs = layer.head_probs(0)
    assert probs.shape == (len(trace.token_ids),) * 2 and np.isfinite(probs.astype(np.float32)).all()
    if trace.last_logits is not None:
        assert np.isfinite(trace.last_logits).all()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
@example(text="")
@example(text=" ")
@example(text="x")
@example(text=LONG[0])
@example(text=LONG[1])
@example(text=LONG[2])
def test_any_text_through_tokenisation_trace_and_figures(models, text):
    for lm in models.values():
        through_the_core(lm, text)


PAGES = [catalog.BY_ID[name] for name in ("tokenization", "attention", "next_token")]


def as_a_browser_sends(text: str) -> str:
    """A browser cannot send a lone surrogate: the frontend writes it as bytes that are not UTF-8, and
    Streamlit refuses that message before any script runs ("Bad message format"). The core takes them
    (the test above); the pages get what a browser can deliver in their place."""
    return SURROGATE.sub("\ufffd", text)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS.map(as_a_browser_sends))
@example(text="\ufffd 👨‍👩‍👧‍👦 <|im_start|>[CLS]\x00 שלום e\u0301 \u202eevil\u202c")
@example(text=" ")
def test_any_text_on_the_pages_that_show_it(text):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["model"] = "smollm2-135m"
    at.session_state[state.TEXT] = text
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for page in PAGES:
        at.switch_page(page.script).run()
        assert not at.exception, (page.id, [e.value for e in at.exception])
