"""Gemma 3's SentencePiece BPE, rebuilt from the GGUF fields, against llama.cpp's own tokenizer."""

from __future__ import annotations

import ctypes

import pytest

from core.loaders.gguf_gemma import gemma_gguf, gemma_tokenizer, packaged_header
from core.text.tokenizers import BYTE, CONTROL
from tests.support.gemma import gemma_package, gguf_path

gemma_package()


@pytest.fixture(scope="module")
def gguf():
    return gemma_gguf(packaged_header())  # the tokenizer is all in the header


@pytest.fixture(scope="module")
def ours(gguf):
    return gemma_tokenizer(gguf)  # built as load_gguf_gemma builds it


@pytest.fixture(scope="module")
def llama():
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(model_path=str(gguf_path()), vocab_only=True, verbose=False)


PLAIN = [
    "Hello, world! This is a test.",
    "The capital of France is",
    " leading space, and trailing one ",
    "I'm sure they'll say it's fine, won't they? I'VE DONE IT'S OK.",
    # Chinese, the source articles' examples among them
    "今天太冷了，能穿多少",
    "AI+编程 扬帆起航",
    "世界上最高的山是珠穆朗玛峰，海拔8848.86米。",
    "我爱自然语言处理。Transformer 模型由编码器和解码器组成。",
    "《红楼梦》是中国古典四大名著之一；“你好”‘世界’……",
    # emoji: plain, with variation selector, ZWJ sequences, flags, skin tones, keycaps
    "I ❤️ 🦀 and 🐍!",
    "family: 👩‍👩‍👧‍👦, pirate: 🏴‍☠️, scientist: 🧑🏽‍🔬",
    "flags 🇫🇷🇯🇵🇺🇸 thumbs 👍🏽👍🏿 keycap 1️⃣#️⃣",
    # digits and numbers
    "3.14159",
    "1234567890",
    "2026-11-22",
    "Order #42 costs $1,299.99 (10% off) on 22/11/2026 at 07:45.",
    "½ cup, x² + y², Ⅻ o'clock, ٣٤٥ and ४२",
    # code
    'def add(a, b):\n    """Return the sum."""\n    return a + b\n\n\nif __name__ == "__main__":\n'
    "\tprint(add(1, 2))  # 3\n",
    "for (int i = 0; i < n; ++i) { x[i] *= 2; }",
    # whitespace runs (Gemma has user-defined tokens for runs of spaces, tabs and newlines)
    "a  b   c    d",
    "line one\n\nline two\n\n\n\nline three",
    "\t\ttabbed\t \t \n  \n mixed",
    "   ",
    "\n",
    " " * 40 + "forty spaces",
    "\n" * 35 + "thirty-five newlines",
    "trailing spaces   \n   ",
    "Windows\r\nline endings\r\n",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    # mixed scripts, rare characters (byte fallback), HTML-like user-defined tokens
    "Привет мир, γειά σου κόσμε, مرحبا بالعالم, नमस्ते दुनिया, こんにちは世界, 안녕하세요 세계",
    "naïve café — “quotes” ‘too’ … ﬁ ligature",
    "English中文English日本語한국어123abc",
    "𓀀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010fffd \x00\x01 control",
    "<table><tr><td>cell</td></tr></table> <b>bold</b> <s>struck</s>",
    "<0x41> is not a byte token when typed",
]

SPECIAL = [
    "<start_of_turn>user\n今天天气怎么样？<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n",
    "text<eos>more text<pad><unused7>",
    "<start_of_image>[multimodal]<end_of_image>",
]


def reference_ids(llama, text: str) -> list[int]:
    return llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)


def test_the_articles_chinese_example(ours):
    assert ours.encode("今天太冷了，能穿多少").ids == [2, 22601, 238065, 238857, 237089, 236900, 237230, 239409, 32808]
    assert ours.kind == "SentencePiece BPE" and ours.byte_level and ours.pieces == "sentencepiece"


