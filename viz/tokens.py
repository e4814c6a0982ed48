"""How a token is shown, on every page and in every figure: one pure module, no Streamlit.

- `visible`: whitespace and control characters as marks (␣ ↵ ⇥, <XX>);
- `piece_labels`: readable labels for a token sequence, where a token that holds only
  part of a character (byte-level BPE cuts a Chinese character's three bytes) names the
  character it helps to form and which of its bytes it holds: 冷(1/3), 冷(2-3/3);
- `token_label`: one token on its own (a candidate next token): its text, or its bytes in hex;
- `axis_labels`: unique labels for a figure axis (Plotly merges equal categories);
- chips: tokens as coloured HTML spans for the Tokenization and Next-token pages.

Every piece of token or user text passes through `html.escape` here, so a text
such as `<img src=x onerror=alert(1)>` is drawn as text, never as markup.
"""

from __future__ import annotations

import html
import random
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import N_

from .i18n import Translate, identity

MAX_CHIPS = 1_000  # a browser draws a few thousand spans slowly; a page studies the first ones
PALETTE_SIZE = 5  # neighbouring chips differ in colour so token boundaries stand out

# Whitespace is invisible in a chip, yet it is often part of a token ("Ġis" is " is").
WHITESPACE_MARKS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
EMPTY = "∅"

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
    label: str  # what the chip shows (see piece_labels)

    @property
    def added(self) -> bool:
        return self.kind == "special" and self.span[0] == self.span[1]

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


def _characters(data: bytes) -> list[tuple[str, int, int]]:
    """(character, first byte, end byte) for each character of `data`; a byte that is not part of valid
    UTF-8 comes back as one lone surrogate (U+DC00 + byte) of one byte."""
    out, position = [], 0
    for char in data.decode("utf-8", errors="surrogateescape"):
        size = 1 if "\udc80" <= char <= "\udcff" else len(char.encode("utf-8"))
        out.append((char, position, position + size))
        position += size
    return out


def piece_labels(pieces: Sequence[bytes], special: Sequence[bool] | None = None) -> list[str]:
    """A readable label for each token of a sequence, from the bytes each one stands for.

    A token that holds part of a character is labelled with that character and the
    bytes it holds, counted from 1: "冷(1/3)" is the first of 冷's three bytes, "冷(2-3/3)"
    the other two. Bytes that form no character at all show as <XX>. Never U+FFFD.
    `special` marks tokens whose bytes are a marker's name ("[CLS]", "<|im_end|>"), shown as is.
    """
    special = [False] * len(pieces) if special is None else list(special)
    ends, total = [], 0
    for piece in pieces:
        total += len(piece)
        ends.append(total)
    characters = _characters(b"".join(pieces))
    labels, first = [], 0
    for piece, end, is_special in zip(pieces, ends, special):
        start = end - len(piece)
        if is_special:
            labels.append(piece.decode("utf-8", errors="replace"))
        else:
            labels.append("".join(_part(char, c_start, c_end, start, end)
                                  for char, c_start, c_end in _overlapping(characters, first, end))
                          or EMPTY)
        while first < len(characters) and characters[first][2] <= end:
            first += 1
    return labels


def _overlapping(characters: list[tuple[str, int, int]], first: int, end: int):
    """The characters from index `first` that begin before byte `end`: a token's own, in one short walk."""
    for index in range(first, len(characters)):
        if characters[index][1] >= end:
            return
        yield characters[index]


def _part(char: str, c_start: int, c_end: int, start: int, end: int) -> str:
    shown = visible(char)
    if start <= c_start and c_end <= end:
        return shown
    first, last, size = max(start, c_start) - c_start + 1, min(end, c_end) - c_start, c_end - c_start
    return f"{shown}({first}/{size})" if first == last else f"{shown}({first}-{last}/{size})"


def token_label(data: bytes, special: bool = False) -> str:
    """One token on its own (no neighbours to complete a character): its text, with bytes that form no
    whole character shown in hex, as <E4><BD>."""
    if special:
        return data.decode("utf-8", errors="replace")
    return visible(data.decode("utf-8", errors="surrogateescape")) or EMPTY


