"""viz/tokens.py: chips built from real tokenizers, and HTML that stays inert whatever the text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from core.runtime.registry import MODELS
from core.text.tokenizers import TextTokenizer, bytes_tokenizer, wordpiece_from_file
from tests.support.models import loaded
from viz import i18n
from viz.figures.text import token_axis_title
from viz.tokens import (
    MAX_CHIPS,
    axis_labels,
    character_groups,
    chip_rows,
    chips_for,
    chips_html,
    labels_for,
    legend_html,
    piece_labels,
    position_note,
    shuffled,
    token_label,
    visible,
)

HOSTILE = ['<img/src=x/onerror=alert(1)>', '"onmouseover="alert(1)', "<script>alert('x')</script>", "a&amp;b"]
ALLOWED_TAGS = {"style", "div", "span", "br", "p"}


class ParsedHtml(HTMLParser):
    """Every tag, attribute and text node of an HTML string, as a browser's tokenizer sees them."""

    def __init__(self, markup: str):
        super().__init__()
        self.tags, self.attrs, self.chips, self.text = [], [], [], []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(name for name, _ in attrs)
        attrs = dict(attrs)
        if "ts-chip" in attrs.get("class", "").split():
            self.chips.append(attrs)

    def handle_data(self, data):
        if self.tags[-1:] != ["style"]:
            self.text.append(data)


