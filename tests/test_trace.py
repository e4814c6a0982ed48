"""The Trace: its schema (names, shapes, dtypes), its invariants, and that recording changes nothing."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest
import torch

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.engine.positional import sinusoidal_table
from core.errors import Message
from core.record.trace import (
    AttentionRecord,
    FeedForwardRecord,
    HeadReplay,
    LayerRecord,
    PositionRecord,
    StackRecord,
    Trace,
    TraceReplay,
    shape_of,
)
from core.runtime.language_model import LanguageModel
from core.text.tokenizers import bytes_tokenizer
from tests.support.models import loaded

TOKENIZER = bytes_tokenizer()
V = TOKENIZER.vocab_size
D, F_, MAXPOS = 16, 24, 64

DECODER = ModelConfig(  # Llama-like: rotary, RMSNorm, SwiGLU, grouped-query attention
    vocab_size=V, d_model=D, n_layers=1, n_heads=4, n_kv_heads=2, d_ff=F_, max_positions=MAXPOS,
    architecture="decoder", positional="rope", norm="rmsnorm", activation="swiglu", bias=False,
)
ENCODER = ModelConfig(  # BERT-like: learned positions, segment embeddings, embedding norm, post-norm, no final norm
    vocab_size=V, d_model=D, n_layers=1, n_heads=2, d_ff=F_, max_positions=MAXPOS,
    architecture="encoder", positional="learned", norm_placement="post", embedding_norm=True, final_norm=False,
    activation="gelu", type_vocab_size=2, lm_head=False,
)
ENCODER_DECODER = ModelConfig(  # the paper: sinusoids, post-norm, ReLU, scaled and tied embeddings
    vocab_size=V, d_model=D, n_layers=1, n_heads=2, d_ff=F_, max_positions=MAXPOS,
    architecture="encoder-decoder", positional="sinusoidal", norm_placement="post", activation="relu",
    scale_embeddings=True, tie_embeddings=True,
)
CONFIGS = {"decoder": DECODER, "encoder": ENCODER, "encoder-decoder": ENCODER_DECODER}


def random_lm(config: ModelConfig, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    module = Transformer(config)
    return LanguageModel(f"tiny-{config.architecture}", "tiny", module, TOKENIZER, "random", torch.device("cpu"))


@pytest.fixture(scope="module")
def classic():
    return loaded("classic", "cpu")


@pytest.fixture(scope="module")
def tiny():
    return {kind: random_lm(config) for kind, config in CONFIGS.items()}


TEXT, TARGET = "Hello", "Hallo!"  # bytes tokens with <s> in front: T = 6 and 7


def _trace(lm: LanguageModel, **kwargs):
    target = TARGET if lm.config.architecture == "encoder-decoder" else None
    return lm.trace(TEXT, target=target, **kwargs)


# The TransformerLens-style schema, written out: renaming or reordering a value is a visible decision.
# The order is the order in which the model computes the values (the docstring of Trace.names).
PINNED_NAMES = {
    "decoder": [
        "tokens", "token_ids", "offsets",
        "embeddings", "positions.values", "embed_out",
        "layers[0].resid_pre", "layers[0].attn_norm",
        "layers[0].self_attn.q", "layers[0].self_attn.k", "layers[0].self_attn.v", "layers[0].self_attn.scores",
        "layers[0].self_attn.mask", "layers[0].self_attn.probs", "layers[0].self_attn.z", "layers[0].self_attn.out",
        "layers[0].resid_mid", "layers[0].mlp_norm",
        "layers[0].mlp.pre", "layers[0].mlp.up", "layers[0].mlp.act", "layers[0].mlp.out",
        "layers[0].resid_post",
        "final_norm", "hidden_states",
        "logits",
    ],
    "encoder": [
        "tokens", "token_ids", "offsets",
        "embeddings", "positions.values", "token_types", "embed_out",
        "layers[0].resid_pre", "layers[0].attn_norm",
        "layers[0].self_attn.q", "layers[0].self_attn.k", "layers[0].self_attn.v", "layers[0].self_attn.scores",
        "layers[0].self_attn.mask", "layers[0].self_attn.probs", "layers[0].self_attn.z", "layers[0].self_attn.out",
        "layers[0].resid_mid", "layers[0].mlp_norm",
        "layers[0].mlp.pre", "layers[0].mlp.act", "layers[0].mlp.out",
        "layers[0].resid_post",
        "hidden_states",
    ],
    "encoder-decoder": [
        "encoder.tokens", "encoder.token_ids", "encoder.offsets",
        "encoder.embeddings", "encoder.positions.values", "encoder.embed_out",
        "encoder.layers[0].resid_pre", "encoder.layers[0].attn_norm",
        "encoder.layers[0].self_attn.q", "encoder.layers[0].self_attn.k", "encoder.layers[0].self_attn.v",
        "encoder.layers[0].self_attn.scores", "encoder.layers[0].self_attn.mask", "encoder.layers[0].self_attn.probs",
        "encoder.layers[0].self_attn.z", "encoder.layers[0].self_attn.out",
        "encoder.layers[0].resid_mid", "encoder.layers[0].mlp_norm",
        "encoder.layers[0].mlp.pre", "encoder.layers[0].mlp.act", "encoder.layers[0].mlp.out",
        "encoder.layers[0].resid_post",
        "encoder.final_norm", "encoder.hidden_states",
        "tokens", "token_ids", "offsets",
        "embeddings", "positions.values", "embed_out",
        "layers[0].resid_pre", "layers[0].attn_norm",
        "layers[0].self_attn.q", "layers[0].self_attn.k", "layers[0].self_attn.v", "layers[0].self_attn.scores",
        "layers[0].self_attn.mask", "layers[0].self_attn.probs", "layers[0].self_attn.z", "layers[0].self_attn.out",
        "layers[0].resid_mid", "layers[0].cross_norm",
        "layers[0].cross_attn.q", "layers[0].cross_attn.k", "layers[0].cross_attn.v", "layers[0].cross_attn.scores",
        "layers[0].cross_attn.mask", "layers[0].cross_attn.probs", "layers[0].cross_attn.z",
        "layers[0].cross_attn.out",
        "layers[0].resid_cross", "layers[0].mlp_norm",
        "layers[0].mlp.pre", "layers[0].mlp.act", "layers[0].mlp.out",
        "layers[0].resid_post",
        "final_norm", "hidden_states",
        "logits",
    ],
}


def _resolve(tr, name: str):
    """A name as a Python expression: encoder.* and logits on the Trace, the main stack's values on tr.stack."""
    root = tr if name.startswith(("encoder.", "logits")) else tr.stack
    return eval(f"root.{name}", {"root": root})  # noqa: S307 - names are the pinned literals above