@pytest.mark.parity
@pytest.mark.parametrize("text", PLAIN + SPECIAL)
def test_ids_match_llama_cpp(ours, llama, text):
    assert ours.encode(text).ids == reference_ids(llama, text)


@pytest.mark.parametrize("text", PLAIN)
def test_round_trip(ours, text):
    ids = ours.encode(text).ids
    assert ids[0] == ours.bos_id == 2
    assert ours.decode(ids, skip_special_tokens=True) == text
    assert not set(ids[1:]) & ours.special_ids


@pytest.mark.parametrize("text", PLAIN + SPECIAL)
def test_token_bytes_reproduce_utf8(ours, text):
    ids = ours.encode(text).ids[1:]  # without <bos>
    assert b"".join(ours.token_bytes(i) for i in ids) == text.encode("utf-8")
    for i in ids:
        assert ours.token_text(i) == ours.token_bytes(i).decode("utf-8", errors="replace")


def test_sentencepiece_pieces_read_as_their_bytes(ours):
    space_piece = ours.encode(" world").ids[1]
    assert ours.id_to_token(space_piece) == "▁world" and ours.token_bytes(space_piece) == b" world"
    (bos, *fallback) = ours.encode("𓀀").ids  # no piece of its own: four byte pieces
    assert [ours.id_to_token(i) for i in fallback] == ["<0xF0>", "<0x93>", "<0x80>", "<0x80>"]
    assert [ours.token_bytes(i) for i in fallback] == [b"\xf0", b"\x93", b"\x80", b"\x80"]
    assert ours.token_text(fallback[0]) == "\ufffd"  # a lone byte of a 4-byte character
    assert ours.token_bytes(bos) == b"<bos>" and bos in ours.special_ids


def pieces(llama, ids) -> list[bytes]:
    """llama.cpp's bytes for each token (special tokens as their text), with room for long pieces."""
    import llama_cpp

    size = 256
    buffer = ctypes.create_string_buffer(size)
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    out = []
    for token_id in ids:
        n = llama_cpp.llama_token_to_piece(vocab, token_id, buffer, size, 0, True)
        assert 0 <= n <= size
        out.append(buffer.raw[:n])
    return out


@pytest.mark.parity
def test_every_token_bytes_match_llama_cpp(ours, llama):
    """Each of the 262,144 vocabulary entries stands for the same bytes in both tokenizers."""
    assert ours.vocab_size == llama.n_vocab() == 262_144
    theirs = pieces(llama, range(ours.vocab_size))
    mismatches = [i for i, expected in enumerate(theirs) if ours.token_bytes(i) != expected]
    assert not mismatches, [(i, ours.token_bytes(i), theirs[i]) for i in mismatches[:5]]


@pytest.mark.parity
def test_every_piece_tokenizes_as_llama_cpp_does(gguf, ours, llama):
    """Every vocabulary entry's own text, run through both tokenizers (BOS included).

    Ours runs as one batch; llama.cpp takes one call per text, about 50 µs each on a 2-core machine:
    13 s for all 262,016 typeable pieces, which is affordable, so nothing is sampled. Byte pieces of
    0x80-0xFF are not characters on their own and cannot be typed; they are left out.
    """
    kinds = gguf.field("tokenizer.ggml.token_type")
    typeable = [i for i, kind in enumerate(kinds) if not (kind == BYTE and ours.token_bytes(i)[0] >= 0x80)]
    assert len(typeable) == 262_144 - 128
    texts = [ours.token_bytes(i).decode("utf-8") for i in typeable]
    mine = ours.encode_batch(texts)
    mismatches = [t for t, ids in zip(texts, mine) if ids != reference_ids(llama, t)]
    assert not mismatches, [(t, ours.encode(t).ids, reference_ids(llama, t)) for t in mismatches[:5]]
    # Most pieces come back as themselves; a few are outranked by a split of their own text.
    itself = {i for i, ids in zip(typeable, mine) if ids == [2, i]}
    assert len(itself) > 0.95 * len(typeable)
    assert all(i in itself for i, kind in enumerate(kinds) if kind == CONTROL)  # typed in full: one id
