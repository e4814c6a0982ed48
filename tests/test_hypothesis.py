"""Whatever a student types, nothing breaks: random text (hypothesis) through tokenisation, the trace,
every figure builder (with numbers read from the text's own trace) and every page (AppTest, both
languages), with no exception anywhere. Every test is derandomized: CI draws the same texts every run.

The text is built from pieces that have broken text tools before: nothing, whitespace, one character,
emoji joined by ZWJ, right-to-left text and its controls, combining marks, control characters and NUL,
lone surrogates, byte-order and zero-width marks, the special-token strings of the models, markup; and
the maximum length and beyond (state.MAX_TEXT_CHARS). A model may refuse a text with a clear message
(a ScopeError: empty text, say); that is an answer, not a failure. Anything else raised is a bug.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from core import MODELS, Capability, ScopeError
from core.lessons import attribution, embeddings, life, logit_lens
from core.lessons import mask_experiments as masking
from core.text import bpe_training
from tests.support.figures import figure_builders
from tests.support.models import loaded
from viz import catalog, figures, i18n, state, tokens
from viz.figures import attention as attention_figures
from viz.figures import palette
from viz.views import attention as attention_view

pytestmark = pytest.mark.hypothesis

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
    return {name: loaded(name) for name in TRACED if MODELS[name].available()}


def test_the_traced_models_are_installed(models):
    assert set(models) == set(TRACED)


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
    try:  # cut at 128 tokens: the long examples take the same path as 2,048 (tests/test_long_text.py runs those)
        trace = lm.trace(text, max_tokens=TRACE_TOKENS)
    except ScopeError:
        return
    layer = trace.layers[0].self_attn
    probs = layer.head_probs(0)
    assert probs.shape == (len(trace.token_ids),) * 2 and np.isfinite(probs.astype(np.float32)).all()
    if trace.last_logits is not None:
        assert np.isfinite(trace.last_logits).all()


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
@example(text="")
@example(text=" ")
@example(text="x")
@example(text=LONG[0])
@example(text=LONG[1])
@example(text=LONG[2])
def test_any_text_through_tokenisation_and_trace(models, text):
    for lm in models.values():
        through_the_core(lm, text)


# ---------------------------------------------------------------- every figure builder

FIGURE_TOKENS = 48  # the figures of a long text read a window of it, as the pages do (a page cuts, too)


def softmax(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    e = np.exp(values - values.max())
    return e / e.sum()


@dataclass
class Seen:
    """One text as the pages see it: its trace, its token labels, and the numbers the pages read from the
    trace. Every name, title and label a builder takes is this text or its tokens."""

    text: str
    lm: Any
    trace: Any
    scale: str = "linear"  # the Attention page's colour scale

    def names(self, k: int) -> list[str]:
        """k distinct names made of the text, the first the text itself."""
        return [self.text, *(f"{self.text} {i}" for i in range(1, k))]

    @cached_property
    def labels(self) -> list[str]:
        return tokens.labels_for(self.lm.tokenizer, self.trace.token_ids)

    @cached_property
    def axis(self) -> list[str]:
        return tokens.axis_labels(self.labels)

    @property
    def n(self) -> int:
        return len(self.axis)

    @property
    def decoder(self) -> bool:
        return MODELS[self.lm.name].can(Capability.NEXT_TOKEN)

    @cached_property
    def attention(self):
        return self.trace.layers[0].self_attn

    @cached_property
    def mask(self) -> np.ndarray:
        return np.asarray(self.attention.mask, dtype=bool)

    def probs(self, head: int = 0) -> np.ndarray:
        return np.asarray(self.attention.head_probs(min(head, self.lm.config.n_heads - 1)), dtype=np.float32)

    @cached_property
    def raw_scores(self) -> np.ndarray:
        return np.asarray(self.attention.head_scores(0), dtype=np.float32)

    @cached_property
    def hidden(self) -> np.ndarray:  # (L + 1, T, d)
        return np.asarray(self.trace.hidden_states, dtype=np.float32)

    @cached_property
    def norms(self) -> np.ndarray:  # (L + 1, T)
        return np.linalg.norm(self.hidden, axis=-1)

    @cached_property
    def candidates(self) -> np.ndarray:
        """Up to 8 next-token candidates: the decoder's most likely, or the encoder's own tokens."""
        if self.trace.last_logits is not None:
            return np.argsort(-np.asarray(self.trace.last_logits))[:8]
        return np.asarray(self.trace.token_ids[:8])

    @cached_property
    def candidate_labels(self) -> list[str]:
        return tokens.axis_labels(tokens.labels_for(self.lm.tokenizer, self.candidates.tolist()))

    @cached_property
    def candidate_logits(self) -> np.ndarray:
        if self.trace.last_logits is not None:
            return np.asarray(self.trace.last_logits, dtype=np.float32)[self.candidates]
        return self.norms[-1, : len(self.candidates)]

    @cached_property
    def candidate_probs(self) -> np.ndarray:
        return softmax(self.candidate_logits)

    @cached_property
    def table(self) -> np.ndarray:
        """The positions the model adds (a table, or rotary angles), else the embeddings: (T, k)."""
        values = self.trace.stack.positions.values
        return np.asarray(self.hidden[0] if values is None else values, dtype=np.float32)

    @cached_property
    def lens(self) -> dict[str, Any]:
        """The logit lens of a decoder; for an encoder, numbers of the same shapes from its stream."""
        layers = len(self.hidden)
        if self.decoder:
            grid = logit_lens.lens_grid(self.trace, 0, min(self.n, 8))
            top = grid.top_ids[:, :, 0]
            cells = np.array(tokens.labels_for(self.lm.tokenizer, top.ravel().tolist()), dtype=object)
            last = tokens.labels_for(self.lm.tokenizer, grid.top_ids[-1, -1].tolist())  # the window's last position
            return dict(top_labels=cells.reshape(top.shape), top_probs=grid.top_probs[:, :, 0], decided=grid.decided,
                        position_labels=self.axis[: top.shape[1]], candidate_probs=grid.top_probs[:, -1],
                        candidate_labels=tokens.axis_labels(last))
        width = min(self.n, 8)
        shares = self.norms[:, :width] / self.norms.max()
        return dict(top_labels=np.array([self.labels[:width]] * layers, dtype=object), top_probs=shares,
                    decided=np.zeros(width, dtype=int), position_labels=self.axis[:width],
                    candidate_probs=shares, candidate_labels=self.axis[:width])

    @property
    def layers(self) -> tuple:
        """The first two blocks: what a page reads of every layer, read of two (replaying 30 costs seconds)."""
        return self.trace.layers[:2]

    def sublayer_norms(self, part: str) -> np.ndarray:
        """(2,) the norm of what the first two layers' self-attention ("attn") or feed-forward ("mlp") adds at
        the last token."""
        return np.array([np.linalg.norm(np.asarray((layer.self_attn.out if part == "attn" else layer.mlp.out)[-1],
                                                   dtype=np.float32)) for layer in self.layers])


def _life_frames(seen: Seen) -> np.ndarray:
    """A Game of Life started from the bits of the text (no text reaches the figure: it draws cells)."""
    bits = np.unpackbits(np.frombuffer(seen.text.encode("utf-8", "surrogatepass") or b"\x01", dtype=np.uint8))
    grid = np.resize(bits, (8, 8)).astype(bool)
    return life.run(grid, 4)


def _merge_curves(s: Seen):
    """A tokenizer learned from the text itself, and the text's token count after each of its merges."""
    trained = bpe_training.train(s.text, 12)
    curves = (trained.tokens_after_each_merge(s.text), [trained.corpus_tokens(k) for k in range(trained.n_merges + 1)])
    return curves, {"step": trained.n_merges, "title": s.text}


