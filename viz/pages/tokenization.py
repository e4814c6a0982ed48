"""Tokenization: the text as the tokens two real tokenizers cut it into, side by side."""

import streamlit as st

from viz import presets, state
from viz.loading import model_or_error
from viz.token_chips import (
    MAX_CHIPS,
    TokenChip,
    chip_rows,
    chips_for,
    chips_html,
    dropped_characters,
    legend_html,
    shuffled,
)

TOKENIZERS = {  # model -> column heading
    "minilm-l6": "WordPiece · MiniLM (BERT)",
    "smollm2-135m": "Byte-level BPE · SmolLM2",
}

INTRO = """
A model never reads letters. A **tokenizer** (分词器) cuts the text into **tokens** (词元) and replaces each
one by its number in a fixed **vocabulary** (词表): the **token id** is all the model receives.

- **Why subwords (子词)?** A vocabulary of whole words would be huge and still miss new words; single
  characters would make every text very long. So frequent words stay whole and rare ones are built from
  pieces: try *tokenization* or *unbelievably*.
- **WordPiece** (BERT, MiniLM) lowercases, splits at spaces and punctuation, writes a piece that continues a
  word as `##piece`, adds `[CLS]` and `[SEP]`, and turns what it cannot spell into `[UNK]`.
- **Byte-level BPE** (GPT-2, SmolLM2) works on the UTF-8 bytes of the text, so it can spell anything. A space
  belongs to the token after it (stored as `Ġ`, shown here as ␣), and a Chinese character, three bytes,
  may be cut between tokens: a lone byte is shown in hex, like `<E7>`.

Hover over a chip for its id, bytes and characters, or pick a token under the chips. ↵ is a newline, ⇥ a tab.
"""

NO_SPECIALS = ("No special tokens here: SmolLM2 adds none to plain text. A chat wraps each message in "
               "`<|im_start|>` … `<|im_end|>`; type them into the text to see each become one token.")

BAG = """
Attention compares every token with every other one, and nothing in that comparison says which came first.
Without **positional information** (位置信息), a shuffled text gives the model the same multiset of token ids,
so the same bag of vectors: seed 002's “AI+编程 扬帆起航” could as well be “编AI+程,航帆扬起”.
Below, the tokens of the text in a random order (the byte pieces of a character kept together), and what
they decode to in that order.
"""


def show_counts(text: str, chips: list[TokenChip]) -> None:
    characters, tokens, per_char = st.columns(3)
    characters.metric("Characters", len(text), help=f"{len(text.encode('utf-8'))} bytes in UTF-8")
    tokens.metric("Tokens", len(chips), help="Including the special tokens the tokenizer adds")
    per_char.metric("Tokens / character", f"{len(chips) / len(text):.2f}")


@st.fragment
def token_inspector(chips: list[TokenChip], model: str) -> None:
    """Picking a token reruns only this fragment: the text is not tokenized again."""
    index = st.selectbox("Inspect a token", range(len(chips)), key=f"inspect-{model}",
                         format_func=lambda i: f"#{i}  {chips[i].label}")
    row = chip_rows([chips[index]])[0]
    st.dataframe({"": list(row), "value": [str(v) for v in row.values()]}, hide_index=True)


def show_tokenizer(model: str, text: str) -> tuple[object, list[TokenChip]] | None:
    """One column: counts, chips, legend and inspector. Returns the tokenizer and chips, or None."""
    st.subheader(TOKENIZERS[model])
    lm = model_or_error(model)
    if lm is None:
        return None
    tokenizer = lm.tokenizer
    chips = chips_for(tokenizer, text)
    show_counts(text, chips)
    st.html(chips_html(chips))
    if len(chips) > MAX_CHIPS:
        st.caption(f"The first {MAX_CHIPS:,} of {len(chips):,} tokens are drawn; the table lists them all.")
    dropped = dropped_characters(text, chips)
    if dropped:
        codes = ", ".join(f"U+{ord(char):04X}" for char in dropped)
        st.warning(f"This vocabulary has no token for {codes}: the tokenizer drops these characters "
                   "without a trace, so the model never sees them.")
    legend = legend_html(chips, tokenizer.vocab_size)
    if legend:
        st.html(legend)
    if not any(chip.kind == "special" for chip in chips) and tokenizer.byte_level:
        st.caption(NO_SPECIALS)
    token_inspector(chips, model)
    with st.expander("All tokens as a table"):
        st.dataframe(chip_rows(chips), hide_index=True)
    return tokenizer, chips


def show_bag(tokenizer, chips: list[TokenChip]) -> None:
    st.subheader("Without positions, a bag of tokens · 没有位置, 只是一袋词元")
    st.markdown(BAG)
    in_text = [chip for chip in chips if not chip.added]
    mixed = shuffled(in_text)
    st.html(chips_html(mixed))
    st.code(tokenizer.decode([chip.token_id for chip in mixed]), language=None, wrap_lines=True)
    same = sorted(c.token_id for c in in_text) == sorted(c.token_id for c in mixed)
    st.markdown(f"Sorted, the two lists of {len(in_text)} ids are {'equal' if same else 'different'}: "
                "a model without positions could not tell the texts apart. The Positional-encoding page "
                "shows how models put the order back.")


st.title("Tokenization · 分词")
st.markdown(INTRO)
preset = presets.preset_buttons("tokenization")
if preset is not None and preset.note:
    st.info(preset.note)

text = state.text()
if not text:
    st.info("Type a text in the sidebar (then Ctrl+Enter) to see its tokens.")
    st.stop()

results = {}
for column, model in zip(st.columns(len(TOKENIZERS)), TOKENIZERS):
    with column:
        results[model] = show_tokenizer(model, text)

# Byte-level BPE shows the bag best (it keeps every character); WordPiece if that is all there is.
shown = results["smollm2-135m"] or results["minilm-l6"]
if shown is not None:
    show_bag(*shown)
