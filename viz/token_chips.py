"""Tokens as coloured chips: the HTML behind the Tokenization page, with no Streamlit in it.

Every piece of token or user text passes through `html.escape` here, so a text
such as `<img src=x onerror=alert(1)>` is drawn as text, never as markup.
"""

from __future__ import annotations

import html
import random
import unicodedata
from dataclasses import dataclass

MAX_CHIPS = 1_000  # a browser draws a few thousand spans slowly; a page studies the first ones
PALETTE_SIZE = 5  # neighbouring chips differ in colour so token boundaries stand out

# Whitespace is invisible in a chip, yet it is often part of a token ("Ġis" is " is").
WHITESPACE_MARKS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}

STYLE = """<style>
.ts-chips { line-height: 2.6; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.95rem; }
.ts-chip { display: inline-block; margin: 2px 1px; padding: 0 5px; border-radius: 5px; color: #1a1a1a;
  line-height: 1.5; text-align: center; white-space: pre; border: 1px solid transparent; }
.ts-chip .ts-id { display: block; font-size: 0.62rem; opacity: 0.7; line-height: 1.1; }
.ts-c0 { background: #c7e3ff; } .ts-c1 { background: #ffe0b3; } .ts-c2 { background: #c9f2cf; }
.ts-c3 { background: #f3d1f4; } .ts-c4 { background: #fff3a8; }
.ts-special { background: #e4e4e4; border: 1px dashed #555; font-weight: 700; }
.ts-unknown { background: #ffb3b3; border: 2px solid #c00000; }
.ts-more { background: none; border: 1px dotted #888; color: inherit; }
.ts-legend { font-size: 0.9rem; margin: 0.3rem 0; }
</style>"""


@dataclass(frozen=True)
class TokenChip:
    index: int  # position in the token sequence
    token_id: int
    vocab_string: str  # the vocabulary entry as stored ("Ġis", "##ing", "[CLS]")
    data: bytes  # the bytes it stands for
    span: tuple[int, int]  # character offsets in the text; empty for tokens the tokenizer adds
    source: str  # the text under that span
    kind: str  # "text", "special" or "unknown"
    byte_level: bool

    @property
    def added(self) -> bool:
        return self.kind == "special" and self.span[0] == self.span[1]

    @property
    def label(self) -> str:
        """What the chip shows: byte-level stand-ins decoded, whitespace and stray bytes made visible."""
        if self.kind != "text" or not self.byte_level:
            return visible(self.vocab_string)
        return visible(self.data.decode("utf-8", errors="surrogateescape"))

    @property
    def hex_bytes(self) -> str:
        return self.data.hex(" ").upper()


def visible(text: str) -> str:
    """Whitespace as marks, control characters and undecodable bytes as <XX> hex.

    Bytes that are not valid UTF-8 on their own (the first byte of a Chinese
    character, say) arrive as lone surrogates U+DC80..U+DCFF from
    `decode(errors="surrogateescape")`: U+DC00 + byte.
    """
    out = []
    for char in text:
        if char in WHITESPACE_MARKS:
            out.append(WHITESPACE_MARKS[char])
        elif "\udc80" <= char <= "\udcff":
            out.append(f"<{ord(char) - 0xDC00:02X}>")
        elif unicodedata.category(char) == "Cc":
            out.append(f"<{ord(char):02X}>")
        else:
            out.append(char)
    return "".join(out)


def chips_for(tokenizer, text: str) -> list[TokenChip]:
    """The chips of `text` under a core `TextTokenizer`."""
    encoded = tokenizer.encode(text)
    chips = []
    for index, (token_id, token, span) in enumerate(zip(encoded.ids, encoded.tokens, encoded.offsets)):
        if tokenizer.is_unknown(token_id):  # [UNK] is a special token too, but it stands for real text
            kind = "unknown"
        elif token_id in tokenizer.special_ids:
            kind = "special"
        else:
            kind = "text"
        start, end = span
        chips.append(TokenChip(index, token_id, token, tokenizer.token_bytes(token_id), (start, end),
                               text[start:end], kind, tokenizer.byte_level))
    return chips


def dropped_characters(text: str, chips: list[TokenChip]) -> list[str]:
    """Characters of `text` that no token covers. A byte-level vocabulary should spell every byte,
    yet SmolLM2's has no token for 21 byte values (some control characters among them): the
    tokenizer drops them silently, and the model never sees them."""
    if not chips or not chips[0].byte_level:
        return []  # WordPiece drops spaces and accents by design; [UNK] already marks what it cannot spell
    covered = [False] * len(text)
    for chip in chips:
        if chip.kind != "special":
            covered[chip.span[0]:chip.span[1]] = [True] * (chip.span[1] - chip.span[0])
    return sorted({char for char, seen in zip(text, covered) if not seen})


