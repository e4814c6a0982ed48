"""The Tokenization page in AppTest: every kind of tokenizer installed, escaping, empty text, presets, the inspector."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import MODELS as REGISTRY
from viz.loading import get_model
from viz.presets import for_page
from viz.tokens import MAX_CHIPS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "viz/pages/tokenization.py"


def column_models() -> tuple[str, ...]:
    """The page's columns, left to right: one installed trained model per kind of tokenizer."""
    names, kinds = [], set()
    for name, spec in REGISTRY.items():
        if spec.trained and spec.available() and get_model(name).tokenizer.kind not in kinds:
            kinds.add(get_model(name).tokenizer.kind)
            names.append(name)
    return tuple(names)


MODELS = column_models()
WORDPIECE, BYTE_BPE = MODELS.index("minilm-l6"), MODELS.index("smollm2-135m")


class Chips(HTMLParser):
    """The chips of one `st.html` block: class, title and the text each shows."""

    def __init__(self, markup: str):
        super().__init__()
        self.chips, self.tags, self._depth = [], [], 0
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "title" in attrs:  # token chips; legend samples and the "more" note have none
            self.chips.append({"class": attrs["class"], "title": attrs["title"], "text": ""})
            self._depth = 1
        elif tag == "span" and self._depth:
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "span" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth == 1:  # the chip's own text, not the id under it
            self.chips[-1]["text"] += data

    def ids(self) -> list[int]:
        return [int(chip["title"].split(" · id ")[1].split("\n")[0]) for chip in self.chips]

    def data(self) -> bytes:
        hexes = [line.removeprefix("bytes: ") for c in self.chips for line in c["title"].split("\n")
                 if line.startswith("bytes: ")]
        return bytes.fromhex(" ".join(h for h in hexes if h != "(none)"))