def _documented_shapes(config: ModelConfig, t: int, s: int) -> dict[str, tuple]:
    """Shapes as core/record/trace.py annotates them, written out by hand, per value name (for the main stack;
    encoder. for its own)."""
    nh, nkv, hs, d, f = config.n_heads, config.kv_heads, config.head_dim, config.d_model, config.d_ff

    def stack(prefix: str, t: int, cross_s: int | None, n_layers: int):
        shapes = {
            "tokens": (t,), "token_ids": (t,), "offsets": (t,),
            "embeddings": (t, d), "token_types": (t, d), "embed_out": (t, d),
            "positions.values": (t, hs // 2) if config.positional == "rope" else (t, d),
            "final_norm": (t, d), "hidden_states": (n_layers + 1, t, d),
        }
        for attn, keys, kv in [("self_attn", t, nkv), ("cross_attn", cross_s, nkv)]:
            shapes |= {
                f"layers[0].{attn}.q": (nh, t, hs), f"layers[0].{attn}.k": (kv, keys, hs),
                f"layers[0].{attn}.v": (kv, keys, hs), f"layers[0].{attn}.scores": (nh, t, keys),
                f"layers[0].{attn}.mask": (t, keys), f"layers[0].{attn}.probs": (nh, t, keys),
                f"layers[0].{attn}.z": (nh, t, hs), f"layers[0].{attn}.out": (t, d),
            }
        for field in ("resid_pre", "attn_norm", "resid_mid", "cross_norm", "resid_cross", "mlp_norm", "resid_post",
                      "mlp.out"):
            shapes[f"layers[0].{field}"] = (t, d)
        for field in ("mlp.pre", "mlp.up", "mlp.act"):
            shapes[f"layers[0].{field}"] = (t, f)
        return {prefix + name: shape for name, shape in shapes.items()}

    if config.architecture == "encoder-decoder":
        encoder = stack("encoder.", s, None, config.encoder_layers)
        return encoder | stack("", t, s, config.n_layers) | {"logits": (t, config.vocab_size)}
    logits = {"logits": (t, config.vocab_size)} if config.lm_head else {}
    return stack("", t, None, config.n_layers) | logits


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_names_are_pinned(tiny, kind):
    assert _trace(tiny[kind]).names() == PINNED_NAMES[kind]


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_get_returns_the_value_of_every_name(tiny, kind):
    tr = _trace(tiny[kind])
    for name in tr.names():
        assert tr.get(name) is _resolve(tr, name), name
    assert tr.get("layers[0].self_attn.probs") is tr.layers[0].self_attn.probs
    assert tr.get("hidden_states") is tr.hidden_states


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_shapes_and_dtypes_are_as_documented(tiny, kind):
    lm = tiny[kind]
    tr = _trace(lm)
    t = len(TOKENIZER.encode(TARGET if kind == "encoder-decoder" else TEXT).ids)
    s = len(TOKENIZER.encode(TEXT).ids)
    shapes = _documented_shapes(lm.config, t, s)
    assert (tr.model, tr.architecture, tr.dtype, tr.compute_dtype) == (lm.name, kind, "float16", "float32")
    assert not tr.truncated and tr.notes == ()
    for name in PINNED_NAMES[kind]:
        value = _resolve(tr, name)
        if name.endswith(("tokens", "token_ids", "offsets")):
            assert isinstance(value, list) and (len(value),) == shapes[name], name
            continue
        assert isinstance(value, np.ndarray), name
        assert value.shape == shapes[name], name
        if name.endswith(".mask"):
            assert value.dtype == np.bool_, name
        elif name == "logits":
            assert value.dtype == np.float32
        else:
            assert value.dtype == np.float16, name
    # dtype=np.float32 records in float32.
    tr32 = _trace(lm, dtype=np.float32)
    assert tr32.dtype == "float32" and tr32.layers[0].self_attn.probs.dtype == np.float32
    assert tr32.stack.embed_out.dtype == np.float32


RECORDS = (AttentionRecord, FeedForwardRecord, LayerRecord, PositionRecord, StackRecord, Trace)


def _every_type(hint):
    yield hint
    for arg in typing.get_args(hint):
        yield from _every_type(arg)


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record.__name__)
def test_every_field_of_the_schema_is_typed_and_none_is_any(record):
    hints = typing.get_type_hints(record, include_extras=True)
    for field in dataclasses.fields(record):
        types = list(_every_type(hints[field.name]))
        assert not any(t is typing.Any or t is object for t in types), field.name