def _rope_paths(seen: Seen) -> np.ndarray:
    angles = seen.table[:, :2].T  # (2, T): two pairs of dimensions along the positions
    return np.stack([np.cos(angles), np.sin(angles)], axis=-1)


# Every public builder with arguments read from one text's trace. The five marked "no text" take none:
# every word they draw is the interface's own (numbers, layer and head names). The others get the text or
# its token labels wherever they take labels, names or a title.
DRIVE = {
    "make_attention_heatmap_figure": lambda s: ((s.probs(), s.mask, s.axis, s.axis), {"title": s.text, "scale": s.scale}),
    "make_attention_image_figure": lambda s: ((s.probs(), s.mask, s.axis, s.axis), {"title": s.text, "scale": s.scale}),
    "make_attention_lines_figure": lambda s: ((s.probs(), s.mask, s.axis, s.axis),
                                              {"query": s.n - 1, "title": s.text}),
    "make_attention_row_figure": lambda s: ((s.probs()[-1], s.mask[-1], s.axis), {"title": s.text, "subtitle": s.text}),
    "make_attention_mosaic_figure": lambda s: _mosaic(s),
    "make_step_matrix_figure": lambda s: ((np.where(s.mask, s.raw_scores, -np.inf), s.axis, s.axis),
                                          {"title": s.text, "highlight_row": s.n - 1}),
    "make_value_mix_figure": lambda s: ((s.probs()[-1], s.probs()[-1][:, None] * np.asarray(s.attention.v[0], np.float32),
                                         s.axis), {"allowed": s.mask[-1]}),
    "make_scaling_figure": lambda s: _scaling(s),  # no text
    "make_attribution_figure": lambda s: _attribution(s),
    "make_residual_norm_figure": lambda s: ((s.norms, s.axis), {"title": s.text}),
    "make_sublayer_figure": lambda s: ((s.sublayer_norms("attn"), s.sublayer_norms("mlp"), s.norms[:3, -1]),
                                       {"title": s.text}),
    "make_norm_histogram_figure": lambda s: ((s.trace.layers[0].resid_pre[-1], s.names(1),
                                              np.asarray(s.trace.layers[0].attn_norm[-1])[None]), {"title": s.text}),
    "make_activation_figure": lambda s: _activation(s),
    "make_sparsity_figure": lambda s: _sparsity(s),
    "make_merge_curve_figure": lambda s: _merge_curves(s),
    "make_head_score_grid_figure": lambda s: ((s.probs(),), {"title": s.text, "current": (s.n - 1, 0)}),
    "make_pass_loss_figure": lambda s: ((s.probs()[-1], s.probs()[-1][::-1]),
                                        {"first_ablated": s.probs()[0], "second_ablated": s.probs()[0][::-1],
                                         "heads_off": 2, "title": s.text}),
    "make_induction_stripe_figure": lambda s: ((np.stack([s.probs()[-1], s.probs()[0]]), s.names(2), s.axis),
                                               {"title": s.text}),
    "make_word_use_figure": lambda s: ((s.axis, s.probs()[-1], s.probs()[0], s.probs()[-1][::-1]),
                                       {"heads_off": 2, "title": s.text}),
    "make_guesses_figure": lambda s: ((s.candidate_labels, np.arange(len(s.candidate_labels))),
                                      {"answer": 0, "shares": s.candidate_probs, "title": s.text}),
    "make_attention_difference_figure": lambda s: ((np.where(s.mask, s.probs(0) - s.probs(1), np.nan), s.axis, s.axis),
                                                   {"highlight_row": s.n - 1, "title": s.text}),
    "make_row_shift_figure": lambda s: ((s.axis, s.probs(0)[-1], s.probs(1)[-1]), {"title": s.text, "subtitle": s.text}),
    "make_distribution_shift_figure": lambda s: ((s.candidate_labels, s.candidate_probs, s.candidate_probs[::-1]),
                                                 {"title": s.text}),
    "make_lens_pair_figure": lambda s: ((s.lens["top_probs"][:, -1], s.lens["top_probs"][:, 0],
                                         list(s.lens["top_labels"][:, -1]), list(s.lens["top_labels"][:, 0])),
                                        {"title": s.text}),
    "make_distribution_figure": lambda s: ((s.candidate_labels, s.candidate_probs, s.candidate_logits),
                                           {"kept": s.candidate_probs >= np.median(s.candidate_probs),
                                            "title": s.text}),
    "make_token_loss_figure": lambda s: _token_loss(s),
    "make_embedding_heatmap_figure": lambda s: ((s.hidden[-1], s.axis), {"title": s.text}),
    "make_similarity_figure": lambda s: ((embeddings.cosine_matrix(s.hidden[-1]), s.axis), {"title": s.text}),
    "make_projection_figure": lambda s: _projection(s),
    "make_layer_cosine_figure": lambda s: ((embeddings.layer_cosines(s.hidden, 0, s.hidden, s.n - 1)[None], s.names(1)),
                                           {"layer": 1, "title": s.text}),
    "make_lens_grid_figure": lambda s: ((s.lens["top_labels"], s.lens["top_probs"], s.lens["position_labels"],
                                         s.lens["decided"]), {"chosen": len(s.lens["decided"]) - 1, "title": s.text}),
    "make_candidate_lines_figure": lambda s: ((s.lens["candidate_probs"], s.lens["candidate_labels"]),
                                              {"title": s.text}),
    "make_logit_attribution_figure": lambda s: _logit_attribution(s),
    "make_life_figure": lambda s: ((_life_frames(s),), {"first_generation": 1, "frame_ms": 100}),  # no text
    "make_mask_figure": lambda s: ((s.mask, s.axis, s.axis), {"title": s.text,
                                                              "padding_keys": np.arange(s.n) == s.n - 1}),
    "make_masking_ways_figure": lambda s: _masking_ways(s),
    "make_head_sharing_figure": lambda s: ((s.lm.config.n_heads, s.lm.config.kv_heads, s.lm.config.head_dim),
                                           {"off": [0]}),  # no text
    "make_ablation_distribution_figure": lambda s: ((s.candidate_labels, s.candidate_probs,
                                                     softmax(s.candidate_logits[::-1])), {}),
    "make_ablation_attention_figure": lambda s: ((s.attention.query_rows(s.n - 1),
                                                  s.trace.layers[-1].self_attn.query_rows(s.n - 1), s.axis), {}),
    "make_pipeline_figure": lambda s: ((s.lm.config,), {}),  # no text
    "make_position_table_figure": lambda s: ((s.table,), {"title": s.text}),
    "make_sinusoid_waves_figure": lambda s: ((s.table, [0, s.table.shape[1] - 1],
                                              np.arange(1.0, s.table.shape[1] + 1)), {"title": s.text}),
    "make_position_similarity_figure": lambda s: ((embeddings.cosine_matrix(s.table),),
                                                  {"measure": "cosine", "title": s.text}),
    "make_offset_curves_figure": lambda s: ((np.arange(s.n), embeddings.cosine_matrix(s.table)[:2], s.names(min(s.n, 2))),
                                            {"points": np.array([[0.0, 1.0]]), "point_labels": [s.text],
                                             "title": s.text, "x_title": s.text, "y_title": s.text}),
    "make_rope_rotation_figure": lambda s: ((_rope_paths(s), s.names(2)),
                                            {"key_paths": _rope_paths(s)[:, ::-1].copy(), "title": s.text}),
    "make_loss_figure": lambda s: _loss(s),  # no text
    "make_choice_figure": lambda s: ((s.candidate_labels, s.candidate_probs, 0),
                                     {"before": s.candidate_probs[::-1], "title": s.text, "before_name": s.text}),
    "make_shot_accuracy_figure": lambda s: (((0, 1, 2, 4, 8), dict(zip(s.names(2), (np.linspace(0, 1, 5), np.full(5, 0.5)))),
                                            0.5), {"title": s.text, "subtitle": s.text}),
}


