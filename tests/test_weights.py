"""The weights read by name (core/runtime/weights.py) are the numbers the model computes with: each accessor,
applied as its docstring says, gives what the model's own forward pass recorded, in the engine's plain layout and
in its fused, column-by-column one (prepare_for_inference), for every family the engine builds."""

from __future__ import annotations

import math

import pytest
import torch

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.runtime.language_model import LanguageModel
from core.text.tokenizers import bytes_tokenizer

TOKENIZER = bytes_tokenizer()
SMALL = dict(vocab_size=TOKENIZER.vocab_size, d_model=16, n_layers=2, d_ff=24, max_positions=64)
CONFIGS = {
    # Llama: rotary, RMSNorm, SwiGLU, grouped-query attention, no biases
    "llama": ModelConfig(**SMALL, n_heads=4, n_kv_heads=2, positional="rope", norm="rmsnorm", activation="swiglu",
                         gated=True, bias=False),
    # BERT: learned positions, segments, post-norm LayerNorm with biases, GELU, no final norm
    "bert": ModelConfig(**SMALL, n_heads=2, architecture="encoder", positional="learned", norm_placement="post",
                        embedding_norm=True, final_norm=False, type_vocab_size=2, lm_head=False),
    # Gemma 3: heads wider than d / nh, offset RMSNorm, sandwich and query/key norms, GeGLU, scaled and tied
    # embeddings, a soft-cap, sliding-window layers with their own rotary base
    "gemma": ModelConfig(**SMALL, n_heads=2, n_kv_heads=1, head_dim=12, norm="rmsnorm", norm_unit_offset=True,
                         sandwich_norm=True, qk_norm=True, activation="gelu_tanh", gated=True, bias=False,
                         scale_embeddings=True, tie_embeddings=True, attn_scale=0.3, final_logit_softcap=5.0,
                         layer_types=("sliding", "global"), sliding_window=4, rope_local_base=100.0),
    # the paper: sinusoids, post-norm, ReLU, an encoder read by cross-attention
    "encoder-decoder": ModelConfig(**SMALL, n_heads=2, architecture="encoder-decoder", positional="sinusoidal",
                                   norm_placement="post", activation="relu", scale_embeddings=True),
}
IDS = [[1, 7, 30, 55, 3, 99, 12, 41, 8]]
EXACT = dict(rtol=0, atol=0)
CLOSE = dict(rtol=1e-5, atol=1e-5)


def _lm(kind: str, prepared: bool) -> LanguageModel:
    torch.manual_seed(0)
    module = Transformer(CONFIGS[kind])
    with torch.no_grad():  # the norms start at their identity: give them something to show
        for name, parameter in module.named_parameters():
            if "norm" in name:
                parameter.normal_(0.0 if CONFIGS[kind].norm_unit_offset else 1.0, 0.2)
    if prepared:
        module.prepare_for_inference()
    return LanguageModel(kind, kind, module, TOKENIZER, "random", torch.device("cpu"))


@pytest.fixture(scope="module", params=[(kind, prepared) for kind in CONFIGS for prepared in (False, True)],
                ids=lambda p: f"{p[0]}-{'fused' if p[1] else 'plain'}")
def run(request):
    lm = _lm(*request.param)
    source = IDS if lm.config.architecture == "encoder-decoder" else None
    return lm, lm.run(IDS, source_ids=source, capture=True)


def _stacks(lm, out):
    yield "stack", out.stack
    if out.encoder is not None:
        yield "encoder", out.encoder


def _plus(x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return x if bias is None else x + bias


def _by_formula(norm, x: torch.Tensor) -> torch.Tensor:
    """The norm from its documented fields: kind, eps, gain and bias, in float64."""
    x = x.double()
    if norm.kind == "layernorm":
        centred = x - x.mean(-1, keepdim=True)
        y = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + norm.eps)
    else:
        y = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps)
    return _plus(y * norm.gain(torch.float64), None if norm.bias is None else norm.bias.double())