def _parent(tr, name: str):
    """(the record holding the value called `name`, its field)."""
    path, _, field = name.rpartition(".")
    if not path:
        return (tr if name == "logits" else tr.stack), field
    return (tr.encoder if path == "encoder" else _resolve(tr, path)), field


def _sizes(config: ModelConfig, tr, name: str) -> dict[str, int]:
    """What each dimension a `Shape` names stands for, at the value called `name`."""
    stack = tr.encoder if name.startswith("encoder.") else tr.stack
    t = len(stack.tokens)
    return {"T": t, "S": len(tr.encoder.tokens) if ".cross_attn." in name else t, "nh": config.n_heads,
            "nkv": config.kv_heads, "hs": config.head_dim, "hs/2": config.head_dim // 2, "d": config.d_model,
            "f": config.d_ff, "vocab": config.vocab_size, "L+1": len(stack.layers) + 1}


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_every_array_has_the_shape_and_dtype_its_annotation_names(tiny, kind):
    lm = tiny[kind]
    tr = _trace(lm)
    arrays = 0
    for name in tr.names():
        record, field = _parent(tr, name)
        shape, value = shape_of(type(record), field), getattr(record, field)
        if shape is None:
            assert name.endswith(("tokens", "token_ids", "offsets")) and isinstance(value, list), name
            continue
        sizes = _sizes(lm.config, tr, name)
        shapes = [tuple(sizes[dim] for dim in dims.split()) for dims in shape.dims.split("|")]
        assert value.shape in shapes, name
        assert value.dtype == np.dtype(shape.dtype or tr.dtype), name
        arrays += 1
    assert arrays == len(tr.names()) - (6 if kind == "encoder-decoder" else 3)


