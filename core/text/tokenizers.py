"""Tokenizers for the core's models, all built on Hugging Face `tokenizers`.

- WordPiece from a `tokenizer.json` (MiniLM/BERT: `[CLS] … [SEP]`, `[UNK]`);
- byte-level BPE rebuilt from the fields of a GGUF file (SmolLM2);
- SentencePiece BPE rebuilt from the fields of a GGUF file (Gemma 3): "▁" stands for a space,
  and a character missing from the vocabulary falls back to one <0xXX> piece per UTF-8 byte;
- plain bytes (the classic demo model): every UTF-8 byte is one token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

from core.errors import InputError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_BYTE_PIECE = re.compile("<0x([0-9A-Fa-f]{2})>")  # SentencePiece's byte-fallback pieces
SPACE_PIECE = "\u2581"  # "▁", SentencePiece's stand-in for a space

PieceFormat = Literal["wordpiece", "byte-level", "sentencepiece"]


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
    """A `tokenizers.Tokenizer` plus what the pages need to explain it.

    - kind: the algorithm, for people ("wordpiece", "byte-level BPE", "SentencePiece BPE", "bytes");
    - byte_level: True where a token may hold only part of a UTF-8 character (byte-level BPE, plain
      bytes, SentencePiece's <0xE4>-style byte fallback), so pages label tokens from `token_bytes`,
      not from the vocabulary strings;
    - pieces: how a vocabulary string spells its bytes: "wordpiece" ("##ing" continues a word),
      "byte-level" (GPT-2's stand-in characters, "Ġ" for a space), "sentencepiece" ("▁" for a
      space, "<0xE4>" for one byte). Default: "byte-level" if byte_level, else "wordpiece".
    """

    def __init__(self, tokenizer: Tokenizer, kind: str, byte_level: bool, bos_id: int | None = None,
                 pieces: PieceFormat | None = None, add_bos: bool = True):
        self._tok = tokenizer
        self.kind = kind
        self.byte_level = byte_level
        self.pieces: PieceFormat = pieces or ("byte-level" if byte_level else "wordpiece")
        self.bos_id = bos_id  # the start token: a decoder's first input, and prepended by `encode` if add_bos
        self.add_bos = add_bos and bos_id is not None
        self.special_ids = frozenset(
            tokenizer.token_to_id(t.content) for t in tokenizer.get_added_tokens_decoder().values() if t.special
        )
        self.unk_token = "[UNK]" if tokenizer.token_to_id("[UNK]") is not None else None

    @cached_property
    def vocab_size(self) -> int:
        # Cached: `tokenizers` counts the vocabulary anew on every call (262k entries for Gemma).
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> Encoded:
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}")
        # A lone surrogate (e.g. from a half-copied emoji) is not valid Unicode; `tokenizers` refuses it.
        # One replacement character for one code point keeps every offset in place.
        text = _LONE_SURROGATE.sub("\ufffd", text)
        enc = self._tok.encode(text)
        ids, tokens, offsets = list(enc.ids), list(enc.tokens), [tuple(o) for o in enc.offsets]
        if self.add_bos:
            ids, tokens, offsets = [self.bos_id] + ids, [self.id_to_token(self.bos_id)] + tokens, [(0, 0)] + offsets
        return Encoded(ids, tokens, offsets)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of many texts at once (on every core), the start token added as by `encode`."""
        texts = [_LONE_SURROGATE.sub("\ufffd", t) for t in texts]
        start = [self.bos_id] if self.add_bos else []
        return [start + list(e.ids) for e in self._tok.encode_batch(texts)]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    def id_to_token(self, token_id: int) -> str:
        token_id = int(token_id)
        token = self._tok.id_to_token(token_id) if 0 <= token_id < self.vocab_size else None
        if token is None:
            raise InputError(f"token id {token_id} is outside the vocabulary (0..{self.vocab_size - 1})")
        return token

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes a token stands for (byte-level vocabularies store them as stand-in characters,
        SentencePiece as "▁" for a space and "<0xE4>" for a lone byte); a special token's own text."""
        token = self.id_to_token(token_id)
        if token_id in self.special_ids or self.pieces == "wordpiece":
            return token.removeprefix("##").encode("utf-8")
        if self.pieces == "sentencepiece":
            byte = _BYTE_PIECE.fullmatch(token)
            return bytes([int(byte.group(1), 16)]) if byte else token.replace(SPACE_PIECE, " ").encode("utf-8")
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


# llama.cpp's token types (GGUF tokenizer.ggml.token_type)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def sentencepiece_from_gguf(
    tokens: Sequence[str], scores: Sequence[float], token_types: Sequence[int], bos_id: int | None = None,
    add_space_prefix: bool = False,
) -> TextTokenizer:
    """A SentencePiece BPE vocabulary (GGUF tokenizer.ggml.model "llama": Gemma, Llama 2) as llama.cpp runs it.

    llama.cpp starts from single characters and repeatedly joins the adjacent pair whose join is the
    vocabulary piece with the highest score (leftmost first on ties); a character with no piece of its
    own becomes one <0xXX> piece per UTF-8 byte. That is BPE whose merges are every split of every piece
    into two pieces, ranked by the joined piece's score, which `tokenizers` runs natively.
    Control tokens (<start_of_turn>) are special; user-defined ones ("\n\n", "<b>", runs of spaces)
    are cut out of the raw text before anything else, as llama.cpp does, but are ordinary text.
    """
    vocab = {token: i for i, token in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=_merges_by_score(tokens, scores, token_types, vocab),
                               byte_fallback=True, fuse_unk=False))
    replace = normalizers.Replace(" ", SPACE_PIECE)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE_PIECE), replace]) if add_space_prefix else replace
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE_PIECE, " "), decoders.ByteFallback(), decoders.Fuse()])
    typed = list(zip(tokens, token_types))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in typed if k == CONTROL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t, k in typed if k == USER_DEFINED])
    return TextTokenizer(tok, "SentencePiece BPE", byte_level=True, bos_id=bos_id, pieces="sentencepiece")


def _merges_by_score(
    tokens: Sequence[str], scores: Sequence[float], token_types: Sequence[int], vocab: dict[str, int]
) -> list[tuple[str, str]]:
    """(left, right) for every way to split a mergeable piece into two pieces, the highest-scoring
    joined piece first. About 0.5 M merges for Gemma 3's 262k pieces; a second or so."""
    ranked = []
    for i, (piece, kind) in enumerate(zip(tokens, token_types)):
        if kind not in (NORMAL, BYTE):  # control and user-defined tokens are cut out before merging
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[i], i, vocab[left], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


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


def symbol_tokenizer(labels: Sequence[str], kind: str, keep: str | None = None, unknown_id: int | None = None,
                     bos_id: int | None = None, add_bos: bool = True, special: int = 3) -> TextTokenizer:
    """One token per character, the vocabulary given as its labels (ids in order; the first `special`
    labels are special tokens such as <pad>, <s> and </s>): the tokenizer of a model trained on the live
    training page. `keep`, a regular-expression character class, drops every other character before
    tokenizing (a copy task reads digits only); a character outside the vocabulary reads as `unknown_id`."""
    vocab = {label: i for i, label in enumerate(labels)}
    unknown = None if unknown_id is None else labels[unknown_id]
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unknown))
    if keep is not None:
        tok.normalizer = normalizers.Replace(Regex(f"[^{keep}]"), "")
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.add_special_tokens([AddedToken(label, special=True, normalized=False) for label in labels[:special]])
    return TextTokenizer(tok, kind, byte_level=False, bos_id=bos_id, add_bos=add_bos)
