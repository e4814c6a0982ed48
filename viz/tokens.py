"""How a token is shown, on every page and in every figure: one pure module, no Streamlit.

- `visible`: whitespace and control characters as marks (␣ ↵ ⇥, <XX>);
- `piece_labels`: readable labels for a token sequence, where a token that holds only
  part of a character (byte-level BPE cuts a Chinese character's three bytes) names the
  character it helps to form and which of its bytes it holds: 冷(1/3), 冷(2-3/3);
- `token_label`: one token's bytes on their own: its text, or its bytes in hex;
- `label_of` / `candidate_label` / `candidate_note`: a candidate next token, where one that holds only the
  start of a character (byte-level BPE's <E7>) says which characters it can begin: 灌/火…(1/3);
- `text_of`: the text a run of tokens spells, a character split over tokens shown whole;
- `axis_labels`: unique labels for a figure axis (Plotly merges equal categories), and `position_note`;
- chips: tokens as coloured HTML spans for the Tokenization and Next-token pages.

Every piece of token or user text passes through `html.escape` here, so a text
such as `<img src=x onerror=alert(1)>` is drawn as text, never as markup.
"""

from __future__ import annotations

import functools
import html
import random
import re
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
    """One token id on its own under a core `TextTokenizer` (a candidate next token): `candidate_label`."""
    return candidate_label(tokenizer, token_id)


def text_of(tokenizer, token_ids: Sequence[int]) -> str:
    """The text a run of tokens spells, with whitespace marks: a character whose bytes are split over
    consecutive tokens reads as itself (…的山是, never 山(1-2/3)山(3/3)); special tokens by name."""
    parts, run = [], b""
    for token_id in (int(i) for i in token_ids):
        if token_id in tokenizer.special_ids and not tokenizer.is_unknown(token_id):
            parts += [visible(run.decode("utf-8", errors="surrogateescape")), tokenizer.id_to_token(token_id)]
            run = b""
        else:
            run += tokenizer.token_bytes(token_id)
    return "".join(parts) + visible(run.decode("utf-8", errors="surrogateescape"))


def last_text(tokenizer, token_ids: Sequence[int], count: int = 4) -> str:
    """`text_of` the last `count` tokens, begun where a character begins (a token that continues one
    brings the tokens that start it)."""
    ids = [int(i) for i in token_ids]
    start = max(len(ids) - count, 0)
    while start > 0 and _continues(tokenizer, ids[start]):
        start -= 1
    return text_of(tokenizer, ids[start:])


def _continues(tokenizer, token_id: int) -> bool:
    if token_id in tokenizer.special_ids:
        return False
    data = tokenizer.token_bytes(token_id)
    return bool(data) and 0x80 <= data[0] <= 0xBF


# ---------------------------------------------------------------- a candidate that holds part of a character

# The lead bytes of UTF-8 and the size of the character each begins; a second byte's range where it is narrower
# than 80–BF (no overlong forms, no surrogates, nothing past U+10FFFF).
LEADS = ((0xC2, 0xDF, 2), (0xE0, 0xEF, 3), (0xF0, 0xF4, 4))
SECOND_BYTE = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}
MAX_TRIED = 4_096  # characters a partial sequence may begin that are tried on the tokenizer (two bytes missing)
EXAMPLES_IN_LABEL, EXAMPLES_IN_NOTE = 2, 8
SIZE_WORDS = {2: N_("a two-byte character"), 3: N_("a three-byte character"), 4: N_("a four-byte character")}


def _size(lead: int) -> int:
    return next((size for low, high, size in LEADS if low <= lead <= high), 0)


def _open_prefix(data: bytes) -> bytes:
    """The bytes at the end of `data` that begin a character without finishing it (b"" if it ends whole)."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return b""
        if byte >= 0xC0:
            prefix = data[-back:]
            return prefix if _can_begin(prefix) else b""
    return b""


def _can_begin(prefix: bytes) -> bool:
    """Whether some character's UTF-8 begins with `prefix` and is longer than it."""
    size = _size(prefix[0]) if prefix else 0
    if not size or len(prefix) >= size:
        return False
    low, high = SECOND_BYTE.get(prefix[0], (0x80, 0xBF))
    return (len(prefix) < 2 or low <= prefix[1] <= high) and all(0x80 <= b <= 0xBF for b in prefix[2:])