def _project(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """(B, heads, T, hs) x (B, T, d) through each head's (d, hs) projection."""
    return _plus(torch.einsum("btd,hdk->bhtk", x, w), None if b is None else b[None, :, None])


def _attention_input(lm, layer) -> torch.Tensor:
    """What the self-attention projects: its norm's output (pre-norm), or the block's input (post-norm)."""
    return layer.attn_norm if lm.config.norm_placement == "pre" else layer.resid_pre


def _feed_forward_input(lm, layer) -> torch.Tensor:
    if lm.config.norm_placement == "pre":
        return layer.mlp_norm
    return layer.resid_mid if layer.resid_cross is None else layer.resid_cross


@torch.inference_mode()
def test_w_o_applied_to_each_heads_z_is_the_recorded_attention_output(run):
    lm, out = run
    for stack, record in _stacks(lm, out):
        for i, layer in enumerate(record.layers):
            w_o = lm.weights.W_O(i, stack)  # (nh, hs, d)
            assert w_o.shape == (lm.config.n_heads, lm.config.head_dim, lm.config.d_model)
            per_head = torch.einsum("bhtk,hkd->bhtd", layer.self_attn.z, w_o)
            torch.testing.assert_close(_plus(per_head.sum(1), lm.weights.b_O(i, stack)), layer.self_attn.out, **CLOSE)


@torch.inference_mode()
def test_w_q_w_k_w_v_are_the_attentions_own_projections(run):
    lm, out = run
    nh, nkv, hs, d = lm.config.n_heads, lm.config.kv_heads, lm.config.head_dim, lm.config.d_model
    for stack, record in _stacks(lm, out):
        modules = lm.module.stack if stack == "stack" else lm.module.encoder
        for i, layer in enumerate(record.layers):
            x = _attention_input(lm, layer)
            w_q, w_k, w_v = (lm.weights.W_Q(i, stack), lm.weights.W_K(i, stack), lm.weights.W_V(i, stack))
            assert (w_q.shape, w_k.shape, w_v.shape) == ((nh, d, hs), (nkv, d, hs), (nkv, d, hs))
            q = _project(x, w_q, lm.weights.b_Q(i, stack))
            k = _project(x, w_k, lm.weights.b_K(i, stack))
            v = _project(x, w_v, lm.weights.b_V(i, stack))
            attn = modules.layers[i].self_attn
            own_q, own_k, own_v = attn.project(x)  # the model's own product (fused where prepared), no rotary
            if attn.q_norm is not None:
                q, k = attn.q_norm(q), attn.k_norm(k)
            torch.testing.assert_close(q, own_q, **CLOSE)
            torch.testing.assert_close(k, own_k, **CLOSE)
            torch.testing.assert_close(v, own_v, **CLOSE)
            torch.testing.assert_close(v, layer.self_attn.v, **CLOSE)  # v is recorded as projected


@torch.inference_mode()
def test_feed_forward_weights_give_the_recorded_units_and_output(run):
    lm, out = run
    for stack, record in _stacks(lm, out):
        for i, layer in enumerate(record.layers):
            x, mlp = _feed_forward_input(lm, layer), layer.mlp
            w_in, w_gate, w_out = lm.weights.W_in(i, stack), lm.weights.W_gate(i, stack), lm.weights.W_out(i, stack)
            assert w_in.shape == (lm.config.d_model, lm.config.d_ff) and w_out.shape == (lm.config.d_ff, lm.config.d_model)
            if lm.config.is_gated:
                torch.testing.assert_close(_plus(x @ w_gate, lm.weights.b_gate(i, stack)), mlp.pre, **CLOSE)
                torch.testing.assert_close(_plus(x @ w_in, lm.weights.b_in(i, stack)), mlp.up, **CLOSE)
            else:
                assert w_gate is None and lm.weights.b_gate(i, stack) is None
                torch.testing.assert_close(_plus(x @ w_in, lm.weights.b_in(i, stack)), mlp.pre, **CLOSE)
            torch.testing.assert_close(_plus(mlp.act @ w_out, lm.weights.b_out(i, stack)), mlp.out, **CLOSE)


@torch.inference_mode()
def test_norms_are_the_models_own_and_compute_what_their_fields_say(run):
    lm, out = run
    pre = lm.config.norm_placement == "pre"
    for stack, record in _stacks(lm, out):
        for i, layer in enumerate(record.layers):
            attn_in = layer.resid_pre if pre else layer.resid_pre + layer.self_attn.out
            mlp_before = layer.resid_mid if layer.resid_cross is None else layer.resid_cross
            mlp_in = mlp_before if pre else mlp_before + layer.mlp.out
            for norm, x, recorded in [(lm.weights.attn_norm(i, stack), attn_in, layer.attn_norm),
                                      (lm.weights.mlp_norm(i, stack), mlp_in, layer.mlp_norm)]:
                assert norm.kind == lm.config.norm and norm.eps == lm.config.norm_eps
                torch.testing.assert_close(norm(x), recorded, **EXACT)
                torch.testing.assert_close(_by_formula(norm, x), recorded.double(), **CLOSE)
            for norm, x, recorded in [(lm.weights.attn_post_norm(i, stack), layer.self_attn.out, layer.attn_post_norm),
                                      (lm.weights.mlp_post_norm(i, stack), layer.mlp.out, layer.mlp_post_norm)]:
                assert (norm is None) == (not lm.config.sandwich_norm) == (recorded is None)
                if norm is not None:
                    torch.testing.assert_close(norm(x), recorded, **EXACT)
                    torch.testing.assert_close(_by_formula(norm, x), recorded.double(), **CLOSE)
        final = lm.weights.final_norm(stack)
        assert (final is None) == (record.final_norm is None) == (not lm.config.final_norm)
        if final is not None:
            last = record.layers[-1].resid_post
            torch.testing.assert_close(final(last), record.final_norm, **EXACT)
            torch.testing.assert_close(_by_formula(final, last), record.final_norm.double(), **CLOSE)


@torch.inference_mode()
def test_embedding_and_position_tables_give_the_recorded_vectors(run):
    lm, out = run
    ids = torch.tensor(IDS)
    for stack, record in _stacks(lm, out):
        w_e = lm.weights.W_E(stack)
        assert w_e.shape == (lm.config.vocab_size, lm.config.d_model)
        scale = math.sqrt(lm.config.d_model) if lm.config.scale_embeddings else 1.0
        torch.testing.assert_close(w_e[ids] * scale, record.embeddings, **CLOSE)
        w_pos = lm.weights.W_pos(stack)
        assert (w_pos is None) == (lm.config.positional != "learned")
        if w_pos is not None:
            torch.testing.assert_close(w_pos[: ids.size(1)], record.positions.values[0], **EXACT)


@torch.inference_mode()
def test_w_u_gives_the_models_logits(run):
    lm, out = run
    w_u = lm.weights.W_U()
    if not lm.config.lm_head:
        assert w_u is None and out.logits is None
        return
    assert w_u.shape == (lm.config.d_model, lm.config.vocab_size)
    final = out.stack.final_norm if out.stack.final_norm is not None else out.stack.layers[-1].resid_post
    torch.testing.assert_close(lm.weights.vocab_logits(final), out.logits, **EXACT)
    logits = final @ w_u
    cap = lm.config.final_logit_softcap
    torch.testing.assert_close(logits if cap is None else torch.tanh(logits / cap) * cap, out.logits, **CLOSE)
    if lm.config.tie_embeddings:
        assert w_u.data_ptr() == lm.weights.W_E().data_ptr()


@pytest.mark.parametrize("kind", ["llama", "gemma"])
def test_named_weights_are_views_of_the_fused_matrices_never_copies(kind):
    lm = _lm(kind, prepared=True)
    attn, mlp = lm.module.stack.layers[0].self_attn, lm.module.stack.layers[0].mlp
    fused_qkv, fused_gate_up = attn.qkv_weight.untyped_storage().data_ptr(), mlp.gate_up_weight.untyped_storage().data_ptr()
    for w in (lm.weights.W_Q(0), lm.weights.W_K(0), lm.weights.W_V(0)):
        assert w.untyped_storage().data_ptr() == fused_qkv
    for w in (lm.weights.W_gate(0), lm.weights.W_in(0)):
        assert w.untyped_storage().data_ptr() == fused_gate_up


def test_a_layer_outside_the_model_is_an_index_error():
    lm = _lm("llama", prepared=False)
    with pytest.raises(IndexError):
        lm.weights.W_O(2)
    with pytest.raises(ValueError):
        lm.weights.W_E("encoder")
