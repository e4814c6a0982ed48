"""Our encoder-decoder equals torch.nn.Transformer (post-norm and pre-norm) given the same weights and inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from core.engine.model import Transformer
from core.loaders.classic import classic_config
from core.text.tokenizers import bytes_tokenizer
from tests.support.models import loaded

ATOL = 1e-5
pytestmark = [pytest.mark.parity, pytest.mark.filterwarnings(
    "ignore:enable_nested_tensor is True:UserWarning", "ignore:The PyTorch API of nested tensors:UserWarning"
)]
VOCAB = bytes_tokenizer().vocab_size


def _config(norm_placement: str):
    # The classic demo model's shapes (d=64, 4 heads, 2+2 layers, d_ff=256, post-norm, ReLU, sinusoids).
    return dataclasses.replace(classic_config(VOCAB), norm_placement=norm_placement)


def _attention_pairs(ours: str, theirs: str, d: int):
    """(our name, their name, rows) for one attention: nn.MultiheadAttention packs q, k, v in one matrix."""
    pairs = []
    for i, proj in enumerate(("q_proj", "k_proj", "v_proj")):
        rows = slice(i * d, (i + 1) * d)
        pairs.append((f"{ours}.{proj}.weight", f"{theirs}.in_proj_weight", rows))
        pairs.append((f"{ours}.{proj}.bias", f"{theirs}.in_proj_bias", rows))
    pairs += [(f"{ours}.o_proj.{p}", f"{theirs}.out_proj.{p}", None) for p in ("weight", "bias")]
    return pairs


def _weight_and_bias(ours: str, theirs: str):
    return [(f"{ours}.{p}", f"{theirs}.{p}", None) for p in ("weight", "bias")]


def name_map(config) -> list[tuple[str, str, slice | None]]:
    """Every parameter of our Transformer (except embeddings) and where it lives in nn.Transformer."""
    d = config.d_model
    pairs = []
    for i in range(config.encoder_layers):
        ours, theirs = f"encoder.layers.{i}", f"encoder.layers.{i}"
        pairs += _attention_pairs(f"{ours}.self_attn", f"{theirs}.self_attn", d)
        for our_module, their_module in [("attn_norm", "norm1"), ("mlp.fc_in", "linear1"), ("mlp.fc_out", "linear2"),
                                         ("mlp_norm", "norm2")]:
            pairs += _weight_and_bias(f"{ours}.{our_module}", f"{theirs}.{their_module}")
    pairs += _weight_and_bias("encoder.norm", "encoder.norm")
    for i in range(config.n_layers):
        ours, theirs = f"stack.layers.{i}", f"decoder.layers.{i}"
        pairs += _attention_pairs(f"{ours}.self_attn", f"{theirs}.self_attn", d)
        pairs += _attention_pairs(f"{ours}.cross_attn", f"{theirs}.multihead_attn", d)
        for our_module, their_module in [("attn_norm", "norm1"), ("cross_norm", "norm2"), ("mlp.fc_in", "linear1"),
                                         ("mlp.fc_out", "linear2"), ("mlp_norm", "norm3")]:
            pairs += _weight_and_bias(f"{ours}.{our_module}", f"{theirs}.{their_module}")
    pairs += _weight_and_bias("stack.norm", "decoder.norm")
    return pairs


def reference_transformer(config) -> nn.Transformer:
    ref = nn.Transformer(
        d_model=config.d_model,
        nhead=config.n_heads,
        num_encoder_layers=config.encoder_layers,
        num_decoder_layers=config.n_layers,
        dim_feedforward=config.d_ff,
        dropout=0.0,
        activation="relu",
        layer_norm_eps=config.norm_eps,
        batch_first=True,
        norm_first=config.norm_placement == "pre",
    )
    return ref.eval()


def copy_theirs_into_ours(ref: nn.Transformer, model: Transformer) -> None:
    theirs, ours = ref.state_dict(), dict(model.named_parameters())
    pairs = name_map(model.config)
    covered = {o for o, _, _ in pairs}
    assert covered == {n for n in ours if ".embed." not in n}, "the name map must cover every non-embedding parameter"
    assert {t for _, t, _ in pairs} == set(theirs), "... and every parameter of nn.Transformer"
    with torch.no_grad():
        for our_name, their_name, rows in pairs:
            value = theirs[their_name] if rows is None else theirs[their_name][rows]
            ours[our_name].copy_(value)


def copy_ours_into_theirs(model: Transformer, ref: nn.Transformer) -> None:
    theirs, ours = ref.state_dict(), dict(model.named_parameters())
    with torch.no_grad():
        for our_name, their_name, rows in name_map(model.config):
            target = theirs[their_name] if rows is None else theirs[their_name][rows]
            target.copy_(ours[our_name])  # state_dict tensors share storage with the parameters


def _randomised_reference(config, seed: int) -> nn.Transformer:
    """nn.Transformer with every parameter perturbed: zero biases and unit norms would hide mapping mistakes."""
    torch.manual_seed(seed)
    ref = reference_transformer(config)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return ref


def _ours(config, seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(config).eval()


def _inputs():
    g = torch.Generator().manual_seed(0)
    source = torch.randint(3, VOCAB, (2, 9), generator=g)
    target = torch.randint(3, VOCAB, (2, 6), generator=g)
    source_is_real = torch.ones(2, 9, dtype=torch.bool)
    source_is_real[1, 6:] = False  # the second source has three padding positions
    source[1, 6:] = 0  # <pad>
    return source, target, source_is_real


def _reference_outputs(ref: nn.Transformer, model: Transformer, source, target, source_is_real):
    """Feed nn.Transformer what enters our first blocks; returns its encoder memory and decoder output."""
    src = model.encoder.embed(source).x  # (B, S, d)
    tgt = model.stack.embed(target).x  # (B, T, d)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(target.size(1))
    padding = None if source_is_real is None else ~source_is_real
    memory = ref.encoder(src, src_key_padding_mask=padding)
    out = ref.decoder(tgt, memory, tgt_mask=tgt_mask, memory_key_padding_mask=padding)
    full = ref(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=padding, memory_key_padding_mask=padding)
    torch.testing.assert_close(full, out, rtol=0, atol=1e-6)
    return memory, out


@pytest.mark.parametrize("norm_placement", ["post", "pre"])
@torch.no_grad()
def test_matches_nn_transformer_without_padding(norm_placement):
    config = _config(norm_placement)
    ref, model = _randomised_reference(config, seed=1), _ours(config, seed=2)
    copy_theirs_into_ours(ref, model)
    source, target, _ = _inputs()
    memory, expected = _reference_outputs(ref, model, source, target, None)
    out = model(target, source_ids=source, capture=True)
    torch.testing.assert_close(out.hidden, expected, rtol=0, atol=ATOL)
    torch.testing.assert_close(out.encoder.final_norm, memory, rtol=0, atol=ATOL)
    # The logits are the tied embedding applied to that output.
    torch.testing.assert_close(out.logits, expected @ model.stack.embed.tokens.weight.T, rtol=0, atol=1e-4)
    # The comparison has teeth: without the causal mask the reference disagrees with us.
    unmasked = ref.decoder(model.stack.embed(target).x, memory)
    assert (unmasked - out.hidden).abs().max() > 1e-3


@pytest.mark.parametrize("norm_placement", ["post", "pre"])
@torch.no_grad()
def test_matches_nn_transformer_with_source_padding(norm_placement):
    config = _config(norm_placement)
    ref, model = _randomised_reference(config, seed=3), _ours(config, seed=4)
    copy_theirs_into_ours(ref, model)
    source, target, source_is_real = _inputs()
    memory, expected = _reference_outputs(ref, model, source, target, source_is_real)
    out = model(target, source_ids=source, source_is_real=source_is_real, capture=True)
    # Every decoder position is real: the padding only enters through cross-attention.
    torch.testing.assert_close(out.hidden, expected, rtol=0, atol=ATOL)
    real = source_is_real
    torch.testing.assert_close(out.encoder.final_norm[real], memory[real], rtol=0, atol=ATOL)
    # Padded source positions get no cross-attention weight in any decoder layer.
    for layer in out.stack.layers:
        assert torch.equal(layer.cross_attn.probs[1, :, :, 6:], torch.zeros(config.n_heads, 6, 3))
    # ... and the padding mattered: the unpadded run of the same ids gives a different output.
    unpadded = model(target, source_ids=source).hidden
    assert (unpadded[1] - out.hidden[1]).abs().max() > 1e-3
    torch.testing.assert_close(unpadded[0], out.hidden[0], rtol=0, atol=0)


@torch.no_grad()
def test_shipped_classic_model_matches_nn_transformer():
    """The "classic" model as the app loads it, copied into nn.Transformer, traced through LanguageModel."""
    lm = loaded("classic", "cpu")
    config = lm.config
    assert (config.architecture, config.positional, config.norm_placement, config.activation, config.final_norm) == (
        "encoder-decoder", "sinusoidal", "post", "relu", True)
    ref = reference_transformer(config)
    copy_ours_into_theirs(lm.module, ref)
    tr = lm.trace("Attention!", target="Achtung", dtype=np.float32)
    src = torch.from_numpy(tr.encoder.embed_out)[None]
    tgt = torch.from_numpy(tr.stack.embed_out)[None]
    # What enters the first block is the scaled embedding plus the sinusoids.
    embed = lm.module.stack.embed
    torch.testing.assert_close(tgt, embed(torch.tensor([tr.token_ids])).x, rtol=0, atol=0)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))
    expected = ref(src, tgt, tgt_mask=tgt_mask)[0].numpy()
    np.testing.assert_allclose(tr.stack.final_norm, expected, rtol=0, atol=ATOL)
    np.testing.assert_allclose(tr.logits, expected @ embed.tokens.weight.numpy().T, rtol=0, atol=1e-4)
