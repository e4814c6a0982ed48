"""A tiny random Gemma 3 (4 layers, width 32) and transformers' Gemma3ForCausalLM with the same weights: built in
milliseconds, with a sliding window (4) shorter than the texts, so local and global layers differ. Every knob is
off its default where transformers allows it (see tests/test_gemma_architecture.py)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may reach a model hub

import torch

from core.engine.config import ModelConfig
from core.engine.model import Transformer

V, D, HEADS, KV, HS, FF, WINDOW, T = 64, 32, 4, 2, 16, 48, 4, 12
KINDS = ("sliding", "sliding", "global", "sliding")
LOCAL_BASE, GLOBAL_BASE, QUERY_SCALAR, SOFTCAP, EPS = 10_000.0, 1_000_000.0, 20, 30.0, 1e-6

OURS = ModelConfig(
    vocab_size=V, d_model=D, n_layers=len(KINDS), n_heads=HEADS, n_kv_heads=KV, head_dim=HS, d_ff=FF,
    max_positions=64, architecture="decoder", positional="rope", rope_base=GLOBAL_BASE, rope_local_base=LOCAL_BASE,
    layer_types=KINDS, sliding_window=WINDOW, norm="rmsnorm", norm_eps=EPS, norm_unit_offset=True,
    sandwich_norm=True, qk_norm=True, activation="gelu_tanh", gated=True, bias=False, scale_embeddings=True,
    tie_embeddings=True, attn_scale=QUERY_SCALAR**-0.5, final_logit_softcap=SOFTCAP,
)

# transformers' names -> ours, per layer (the embedding and final norm are mapped below)
LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "self_attn.q_proj",
    "self_attn.k_proj": "self_attn.k_proj",
    "self_attn.v_proj": "self_attn.v_proj",
    "self_attn.o_proj": "self_attn.o_proj",
    "self_attn.q_norm": "self_attn.q_norm",
    "self_attn.k_norm": "self_attn.k_norm",
    "post_attention_layernorm": "attn_post_norm",
    "pre_feedforward_layernorm": "mlp_norm",
    "mlp.gate_proj": "mlp.fc_in",
    "mlp.up_proj": "mlp.fc_up",
    "mlp.down_proj": "mlp.fc_out",
    "post_feedforward_layernorm": "mlp_post_norm",
}


def our_name(hf_name: str) -> str | None:
    if hf_name == "lm_head.weight":
        return None  # tied to the embedding
    name = hf_name.removeprefix("model.")
    if name == "embed_tokens.weight":
        return "stack.embed.tokens.weight"
    if name == "norm.weight":
        return "stack.norm.weight"
    _, layer, rest = name.split(".", 2)
    module, leaf = rest.rsplit(".", 1)
    return f"stack.layers.{layer}.{LAYER_NAMES[module]}.{leaf}"


def pair() -> tuple[Transformer, torch.nn.Module]:
    """Our tiny Gemma and transformers' Gemma3ForCausalLM with the same random weights."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=V, hidden_size=D, intermediate_size=FF, num_hidden_layers=len(KINDS), num_attention_heads=HEADS,
        num_key_value_heads=KV, head_dim=HS, max_position_embeddings=64, rms_norm_eps=EPS,
        query_pre_attn_scalar=QUERY_SCALAR, sliding_window=WINDOW, final_logit_softcapping=SOFTCAP,
        layer_types=[{"sliding": "sliding_attention", "global": "full_attention"}[k] for k in KINDS],
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": LOCAL_BASE},
            "full_attention": {"rope_type": "default", "rope_theta": GLOBAL_BASE},
        },
        hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True, attn_implementation="eager",
    )
    torch.manual_seed(0)
    hf = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            # Norm weights start at 0 (scale 1 + 0): random ones prove the (1 + w) is applied.
            p.copy_(torch.randn_like(p) * (0.5 if "norm" in name else 0.2))
    ours = Transformer(OURS).eval()
    arrays = {our_name(n): p.detach().clone() for n, p in hf.named_parameters() if our_name(n)}
    assert set(arrays) == {n for n, _ in ours.named_parameters()}
    ours.load_state_dict(arrays, strict=False)  # lm_head is the tied embedding
    assert ours.lm_head.weight is ours.stack.embed.tokens.weight
    return ours, hf