@pytest.fixture(scope="module")
def hostile_tokenizer() -> TextTokenizer:
    """A word-level vocabulary whose entries are attacks, with [CLS]/[SEP] added like BERT's."""
    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, **{word: i + 3 for i, word in enumerate(HOSTILE)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    tok.add_special_tokens(["[UNK]", "[CLS]", "[SEP]"])
    return TextTokenizer(tok, "wordpiece", byte_level=False)


@pytest.fixture(scope="module")
def wordpiece() -> TextTokenizer:
    return wordpiece_from_file(MODELS["minilm-l6"].path() / "tokenizer.json")


def test_hostile_tokens_render_as_text_in_chips_and_titles(hostile_tokenizer):
    text = " ".join(HOSTILE)
    chips = chips_for(hostile_tokenizer, text)
    parsed = ParsedHtml(chips_html(chips))

    assert set(parsed.tags) <= ALLOWED_TAGS
    assert set(parsed.attrs) <= {"class", "title"}
    titles = [chip["title"] for chip in parsed.chips]
    shown = "".join(parsed.text)
    for word in HOSTILE:
        # The browser's view of the escaped markup is the token itself, quotes and all.
        assert any(f"vocabulary entry: {word}\n" in title for title in titles)
        assert visible(word) in shown


def test_hostile_unknown_text_is_escaped_in_the_legend(hostile_tokenizer):
    chips = chips_for(hostile_tokenizer, "<b>bold</b> \"x'")
    assert [c.kind for c in chips] == ["special", "unknown", "unknown", "special"]
    parsed = ParsedHtml(legend_html(chips, hostile_tokenizer.vocab_size))
    assert set(parsed.tags) <= ALLOWED_TAGS
    legend_text = "".join(parsed.text)
    assert "<b>bold</b>" in legend_text and "\"x'" in legend_text


def test_special_and_unknown_chips_get_their_own_style(wordpiece):
    text = "AI+编程 扬帆起航"
    chips = chips_for(wordpiece, text)
    encoded = wordpiece.encode(text)
    classes = [chip["class"].split()[1] for chip in ParsedHtml(chips_html(chips)).chips]

    for chip, token_id, style in zip(chips, encoded.ids, classes, strict=True):
        if wordpiece.is_unknown(token_id):
            assert (chip.kind, style) == ("unknown", "ts-unknown")
        elif token_id in wordpiece.special_ids:
            assert (chip.kind, style) == ("special", "ts-special") and chip.added
        else:
            assert chip.kind == "text" and style == f"ts-c{chip.index % 5}"
    assert ("[UNK]" in legend_html(chips, wordpiece.vocab_size)) == any(c.kind == "unknown" for c in chips)


def test_text_chips_carry_their_spans_and_ids(wordpiece):
    text = "Tokenization isn't magic."
    chips = chips_for(wordpiece, text)
    encoded = wordpiece.encode(text)
    assert [c.token_id for c in chips] == encoded.ids
    for chip, (start, end) in zip(chips, encoded.offsets):
        assert chip.span == (start, end) and chip.source == text[start:end]
        if not chip.added:
            # WordPiece lowercases: the piece is the source text, case aside, minus the "##" of a continuation.
            assert chip.vocab_string.removeprefix("##") == chip.source.lower()
    rows = chip_rows(chips)
    assert [row["id"] for row in rows] == encoded.ids
    assert rows[0]["characters"] == "added" and rows[1]["characters"] == f"{chips[1].span[0]}–{chips[1].span[1]}"


def test_byte_level_chips_show_whitespace_marks_and_lone_bytes_in_hex():
    tokenizer = bytes_tokenizer()
    text = " a\n\tb\x07编"
    chips = [c for c in chips_for(tokenizer, text) if not c.added]
    assert b"".join(c.data for c in chips) == text.encode("utf-8")
    labels = [c.label for c in chips]
    assert labels == ["␣", "a", "↵", "⇥", "b", "<07>", "编(1/3)", "编(2/3)", "编(3/3)"]
    assert [c.hex_bytes for c in chips[-3:]] == [f"{b:02X}" for b in "编".encode()]


def test_a_newline_token_ends_the_chip_line():
    chips = chips_for(bytes_tokenizer(), "a\nb")
    markup = chips_html(chips)
    assert markup.count("<br>") == 1
    assert markup.index("<br>") > markup.index("↵")


def test_only_the_first_chips_are_drawn_with_a_note():
    text = "ab" * MAX_CHIPS
    chips = chips_for(bytes_tokenizer(), text)
    parsed = ParsedHtml(chips_html(chips))
    drawn = [c for c in parsed.chips if "ts-more" not in c["class"]]
    assert len(drawn) == MAX_CHIPS
    assert f"{len(chips) - MAX_CHIPS:,} more tokens not drawn" in "".join(parsed.text)


def test_ids_under_chips_can_be_hidden(wordpiece):
    chips = chips_for(wordpiece, "hello")
    assert chips_html(chips).count('class="ts-id"') == len(chips)
    assert "ts-id\"" not in chips_html(chips, show_ids=False)


def test_shuffle_keeps_the_multiset_the_characters_and_the_input():
    text = "AI+编程 扬帆起航"
    chips = [c for c in chips_for(bytes_tokenizer(), text) if not c.added]
    before = list(chips)
    mixed = shuffled(chips, seed=3)
    assert chips == before
    assert mixed != chips
    assert sorted(c.token_id for c in mixed) == sorted(c.token_id for c in chips)
    # Moved in character groups, the bytes still decode, to the same characters in another order.
    assert sorted(b"".join(c.data for c in mixed).decode("utf-8")) == sorted(text)
    assert shuffled(chips, seed=3) == mixed


def test_character_groups_join_the_byte_pieces_of_a_character():
    text = "a编 b"
    chips = [c for c in chips_for(bytes_tokenizer(), text) if not c.added]
    groups = character_groups(chips)
    assert [b"".join(c.data for c in g).decode("utf-8") for g in groups] == list(text)


def test_legend_is_empty_without_special_or_unknown_tokens():
    chips = [c for c in chips_for(bytes_tokenizer(), "plain") if not c.added]
    assert legend_html(chips, 259) == ""


def test_characters_without_a_token_are_reported_as_dropped(wordpiece):
    from core.loaders.gguf_llama import GGUFModel
    from core.text.tokenizers import byte_bpe_from_gguf
    from viz.tokens import dropped_characters

    g = GGUFModel(MODELS["smollm2-135m"].path())
    smollm = byte_bpe_from_gguf(g.field("tokenizer.ggml.tokens"), g.field("tokenizer.ggml.merges"),
                                g.field("tokenizer.ggml.token_type"))
    text = "a\x04b\x06c"
    missing = {char for char in text if not smollm.encode(char).ids}
    assert missing  # the vocabulary really lacks these bytes; if a future file adds them, this test says so
    assert dropped_characters(text, chips_for(smollm, text)) == sorted(missing)
    assert dropped_characters("plain text", chips_for(smollm, "plain text")) == []
    assert dropped_characters("Hello, world", chips_for(wordpiece, "Hello, world")) == []
    assert dropped_characters("a\x04b", chips_for(bytes_tokenizer(), "a\x04b")) == []


def test_a_piece_of_a_character_names_the_character_and_its_bytes():
    today = "今天".encode()  # two characters of three bytes each
    assert piece_labels([today[:2], today[2:4], today[4:]]) == ["今(1-2/3)", "今(3/3)天(1/3)", "天(2-3/3)"]
    assert piece_labels([b"\xff", b"a"]) == ["<FF>", "a"]  # a byte that belongs to no character
    assert piece_labels([b"[CLS]", b" hi"], special=[True, False]) == ["[CLS]", "␣hi"]
    assert token_label(today[:2]) == "<E4><BB>" and token_label(b" x") == "␣x"


@pytest.mark.parametrize("text", ["今天太冷了,能穿多少穿多少", "🤗👩‍👩‍👧 emoji", "AI+编程 扬帆起航", "naïve café\n\tend"])
def test_byte_level_labels_never_show_a_replacement_character(text):
    smollm = loaded("smollm2-135m").tokenizer
    ids = smollm.encode(text).ids
    labels = labels_for(smollm, ids)
    assert len(labels) == len(ids) and all(label and "\ufffd" not in label for label in labels)
    # Every character of the text appears in some label, so a reader can find it.
    assert all(char in "".join(labels) for char in text if not char.isspace())


def test_axis_labels_are_unique_and_keep_whitespace_visible():
    labels = axis_labels(["the", "␣cat", "the", "␣", "↵", "␣"])
    assert len(set(labels)) == len(labels)
    assert labels[1] == "cat" and labels[0].startswith("the") and "↵" in labels[4]


def test_only_labels_that_would_collide_carry_a_position_and_the_axis_title_says_what_it_means():
    """床前明月光，疑是地上霜。举头望明月: 明 and ， repeat and are numbered; nothing else is."""
    raw = ["<bos>", "床", "前", "明", "月", "光", "，", "疑", "是", "地上", "霜", "。", "举头", "望", "明", "月", "，"]
    labels = axis_labels(raw)
    numbered = [label for label in labels if "·" in label]
    assert numbered == ["明·3", "月·4", "，·6", "明·14", "月·15", "，·16"]
    assert [label for label, before in zip(labels, raw) if "·" not in label] == [r for r in raw if raw.count(r) == 1]
    assert position_note(labels) == "·n: the token's position, where two tokens read the same"
    assert position_note(axis_labels(["a", "b", "␣a·"])) == "" and position_note(["列夫·托尔斯泰"]) == ""
    assert "词元的位置" in position_note(labels, i18n.translator("zh"))
    assert token_axis_title("key (looked at)", labels).startswith("key (looked at)<br>")
    assert token_axis_title("key (looked at)", raw[:3]) == "key (looked at)" and token_axis_title("", raw[:3]) is None


def test_loss_text_tints_each_token_by_its_surprise_and_escapes_it():
    from viz.tokens import LOSS_CEILING_NATS, loss_text_html

    markup = loss_text_html(["<b>", " cat", "x"], [0.9, 0.01, 1e-6], [0.105, 4.6, 13.8])
    parsed = ParsedHtml(markup)
    assert "b" not in parsed.tags and "&lt;b&gt;" in markup
    alphas = [float(a) for a in __import__("re").findall(r"rgba\(214,39,40,([0-9.]+)\)", markup)]
    assert alphas == sorted(alphas) and alphas[-1] == 1.0  # beyond the ceiling: full tint
    assert alphas[1] == pytest.approx(4.6 / LOSS_CEILING_NATS, abs=0.01)
    assert "0.0100" in markup and "4.60" in markup  # the numbers are on hover
