"""Tokenizers for the core's models, all built on Hugging Face `tokenizers`.

- WordPiece from a `tokenizer.json` (MiniLM/BERT: `[CLS] … [SEP]`, `[UNK]`);
- byte-level BPE rebuilt from the fields of a GGUF file (SmolLM2);
- plain bytes (the classic demo model): every UTF-8 byte is one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from .errors import InputError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]  # character span in the text; (0, 0) for added special tokens


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: printable stand-in character -> byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


class TextTokenizer:
    """A `tokenizers.Tokenizer` plus what the pages need to explain it."""

    def __init__(self, tokenizer: Tokenizer, kind: str, byte_level: bool, bos_id: int | None = None):
        self._tok = tokenizer
        self.kind = kind  # "wordpiece", "byte-level BPE" or "bytes"
        self.byte_level = byte_level
        self.bos_id = bos_id  # prepended by `encode` where the model expects it
        self.special_ids = frozenset(
            tokenizer.token_to_id(t.content) for t in tokenizer.get_added_tokens_decoder().values() if t.special
        )
        self.unk_token = "[UNK]" if tokenizer.token_to_id("[UNK]") is not None else None

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> Encoded:
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}")
        # A lone surrogate (e.g. from a half-copied emoji) is not valid Unicode; `tokenizers` refuses it.
        # One replacement character for one code point keeps every offset in place.
        text = _LONE_SURROGATE.sub("\ufffd", text)
        enc = self._tok.encode(text)
        ids, tokens, offsets = list(enc.ids), list(enc.tokens), [tuple(o) for o in enc.offsets]
        if self.bos_id is not None:
            ids, tokens, offsets = [self.bos_id] + ids, [self.id_to_token(self.bos_id)] + tokens, [(0, 0)] + offsets
        return Encoded(ids, tokens, offsets)

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    def id_to_token(self, token_id: int) -> str:
        token_id = int(token_id)
        token = self._tok.id_to_token(token_id) if 0 <= token_id < self.vocab_size else None
        if token is None:
            raise InputError(f"token id {token_id} is outside the vocabulary (0..{self.vocab_size - 1})")
        return token

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes a token stands for (byte-level vocabularies store them as stand-in characters)."""
        token = self.id_to_token(token_id)
        if token_id in self.special_ids or not self.byte_level:
            return token.removeprefix("##").encode("utf-8")
        table = _byte_decoder()
        return bytes(table[c] for c in token if c in table)

    def token_text(self, token_id: int) -> str:
        """What a token reads as, with broken UTF-8 shown as replacement characters."""
        return self.token_bytes(token_id).decode("utf-8", errors="replace")

    def is_unknown(self, token_id: int) -> bool:
        return self.unk_token is not None and self.id_to_token(token_id) == self.unk_token


def wordpiece_from_file(path: Path) -> TextTokenizer:
    tok = Tokenizer.from_file(str(path))
    # The shipped file pads every input to 128 tokens and truncates there; a page wants the real tokens.
    tok.no_padding()
    tok.no_truncation()
    return TextTokenizer(tok, "wordpiece", byte_level=False)


def byte_bpe_from_gguf(tokens: list[str], merges: list[str], token_types: list[int]) -> TextTokenizer:
    """SmolLM2's tokenizer from its GGUF fields (pre-tokenizer "smollm": single digits, then GPT-2's regex)."""
    vocab = {token: i for i, token in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    control = 3  # llama.cpp's token type for control tokens such as <|im_start|>
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, token_types) if k == control])
    return TextTokenizer(tok, "byte-level BPE", byte_level=True)


BYTE_SPECIALS = ("<pad>", "<s>", "</s>")


def bytes_tokenizer() -> TextTokenizer:
    """One token per UTF-8 byte, plus <pad>, <s> and </s>: the classic demo model's vocabulary."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(BYTE_SPECIALS)}
    for char in sorted(alphabet, key=lambda c: _byte_decoder()[c]):
        vocab[char] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in BYTE_SPECIALS])
    return TextTokenizer(tok, "bytes", byte_level=True, bos_id=vocab["<s>"])