def test_the_replay_handles_are_what_the_record_asks_of_them(tiny):
    tr = _trace(tiny["encoder-decoder"])
    assert isinstance(tr.replay, TraceReplay)
    records = list(_attention_records(tr))
    assert len(records) == 3 and all(isinstance(record.replay, HeadReplay) for record in records)
    assert _trace(tiny["decoder"], capture=False).replay is None


def test_notes_are_messages_for_the_reader(tiny):
    tr = tiny["decoder"].trace("a text longer than eight tokens", max_tokens=8)
    assert tr.truncated and tr.notes
    assert all(isinstance(note, Message) for note in tr.notes)


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_hidden_states_are_embed_out_then_every_block_output(tiny, classic, kind):
    for lm in (tiny[kind], classic):
        tr = _trace(lm)
        stacks = [tr.stack] + ([tr.encoder] if tr.encoder is not None else [])
        for stack in stacks:
            hidden = stack.hidden_states
            assert hidden.shape == (len(stack.layers) + 1, len(stack.tokens), lm.config.d_model)
            assert np.array_equal(hidden[0], stack.embed_out)
            for i, layer in enumerate(stack.layers):
                assert np.array_equal(hidden[i + 1], layer.resid_post)
                assert np.array_equal(layer.resid_pre, hidden[i])


def _attention_records(tr):
    stacks = [tr.stack] + ([tr.encoder] if tr.encoder is not None else [])
    for stack in stacks:
        for layer in stack.layers:
            yield layer.self_attn
            if layer.cross_attn is not None:
                yield layer.cross_attn


@pytest.mark.parametrize("which", ["classic", "decoder", "encoder", "encoder-decoder"])
def test_probability_rows_sum_to_one(tiny, classic, which):
    lm = classic if which == "classic" else tiny[which]
    tr = _trace(lm, dtype=np.float32)
    records = list(_attention_records(tr))
    assert records
    for record in records:
        np.testing.assert_allclose(record.probs.sum(-1), 1.0, rtol=0, atol=1e-6)
        assert (record.probs >= 0).all()
        # probs are the softmax of the scores where the mask allows, 0 elsewhere.
        masked = np.where(record.mask, record.scores, -np.inf)
        expected = np.exp(masked - masked.max(-1, keepdims=True))
        np.testing.assert_allclose(record.probs, expected / expected.sum(-1, keepdims=True), rtol=0, atol=1e-6)
        # z = probs @ V (V shared by a group of query heads).
        groups = record.q.shape[0] // record.v.shape[0]
        np.testing.assert_allclose(record.z, record.probs @ np.repeat(record.v, groups, axis=0), rtol=0, atol=1e-5)


@pytest.mark.parametrize("which", ["classic", "decoder"])
def test_causal_self_attention_is_exactly_zero_above_the_diagonal(tiny, classic, which):
    lm = classic if which == "classic" else tiny[which]
    tr = _trace(lm)
    t = len(tr.tokens)
    assert t > 2
    above = np.triu(np.ones((t, t), dtype=bool), k=1)
    for layer in tr.layers:
        assert np.array_equal(layer.self_attn.mask, ~above)
        probs = layer.self_attn.probs
        assert probs.shape[1:] == (t, t)
        assert (probs[:, above] == 0).all()
        assert (probs[:, ~above] > 0).all()


def test_classic_encoder_and_cross_attention_are_not_causal(classic):
    tr = classic.trace("The quick brown fox", target="Der")
    s, t = len(tr.encoder.tokens), len(tr.tokens)
    above = np.triu(np.ones((s, s), dtype=bool), k=1)
    for layer in tr.encoder.layers:
        assert layer.self_attn.mask.all()
        assert (layer.self_attn.probs[:, above] > 0).all()
    for layer in tr.layers:
        assert layer.cross_attn.mask.shape == (t, s) and layer.cross_attn.mask.all()
        assert (layer.cross_attn.probs > 0).all()


def test_post_norm_records_follow_the_documented_identities(classic):
    tr = classic.trace("Post-norm", target="ab", dtype=np.float32)
    module = classic.module
    for stack in (tr.encoder, tr.stack):
        for layer in stack.layers:
            # For post-norm, *_norm is the normalised sum that leaves the sub-layer (and equals the next resid_*).
            assert np.array_equal(layer.attn_norm, layer.resid_mid)
            assert np.array_equal(layer.mlp_norm, layer.resid_post)
            if layer.cross_attn is not None:
                assert np.array_equal(layer.cross_norm, layer.resid_cross)
    layer = tr.layers[0]
    norm = module.stack.layers[0].attn_norm
    with torch.no_grad():
        expected = norm(torch.from_numpy(layer.resid_pre + layer.self_attn.out)).numpy()
    np.testing.assert_allclose(layer.resid_mid, expected, rtol=0, atol=1e-5)
    with torch.no_grad():
        final = module.stack.norm(torch.from_numpy(tr.hidden_states[-1])).numpy()
    np.testing.assert_allclose(tr.stack.final_norm, final, rtol=0, atol=1e-6)