def labels_for(tokenizer, token_ids: Sequence[int]) -> list[str]:
    """`piece_labels` of a token sequence under a core `TextTokenizer`."""
    ids = [int(i) for i in token_ids]
    special = [i in tokenizer.special_ids and not tokenizer.is_unknown(i) for i in ids]
    pieces = [tokenizer.id_to_token(i).encode("utf-8") if s else tokenizer.token_bytes(i) for i, s in zip(ids, special)]
    return piece_labels(pieces, special)


def label_of(tokenizer, token_id: int) -> str:
    """`token_label` of one token id under a core `TextTokenizer`."""
    token_id = int(token_id)
    if token_id in tokenizer.special_ids and not tokenizer.is_unknown(token_id):
        return tokenizer.id_to_token(token_id)
    return token_label(tokenizer.token_bytes(token_id))


def axis_labels(labels: Sequence[str]) -> list[str]:
    """Unique labels for a figure axis: a repeated one gets its position ("the·5"), since Plotly merges
    equal category labels into one row. Surrounding whitespace is dropped unless that is all there is."""
    shown = [label.strip("␣") or label for label in (str(label) for label in labels)]
    counts = Counter(shown)
    return [f"{label}·{i}" if counts[label] > 1 else label for i, label in enumerate(shown)]


def chips_for(tokenizer, text: str) -> list[TokenChip]:
    """The chips of `text` under a core `TextTokenizer`."""
    encoded = tokenizer.encode(text)
    labels = labels_for(tokenizer, encoded.ids) if tokenizer.byte_level else [visible(t) for t in encoded.tokens]
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
                               text[start:end], kind, tokenizer.byte_level, labels[index]))
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


def chip_title(chip: TokenChip, _: Translate = identity) -> str:
    lines = [_("token #{index} · id {id}").format(index=chip.index, id=chip.token_id),
             _("vocabulary entry: {entry}").format(entry=chip.vocab_string),
             _("reads as: {label}").format(label=chip.label),
             _("bytes: {bytes}").format(bytes=chip.hex_bytes or _("(none)"))]
    if chip.added:
        lines.append(_("added by the tokenizer: not in the text"))
    else:
        lines.append(_("characters {start}–{end}: {text}").format(start=chip.span[0], end=chip.span[1],
                                                                   text=repr(chip.source)))
    if chip.kind == "unknown":
        lines.append(_("not in the vocabulary: the model sees {entry}, not {text}").format(
            entry=chip.vocab_string, text=repr(chip.source)))
    return "\n".join(lines)


def chip_html(chip: TokenChip, show_id: bool = True, _: Translate = identity) -> str:
    style = {"special": "ts-special", "unknown": "ts-unknown"}.get(chip.kind, f"ts-c{chip.index % PALETTE_SIZE}")
    token_id = f'<span class="ts-id">{chip.token_id}</span>' if show_id else ""
    chip_span = (f'<span class="ts-chip {style}" title="{html.escape(chip_title(chip, _), quote=True)}">'
                 f"{html.escape(chip.label)}{token_id}</span>")
    # A token that ends a line ends the chip line too, so the chips keep the text's shape.
    return chip_span + ("<br>" if chip.data.endswith(b"\n") and chip.kind == "text" else "")


def chips_html(chips: list[TokenChip], limit: int = MAX_CHIPS, show_ids: bool = True, _: Translate = identity) -> str:
    """All chips (up to `limit`) in one block, ready for `st.html`."""
    body = "".join(chip_html(chip, show_ids, _) for chip in chips[:limit])
    if len(chips) > limit:
        more = _("… {count:,} more tokens not drawn").format(count=len(chips) - limit)
        body += f'<span class="ts-chip ts-more">{html.escape(more)}</span>'
    return f'{STYLE}<div class="ts-chips">{body}</div>'