def _code_points(prefix: bytes) -> tuple[int, int]:
    """The first and last code point whose UTF-8 begins with `prefix` (a valid open prefix)."""
    missing = _size(prefix[0]) - len(prefix)
    low, high = SECOND_BYTE.get(prefix[0], (0x80, 0xBF))
    ends = []
    for second, other in ((low, 0x80), (high, 0xBF)):
        filler = ([second] if len(prefix) == 1 else []) + [other] * (missing - (len(prefix) == 1))
        ends.append(ord((prefix + bytes(filler)).decode("utf-8")))
    return ends[0], ends[1]


def _commonness(char: str) -> tuple[int, int]:
    """Sort key: GB2312's 3,755 common characters (level 1) first, then the rest of GB2312, then the others."""
    try:
        code = char.encode("gb2312")
    except UnicodeEncodeError:
        return 3, ord(char)
    return (1 if 0xB0 <= code[0] <= 0xD7 else 2), ord(char)


@functools.lru_cache(maxsize=64)
def _characters_beginning(prefix: bytes) -> tuple[str, ...]:
    """The assigned characters whose UTF-8 begins with `prefix`, most common first; () when there are more than
    MAX_TRIED code points (a lone four-byte lead: the range alone is said)."""
    first, last = _code_points(prefix)
    if last - first + 1 > MAX_TRIED:
        return ()
    chars = [chr(c) for c in range(first, last + 1) if unicodedata.category(chr(c)) not in ("Cn", "Co", "Cs")]
    return tuple(sorted(chars, key=_commonness))


@functools.lru_cache(maxsize=1_024)
def _written_with(tokenizer, token_id: int) -> tuple[str, ...]:
    """The characters the tokenizer writes starting with this token (whose bytes end in an open prefix), each
    written on its own after the token's whole characters; most common first."""
    data = tokenizer.token_bytes(token_id)
    prefix = _open_prefix(data)
    chars = _characters_beginning(prefix)
    try:
        head = data[: len(data) - len(prefix)].decode("utf-8")
    except UnicodeDecodeError:  # the token starts inside a character: what it writes depends on its left
        return chars
    skip = 1 if tokenizer.add_bos else 0
    encoded = tokenizer.encode_batch([head + char for char in chars])
    return tuple(char for char, ids in zip(chars, encoded) if len(ids) > skip and ids[skip] == token_id)


@dataclass(frozen=True)
class OpenCharacter:
    """The part of a character a candidate token leaves open: its bytes so far, how many the token holds."""

    prefix: bytes  # the character's bytes so far (the context's open bytes and the token's own)
    held: int  # how many of them the token holds
    examples: tuple[str, ...]  # characters it can become, most common first

    @property
    def size(self) -> int:
        return _size(self.prefix[0])

    @property
    def first_held(self) -> int:
        return len(self.prefix) - self.held + 1


def _split(tokenizer, token_id: int, context: bytes) -> tuple[str, OpenCharacter | None]:
    """A candidate's bytes read after `context` (the text's open bytes, if it ends inside a character): the
    label of what it closes, and the character it leaves open (None if it ends whole)."""
    data = tokenizer.token_bytes(token_id)
    if not data:
        return EMPTY, None
    context = _open_prefix(context)
    prefix = _open_prefix(context + data)
    held = min(len(prefix), len(data))
    closed = data[: len(data) - held]
    label = piece_labels([context, closed])[1] if closed else ""
    if not prefix:
        return label, None
    examples = _written_with(tokenizer, token_id) if held == len(prefix) else _characters_beginning(prefix)
    return label, OpenCharacter(prefix, held, examples)


def _is_marker(tokenizer, token_id: int) -> bool:
    return token_id in tokenizer.special_ids and not tokenizer.is_unknown(token_id)