def _mosaic(s: Seen):
    thumbs = s.attention.thumbnails()
    layout = attention_figures.mosaic_layout(thumbs, 3)
    return (thumbs, layout), {"tile_names": s.names(layout.n_tiles), "row_labels": s.names(layout.n_rows),
                              "col_labels": s.names(layout.n_cols), "current": 0, "title": s.text}


def _scaling(s: Seen):
    row = s.raw_scores[-1][s.mask[-1]].astype(np.float64)
    d_ks = [4, 64]
    return (row, softmax(row), np.stack([softmax(row / math.sqrt(d)) for d in d_ks]), d_ks), {}


def _attribution(s: Seen):
    position = s.n - 1
    rollout = attribution.rollout_row([layer.self_attn.mean_probs() for layer in s.layers], position)
    removal = np.where(np.arange(s.n) < position, np.log(np.maximum(rollout, 1e-9)), np.nan)
    return (s.axis, rollout, removal, position), {}


def _activation(s: Seen):
    mlp = s.trace.layers[0].mlp
    act = np.asarray(mlp.act[-1], dtype=np.float32)
    return (act, np.argsort(-act)[:5]), {"pre": np.asarray(mlp.pre[-1], dtype=np.float32), "title": s.text}


def _sparsity(s: Seen):
    act = np.abs(np.asarray(s.trace.layers[0].mlp.act, dtype=np.float32))  # (T, f)
    near = (act <= 0.01 * act.max(axis=1, keepdims=True)).mean(axis=1)
    return (s.axis, (act == 0).mean(axis=1), near), {"title": s.text}