SPECIAL_MEANINGS = {
    "[CLS]": N_("starts every BERT input; its vector is trained to stand for the whole text"),
    "[SEP]": N_("ends a segment (a sentence)"),
    "[PAD]": N_("fills short inputs up to a common length"),
    "[MASK]": N_("hides a word the model must guess in training"),
    "<|im_start|>": N_("opens a chat message"),
    "<|im_end|>": N_("closes a chat message"),
    "<s>": N_("marks the start of a sequence"),
    "</s>": N_("marks its end"),
    "<bos>": N_("marks the start of a sequence"),
    "<eos>": N_("marks its end"),
}
MAX_LISTED = 30  # unknown pieces named in the legend; the table lists them all


def legend_html(chips: list[TokenChip], vocab_size: int, _: Translate = identity) -> str:
    """Why some chips look different: the special and unknown tokens present, explained ("" if none)."""
    parts = []
    for name in dict.fromkeys(c.vocab_string for c in chips if c.kind == "special"):
        meaning = _(SPECIAL_MEANINGS.get(name, N_("a marker the model was trained with, not a piece of text")))
        parts.append(f'<span class="ts-chip ts-special">{html.escape(name)}</span> '
                     + html.escape(_("special token: {meaning}.").format(meaning=meaning)))
    unknown = [c for c in chips if c.kind == "unknown"]
    if unknown:
        pieces = list(dict.fromkeys(c.source for c in unknown))
        listed = " ".join(pieces[:MAX_LISTED]) + (" …" if len(pieces) > MAX_LISTED else "")
        explained = _("× {count}, unknown token: the {vocab:,} pieces of the vocabulary cannot spell {pieces}, so "
                      "each becomes the same id {id} and the model cannot tell them apart. A byte-level vocabulary "
                      "needs none: it spells any text from tokens for single bytes.").format(
            count=len(unknown), vocab=vocab_size, pieces=listed, id=unknown[0].token_id)
        parts.append(f'<span class="ts-chip ts-unknown">{html.escape(unknown[0].vocab_string)}</span> '
                     + html.escape(explained))
    return STYLE + "".join(f'<p class="ts-legend">{p}</p>' for p in parts) if parts else ""


def chip_rows(chips: list[TokenChip], _: Translate = identity) -> list[dict[str, object]]:
    """One row per token, for a table (Streamlit shows table cells as plain text)."""
    kinds = {"text": _("text"), "special": _("special"), "unknown": _("unknown")}
    return [
        {
            "#": c.index,
            "id": c.token_id,
            _("vocabulary entry"): c.vocab_string,
            _("reads as"): c.label,
            _("bytes (hex)"): c.hex_bytes,
            _("characters"): _("added") if c.added else f"{c.span[0]}–{c.span[1]}",
            _("text"): c.source,
            _("kind"): kinds[c.kind],
        }
        for c in chips
    ]


LOSS_CEILING_NATS = 8.0  # a token at or beyond this surprise gets the full tint


def loss_text_html(labels: Sequence[str], probability: Sequence[float], loss: Sequence[float],
                   _: Translate = identity) -> str:
    """A long text as itself, each predicted token tinted by how surprised the model was (−ln p), the exact
    numbers on hover: readable where a bar chart of hundreds of tokens is not."""
    spans = []
    for label, p, nats in zip(labels, probability, loss):
        alpha = min(float(nats) / LOSS_CEILING_NATS, 1.0)
        title = _("p(actual next token) = {p:.4f} · −ln p = {loss:.2f}").format(p=float(p), loss=float(nats))
        spans.append(f'<span class="ts-loss" style="background:rgba(214,39,40,{alpha:.2f})" '
                     f'title="{html.escape(title, quote=True)}">{html.escape(label)}</span>')
    return (f'{STYLE}<style>.ts-loss {{ border-radius: 3px; padding: 1px 1px; margin: 0 1px; white-space: pre-wrap; '
            f'line-height: 1.9; }}</style><div class="ts-chips">{"".join(spans)}</div>')