def test_pre_norm_records_follow_the_documented_identities(tiny):
    lm = tiny["decoder"]
    tr = _trace(lm, dtype=np.float32)
    layer, block = tr.layers[0], lm.module.stack.layers[0]
    with torch.no_grad():
        np.testing.assert_allclose(layer.attn_norm, block.attn_norm(torch.from_numpy(layer.resid_pre)).numpy(),
                                   rtol=0, atol=1e-6)
        np.testing.assert_allclose(layer.mlp_norm, block.mlp_norm(torch.from_numpy(layer.resid_mid)).numpy(),
                                   rtol=0, atol=1e-6)
    np.testing.assert_allclose(layer.resid_mid, layer.resid_pre + layer.self_attn.out, rtol=0, atol=1e-6)
    np.testing.assert_allclose(layer.resid_post, layer.resid_mid + layer.mlp.out, rtol=0, atol=1e-6)
    # SwiGLU: act = silu(pre) * up.
    silu = layer.mlp.pre / (1 + np.exp(-layer.mlp.pre))
    np.testing.assert_allclose(layer.mlp.act, silu * layer.mlp.up, rtol=0, atol=1e-6)


def test_sinusoidal_position_values_are_the_table(classic):
    tr = classic.trace("positions", dtype=np.float32)
    t = len(tr.encoder.tokens)
    np.testing.assert_allclose(tr.encoder.positions.values, sinusoidal_table(t, 64).numpy(), rtol=0, atol=0)
    assert tr.encoder.positions.kind == "sinusoidal"


@pytest.mark.parametrize("which", ["classic", "decoder"])
def test_capture_does_not_change_the_numbers(tiny, classic, which):
    lm = classic if which == "classic" else tiny[which]
    recorded = _trace(lm, capture=True)
    plain = _trace(lm, capture=False)
    assert plain.logits.dtype == np.float32
    assert np.array_equal(recorded.logits, plain.logits)
    assert plain.layers == () and plain.tokens == recorded.tokens
    # The module itself: same hidden output with and without recording.
    ids = torch.tensor([recorded.token_ids])
    source = None if recorded.encoder is None else torch.tensor([recorded.encoder.token_ids])
    with torch.no_grad():
        a = lm.module(ids, source_ids=source, capture=True)
        b = lm.module(ids, source_ids=source, capture=False)
    assert torch.equal(a.hidden, b.hidden) and torch.equal(a.logits, b.logits)
    assert b.stack is None and a.stack is not None


def _encoder(positional: str) -> Transformer:
    config = ModelConfig(vocab_size=V, d_model=D, n_layers=2, n_heads=2, d_ff=F_, max_positions=MAXPOS,
                         architecture="encoder", positional=positional, lm_head=False)
    torch.manual_seed(0)
    return Transformer(config).eval()


@torch.no_grad()
def test_without_positions_an_encoder_is_permutation_equivariant():
    model = _encoder("none")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, V, (1, 10), generator=g)
    perm = torch.randperm(10, generator=g)
    out = model(ids, capture=True)
    permuted = model(ids[:, perm], capture=True)
    torch.testing.assert_close(permuted.hidden, out.hidden[:, perm], rtol=0, atol=1e-5)
    # The attention pattern permutes the same way, rows and columns.
    probs, probs_p = out.stack.layers[1].self_attn.probs, permuted.stack.layers[1].self_attn.probs
    torch.testing.assert_close(probs_p, probs[:, :, perm][:, :, :, perm], rtol=0, atol=1e-6)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope"])
@torch.no_grad()
def test_with_positions_an_encoder_is_not_permutation_equivariant(positional):
    model = _encoder(positional)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, V, (1, 10), generator=g)
    perm = torch.randperm(10, generator=g)
    difference = (model(ids[:, perm]).hidden - model(ids).hidden[:, perm]).abs().max()
    assert difference > 1e-2