def _token_loss(s: Seen):
    if s.decoder and s.n > 1:
        losses = s.trace.token_losses()
        return (s.axis[1:], losses.probability, losses.loss), {"title": s.text}
    return (s.axis, np.diag(s.probs())), {"title": s.text}


def _projection(s: Seen):
    projection = embeddings.pca(s.hidden[-1], k=2)
    return (projection.coords, s.axis), {"groups": s.labels, "highlight": np.arange(s.n) == s.n - 1,
                                         "explained": projection.explained, "title": s.text}


def _logit_attribution(s: Seen):
    heads = np.stack([layer.self_attn.query_rows(s.n - 1).max(axis=1) for layer in s.layers])
    return (heads, s.sublayer_norms("attn"), s.sublayer_norms("mlp")), {"title": s.text}


def _masking_ways(s: Seen):
    ways = masking.two_ways(s.raw_scores, s.mask)
    return (ways.wrong, ways.right, ways.allowed, ways.leaked, s.axis, s.axis), {"title": s.text}


def _loss(s: Seen):
    steps = np.arange(1, s.n + 1)
    losses = -np.log(np.maximum(np.diag(s.probs()), 1e-9))
    return (steps, losses, np.cumsum(losses) / steps, s.n + 4), {"marks": steps[::2]}