def page(text: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["text"] = text
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def chip_blocks(at: AppTest) -> list[Chips]:
    """The chip blocks in page order: MiniLM, SmolLM2, then the shuffled bag."""
    return [Chips(h.value) for h in at.html if 'class="ts-chips"' in h.value]


def token_counts(at: AppTest) -> list[int]:
    return [int(m.value) for m in at.metric if m.label == "Tokens"]


def encoded(model: str, text: str):
    return get_model(model).tokenizer.encode(text)


def test_both_tokenizers_show_their_true_tokens():
    text = "The animal didn't cross the street because it was too tired"
    at = page(text)
    blocks = chip_blocks(at)
    assert token_counts(at) == [len(encoded(m, text).ids) for m in MODELS]
    for block, model in zip(blocks, MODELS):
        assert block.ids() == encoded(model, text).ids
    assert [m.value for m in at.metric if m.label == "Characters"] == [str(len(text))] * len(MODELS)
    # WordPiece adds [CLS] and [SEP]; SmolLM2 adds nothing and says so.
    wordpiece = blocks[WORDPIECE]
    assert "ts-special" in wordpiece.chips[0]["class"] and "ts-special" in wordpiece.chips[-1]["class"]
    assert not any("ts-special" in c["class"] for c in blocks[BYTE_BPE].chips)
    assert any("adds none to plain text" in c.value for c in at.caption)


def test_changing_the_text_changes_chips_and_counts():
    at = page("Hello world")
    before = [b.ids() for b in chip_blocks(at)[: len(MODELS)]]
    text = "Tokenizers split unbelievably long words"
    at.sidebar.text_area[0].set_value(text).run()
    assert not at.exception
    after = [b.ids() for b in chip_blocks(at)[: len(MODELS)]]
    assert after != before
    assert after == [encoded(m, text).ids for m in MODELS]
    assert token_counts(at) == [len(ids) for ids in after]


def test_hostile_html_is_shown_as_text():
    text = "<img src=x onerror=alert(1)> <script>alert(\"x\")</script>"
    at = page(text)
    chip_html = [h.value for h in at.html]
    assert chip_html
    for markup in chip_html:
        assert "<img" not in markup and "<script" not in markup
        assert set(Chips(markup).tags) <= {"style", "div", "span", "br", "p"}
    # SmolLM2's chips spell the text back byte for byte: the attack is there, as text.
    assert chip_blocks(at)[BYTE_BPE].data() == text.encode("utf-8")


def test_empty_text_asks_for_text():
    at = page("")
    assert any("Type a text" in info.value for info in at.info)
    assert chip_blocks(at) == [] and not at.error


def test_chinese_preset_flags_unknown_tokens_and_byte_pieces():
    at = page("Hello")
    preset = next(p for p in for_page("tokenization") if "扬帆" in p.text)
    next(b for b in at.button if b.label == preset.label).click().run()
    assert not at.exception
    assert any(preset.note in info.value for info in at.info)

    blocks = chip_blocks(at)
    minilm, smollm, bag = blocks[WORDPIECE], blocks[BYTE_BPE], blocks[-1]
    tokenizer = get_model("minilm-l6").tokenizer
    unknown = [i for i in tokenizer.encode(preset.text).ids if tokenizer.is_unknown(i)]
    assert sum("ts-unknown" in c["class"] for c in minilm.chips) == len(unknown)
    legend = [h.value for h in at.html if 'class="ts-legend"' in h.value and "[UNK]" in h.value]
    # one legend under each tokenizer that gave [UNK] (a word-level one does too, for words it never saw)
    assert len(legend) == sum(any("ts-unknown" in c["class"] for c in b.chips) for b in blocks[:-1])
    assert unknown and legend

    # Byte-level BPE needs no [UNK]: its chips cover the UTF-8 bytes exactly; a piece of a character
    # names the character and the bytes it holds, never U+FFFD.
    assert not any("ts-unknown" in c["class"] for c in smollm.chips)
    assert smollm.data() == preset.text.encode("utf-8")
    pieces = [c for c in smollm.chips if "/3)" in c["text"]]
    assert pieces and all(c["text"].strip("␣")[0] in preset.text for c in pieces)
    assert not any("\ufffd" in c["text"] for c in smollm.chips)

    # The bag: the same ids in another order, decoding to the same characters shuffled.
    assert bag.ids() != smollm.ids() and sorted(bag.ids()) == sorted(smollm.ids())
    assert sorted(at.code[0].value) == sorted(preset.text)
    assert any("are equal" in m.value for m in at.markdown)


def test_chat_markers_are_special_tokens_for_smollm():
    at = page("<|im_start|>user\nHi<|im_end|>")
    smollm = chip_blocks(at)[BYTE_BPE]
    special = [c["text"] for c in smollm.chips if "ts-special" in c["class"]]
    assert special == ["<|im_start|>", "<|im_end|>"]
    assert not any("adds none to plain text" in c.value for c in at.caption)


def test_inspector_shows_the_selected_token():
    text = "This is a input text."
    at = page(text)
    ids = encoded("minilm-l6", text).ids
    at.selectbox(key="inspect-minilm-l6").select(2).run()
    assert not at.exception
    details = at.dataframe[0].value
    values = dict(zip(details[""], details["value"]))
    assert values["#"] == "2" and values["id"] == str(ids[2])


def test_long_text_draws_only_the_first_chips():
    text = ("编程 " * 700)[:2000]
    at = page(text)
    smollm = chip_blocks(at)[BYTE_BPE]
    total = len(encoded("smollm2-135m", text).ids)
    assert total > MAX_CHIPS
    assert len(smollm.chips) == MAX_CHIPS
    assert token_counts(at)[BYTE_BPE] == total
    assert any(f"{total:,} tokens are drawn" in c.value for c in at.caption)


def test_the_page_reads_tokenizers_without_loading_any_weights(monkeypatch):
    """Gemma 3's weights take seconds and a gigabyte to load; its tokenizer alone is what this page shows."""
    import viz.loading

    def no_weights(name):
        raise AssertionError(f"the weights of {name} were loaded")

    text = "Tokens without weights"
    expected = [encoded(m, text).ids for m in MODELS]
    monkeypatch.setattr(viz.loading, "_installed_model", no_weights)
    at = page(text)
    assert [block.ids() for block in chip_blocks(at)[: len(MODELS)]] == expected


def test_a_missing_model_leaves_the_other_column_working(monkeypatch):
    import viz.loading
    from core import ModelUnavailableError

    read = viz.loading._tokenizer

    def only_minilm(name):
        if name != "minilm-l6":
            raise ModelUnavailableError(f"The model {name} needs its package.")
        return read(name)

    monkeypatch.setattr(viz.loading, "_tokenizer", only_minilm)
    text = "Only one tokenizer"
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["text"] = text
    at.session_state["model"] = "minilm-l6"
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"The model {name} needs its package." for name in MODELS if name != "minilm-l6"]
    minilm, bag = chip_blocks(at)
    assert minilm.ids() == encoded("minilm-l6", text).ids
    assert token_counts(at) == [len(minilm.ids())]
    # The bag falls back to WordPiece, without the [CLS]/[SEP] it adds.
    assert sorted(bag.ids()) == sorted(minilm.ids()[1:-1])


def test_characters_the_vocabulary_cannot_spell_are_pointed_out():
    at = page("tab\x04here")
    assert not at.exception
    warnings = [w.value for w in at.warning if "U+0004" in w.value]
    assert len(warnings) == 1 and "drops" in warnings[0]
    assert not [w for w in page("plain text").warning if "drops" in w.value]