def character_groups(chips: list[TokenChip]) -> list[list[TokenChip]]:
    """Consecutive chips joined until their bytes spell whole characters (a Chinese character's
    three bytes may sit in three tokens)."""
    groups, current = [], []
    for chip in chips:
        current.append(chip)
        try:
            b"".join(c.data for c in current).decode("utf-8")
        except UnicodeDecodeError:
            continue
        groups.append(current)
        current = []
    return groups + ([current] if current else [])


def shuffled(chips: list[TokenChip], seed: int = 0) -> list[TokenChip]:
    """The same chips in a random order (seeded, so every reload shows the same one), moved in
    character groups so the shuffled text still reads as characters."""
    groups = character_groups(chips)
    random.Random(seed).shuffle(groups)
    return [chip for group in groups for chip in group]


def chip_title(chip: TokenChip) -> str:
    lines = [f"token #{chip.index} · id {chip.token_id}", f"vocabulary entry: {chip.vocab_string}",
             f"reads as: {chip.label}", f"bytes: {chip.hex_bytes or '(none)'}"]
    if chip.added:
        lines.append("added by the tokenizer: not in the text")
    else:
        lines.append(f"characters {chip.span[0]}–{chip.span[1]}: {chip.source!r}")
    if chip.kind == "unknown":
        lines.append(f"not in the vocabulary: the model sees {chip.vocab_string}, not {chip.source!r}")
    return "\n".join(lines)


def chip_html(chip: TokenChip, show_id: bool = True) -> str:
    style = {"special": "ts-special", "unknown": "ts-unknown"}.get(chip.kind, f"ts-c{chip.index % PALETTE_SIZE}")
    token_id = f'<span class="ts-id">{chip.token_id}</span>' if show_id else ""
    chip_span = (f'<span class="ts-chip {style}" title="{html.escape(chip_title(chip), quote=True)}">'
                 f"{html.escape(chip.label)}{token_id}</span>")
    # A token that ends a line ends the chip line too, so the chips keep the text's shape.
    return chip_span + ("<br>" if chip.data.endswith(b"\n") and chip.kind == "text" else "")


def chips_html(chips: list[TokenChip], limit: int = MAX_CHIPS, show_ids: bool = True) -> str:
    """All chips (up to `limit`) in one block, ready for `st.html`."""
    body = "".join(chip_html(chip, show_ids) for chip in chips[:limit])
    if len(chips) > limit:
        body += f'<span class="ts-chip ts-more">… {len(chips) - limit:,} more tokens not drawn</span>'
    return f'{STYLE}<div class="ts-chips">{body}</div>'


SPECIAL_MEANINGS = {
    "[CLS]": "starts every BERT input; its vector is trained to stand for the whole text",
    "[SEP]": "ends a segment (a sentence)",
    "[PAD]": "fills short inputs up to a common length",
    "[MASK]": "hides a word the model must guess in training",
    "<|im_start|>": "opens a chat message",
    "<|im_end|>": "closes a chat message",
    "<s>": "marks the start of a sequence",
    "</s>": "marks its end",
}
MAX_LISTED = 30  # unknown pieces named in the legend; the table lists them all


def legend_html(chips: list[TokenChip], vocab_size: int) -> str:
    """Why some chips look different: the special and unknown tokens present, explained ("" if none)."""
    parts = []
    for name in dict.fromkeys(c.vocab_string for c in chips if c.kind == "special"):
        meaning = SPECIAL_MEANINGS.get(name, "a marker the model was trained with, not a piece of text")
        parts.append(f'<span class="ts-chip ts-special">{html.escape(name)}</span> special token (特殊词元): '
                     f"{html.escape(meaning)}.")
    unknown = [c for c in chips if c.kind == "unknown"]
    if unknown:
        pieces = list(dict.fromkeys(c.source for c in unknown))
        listed = " ".join(html.escape(p) for p in pieces[:MAX_LISTED]) + (" …" if len(pieces) > MAX_LISTED else "")
        parts.append(f'<span class="ts-chip ts-unknown">{html.escape(unknown[0].vocab_string)}</span> '
                     f"× {len(unknown)}, unknown token (未知词元): the {vocab_size:,} pieces of the vocabulary "
                     f"cannot spell {listed}, so each becomes the same id {unknown[0].token_id} and the model "
                     "cannot tell them apart. A byte-level vocabulary needs none: it spells any text from "
                     "tokens for single bytes.")
    return STYLE + "".join(f'<p class="ts-legend">{p}</p>' for p in parts) if parts else ""


def chip_rows(chips: list[TokenChip]) -> list[dict[str, object]]:
    """One row per token, for a table (Streamlit shows table cells as plain text)."""
    return [
        {
            "#": c.index,
            "id": c.token_id,
            "vocabulary entry": c.vocab_string,
            "reads as": c.label,
            "bytes (hex)": c.hex_bytes,
            "characters": "added" if c.added else f"{c.span[0]}–{c.span[1]}",
            "text": c.source,
            "kind": c.kind,
        }
        for c in chips
    ]