def every_builder() -> dict[str, Any]:
    """Every public make_*_figure of every module in viz/figures, found by scanning the package."""
    found = {}
    for info in pkgutil.iter_modules(figures.__path__):
        module = importlib.import_module(f"viz.figures.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("make_") and name.endswith("_figure") and function.__module__ == module.__name__:
                found[name] = function
    return found


def test_every_figure_builder_is_driven_by_text():
    """A new builder, or a new figure module, fails here until it gets arguments read from a text (and the
    table of tests/test_frame.py scans it)."""
    assert set(DRIVE) == set(every_builder()) == {name for name, _build in figure_builders()}


def every_figure_of(lm, text: str, translate, present: bool = False, scale: str = "linear") -> None:
    """Every builder on the text's trace, in the palette of a screen or of a presenter (whose figures are also
    dressed for a room, as the app shows them)."""
    try:
        trace = lm.trace(text, max_tokens=FIGURE_TOKENS)
    except ScopeError:
        return  # said to the student as a message; the pages draw no figure then
    seen = Seen(text, lm, trace, scale)
    chooser = palette._chooser
    palette.set_chooser(lambda: palette.PRESENTER.name if present else palette.SCREEN.name)
    try:
        for name, build in every_builder().items():
            args, kwargs = DRIVE[name](seen)
            figure = palette.dressed(build(*args, **kwargs, _=translate))
            assert figure.to_json(), name
    finally:
        palette.set_chooser(chooser)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, model=st.sampled_from(TRACED), language=st.sampled_from(list(i18n.LANGUAGES)),
       present=st.booleans(), scale=st.sampled_from(attention_figures.SCALES))