def candidate_label(tokenizer, token_id: int, context: bytes = b"") -> str:
    """A candidate next token, for an axis or a table. A token that leaves a character open names the characters
    it can begin and the bytes it holds, in the notation of `piece_labels`: 灌/火…(1/3) is the first of three
    bytes of 灌, 火 or another; ?(1/4) where the characters are too many to try. `context`: the text's bytes
    (its open end completes a continuation: 的(2-3/3))."""
    token_id = int(token_id)
    if _is_marker(tokenizer, token_id):
        return tokenizer.id_to_token(token_id)
    if not tokenizer.byte_level:
        return token_label(tokenizer.token_bytes(token_id))
    label, open_char = _split(tokenizer, token_id, context)
    if open_char is None:
        return label
    shown = "/".join(visible(c) for c in open_char.examples[:EXAMPLES_IN_LABEL]) or "?"
    more = "…" if len(open_char.examples) > EXAMPLES_IN_LABEL else ""
    first, last = open_char.first_held, len(open_char.prefix)
    held = f"{first}/{open_char.size}" if first == last else f"{first}-{last}/{open_char.size}"
    return f"{label}{shown}{more}({held})"


def candidate_note(tokenizer, token_id: int, context: bytes = b"", _: Translate = identity) -> str:
    """What a candidate that leaves a character open is, in two lines ("" for any other token): which bytes of
    which size of character it holds, and which characters it can begin, from the tokenizer's vocabulary."""
    token_id = int(token_id)
    if _is_marker(tokenizer, token_id) or not tokenizer.byte_level:
        return ""
    _label, open_char = _split(tokenizer, token_id, context)
    if open_char is None:
        return _stray_note(tokenizer.token_bytes(token_id), _open_prefix(context), _)
    first, last = _code_points(open_char.prefix)
    held = " ".join(f"{b:02X}" for b in open_char.prefix[-open_char.held:])
    part = (_("byte {first} of {size}").format(first=open_char.first_held, size=_(SIZE_WORDS[open_char.size]))
            if open_char.held == 1 else
            _("bytes {first}–{last} of {size}").format(first=open_char.first_held, last=len(open_char.prefix),
                                                       size=_(SIZE_WORDS[open_char.size])))
    lines = [_("Not a whole character: {part} (hex {bytes}).").format(part=part, bytes=held)]
    span = f"U+{first:04X}–U+{last:04X}"
    examples = " ".join(visible(c) for c in open_char.examples[:EXAMPLES_IN_NOTE])
    if not open_char.examples:
        lines.append(_("It can begin {count:,} code points, {span}.").format(count=last - first + 1, span=span))
    elif open_char.held == len(open_char.prefix):
        lines.append(_("The tokenizer writes {count:,} characters ({span}) starting with this token, e.g. "
                       "{examples}.").format(count=len(open_char.examples), span=span, examples=examples))
    else:
        lines.append(_("With the text before it, it can become {count:,} characters ({span}), e.g. "
                       "{examples}.").format(count=len(open_char.examples), span=span, examples=examples))
    return "\n".join(lines)


def _stray_note(data: bytes, context: bytes, _: Translate) -> str:
    """For bytes that neither finish a character nor begin one: what they are ("" for whole characters)."""
    try:
        (context + data).decode("utf-8")
    except UnicodeDecodeError:
        return _("Bytes that are not text here: they continue no character begun before them, or never occur in "
                 "UTF-8 (hex {bytes}).").format(bytes=data.hex(" ").upper())
    return ""


def open_bytes(tokenizer, token_ids: Sequence[int]) -> bytes:
    """The bytes at the end of a token sequence that begin a character it does not finish (b"" if none)."""
    tail = b""
    for token_id in (int(i) for i in list(token_ids)[-3:]):
        tail = b"" if _is_marker(tokenizer, token_id) else tail + tokenizer.token_bytes(token_id)
    return _open_prefix(tail)


POSITION_MARK = re.compile(r"·\d+$")


def axis_labels(labels: Sequence[str]) -> list[str]:
    """Unique labels for a figure axis: a label two tokens share gets each one's position ("the·5"), since Plotly
    merges equal category labels into one row; every other label stays as it reads. Surrounding whitespace is
    dropped unless that is all there is. `position_note` says what the ·5 means, for the axis title."""
    shown = [label.strip("␣") or label for label in (str(label) for label in labels)]
    counts = Counter(shown)
    return [f"{label}·{i}" if counts[label] > 1 else label for i, label in enumerate(shown)]


def position_note(labels: Sequence[str], _: Translate = identity) -> str:
    """For an axis title: what "明·3" means, where some of the axis's labels carry a position ("" if none)."""
    if not any(POSITION_MARK.search(str(label)) for label in labels):
        return ""
    return _("·n: the token's position, where two tokens read the same")


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