@example(text=LONG[1], model="smollm2-135m", language="en", present=True, scale="log")
@example(text=LONG[2], model="minilm-l6", language="zh", present=False, scale="linear")
@example(text="\ud800 👨‍👩‍👧‍👦 <|im_start|>[CLS]\x00 שלום e\u0301 \u202eevil\u202c {text} %s", model="smollm2-135m",
         language="zh", present=True, scale="row")
@example(text=" ", model="minilm-l6", language="en", present=False, scale="linear")
@example(text="x", model="smollm2-135m", language="en", present=True, scale="linear")
def test_any_text_through_every_figure_builder(models, text, model, language, present, scale):
    every_figure_of(models[model], text, i18n.translator(language), present, scale)


# ---------------------------------------------------------------- every page

# Every kind of model but the slow-to-load Gemma; the small translator first: it serves every page, and the
# text at its maximum length costs seconds there where a 2,048-token trace costs half a minute on some pages
# (tests/test_long_text.py runs those).
PAGE_MODELS = ("tiny-translator", "minilm-l6", "smollm2-135m", "classic")


def as_a_browser_sends(text: str) -> str:
    """A browser cannot send a lone surrogate: the frontend writes it as bytes that are not UTF-8, and
    Streamlit refuses that message before any script runs ("Bad message format"). The core takes them
    (the tests above); the pages get what a browser can deliver in their place."""
    return SURROGATE.sub("\ufffd", text)


def models_for(page: catalog.PageEntry) -> list[str]:
    return [name for name in PAGE_MODELS if page.needs is None or MODELS[name].can(page.needs)]


NASTY = "\ufffd 👨‍👩‍👧‍👦 <|im_start|>[CLS]\x00\x1b[31m שלום e\u0301 \u202eevil\u202c <script>x</script> {text} %s"
# Over 160 tokens on every model (about 180 on the small ones): the Attention page draws such a matrix as an image,
# a path of its own (coloured in numpy from the palette's scale; presenter mode once crashed there).
LONG_TAIL = " " + " ".join(["The animal didn't cross the street because it was too tired."] * 14)


@pytest.mark.parametrize("page", catalog.PAGES, ids=lambda page: page.id)  # each page its own random texts
@settings(max_examples=2, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=TEXTS.map(as_a_browser_sends), language=st.sampled_from(list(i18n.LANGUAGES)),
       by_link=st.booleans(), pick=st.integers(0, len(PAGE_MODELS) - 1), present=st.booleans(),
       scale=st.sampled_from(attention_figures.SCALES), long=st.booleans())
@example(text=NASTY, language="zh", by_link=True, pick=2, present=False, scale="linear", long=False)  # SmolLM2
@example(text=as_a_browser_sends(LONG[2]), language="en", by_link=True, pick=0, present=True, scale="log",
         long=False)  # beyond the limit: cut to it (hundreds of tokens), on a projector
@example(text=NASTY, language="zh", by_link=False, pick=1, present=True, scale="row", long=True)  # MiniLM
def test_any_text_on_every_page(page, text, language, by_link, pick, present, scale, long):
    """The text comes as a link brings it (the URL: one the app refuses, empty or too long, is said and
    cut) or as the student types it (the session), in either language, on a model that serves the page; short
    or long (over 160 tokens), on a screen or a projector (presenter mode), in each of the Attention page's
    colour scales: these change how a figure is drawn, so they are drawn together with the text."""
    names = models_for(page)
    at = AppTest.from_file(str(APP), default_timeout=300)  # the maximum length, on a machine shared with others
    at.query_params[state.LANG] = language
    at.query_params[state.MODEL] = names[pick % len(names)]
    if present:
        at.query_params[state.PRESENT] = "true"
    at.session_state[attention_view.SCALE_KEY] = scale
    text = (text + LONG_TAIL)[:MAX] if long else text
    if by_link:
        at.query_params[state.TEXT] = text
    else:
        at.session_state[state.TEXT] = text
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page.script).run()
    assert not at.exception, (page.id, [e.value for e in at.exception])
    assert at.title, f"{page.id} stopped before its title"
    assert len(at.session_state[state.TEXT]) <= MAX
