"""The Tokenization page's parts: one column per tokenizer (counts, chips, legend, inspector, table),
and the bag of tokens that shows what a model without positions would see."""

from __future__ import annotations

import streamlit as st

from core import spec_of
from viz import state
from viz.glossary import tokenizer_name
from viz.loading import tokenizer_or_error
from viz.state import _
from viz.tokens import (
    MAX_CHIPS,
    TokenChip,
    chip_rows,
    chips_for,
    chips_html,
    dropped_characters,
    legend_html,
    shuffled,
)

INSPECT = "inspect"


def show_counts(text: str, chips: list[TokenChip]) -> None:
    row = st.container(horizontal=True)  # metrics as wide as their labels: none is cut on a projector
    row.metric(_("Characters"), len(text), width="content",
               help=_("{count} bytes in UTF-8").format(count=len(text.encode("utf-8"))))
    row.metric(_("Tokens"), len(chips), help=_("Including the special tokens the tokenizer adds"), width="content")
    row.metric(_("Tokens / character"), f"{len(chips) / len(text):.2f}", width="content")


@st.fragment
def token_inspector(chips: list[TokenChip], model: str) -> None:
    """Picking a token reruns only this fragment: the text is not tokenized again. The choice belongs to
    the text: a new text starts at its last token."""
    key = f"{INSPECT}-{model}"
    if st.session_state.get(f"{key}-text") != state.text() or st.session_state.get(key, 0) >= len(chips):
        st.session_state[key] = len(chips) - 1
        st.session_state[f"{key}-text"] = state.text()
    index = st.selectbox(_("Inspect a token"), range(len(chips)), key=key, placeholder=_("Choose one"),
                         format_func=lambda i: f"#{i}  {chips[i].label}")
    row = chip_rows([chips[index]], _)[0]
    st.dataframe({"": list(row), _("value"): [str(v) for v in row.values()]}, hide_index=True)


def show_tokenizer(model: str, text: str) -> tuple[object, list[TokenChip]] | None:
    """One column: counts, chips, legend and inspector. Returns the tokenizer and chips, or None."""
    read = tokenizer_or_error(model)
    if read is None:
        return None
    tokenizer = read.tokenizer
    st.subheader(f"{tokenizer_name(tokenizer.kind, _)} · {_(spec_of(model).title)}")
    chips = chips_for(tokenizer, text)
    show_counts(text, chips)
    st.html(chips_html(chips, _=_))
    if len(chips) > MAX_CHIPS:
        st.caption(_("The first {shown:,} of {count:,} tokens are drawn; the table lists them all.").format(
            shown=MAX_CHIPS, count=len(chips)))
    dropped = dropped_characters(text, chips)
    if dropped:
        codes = ", ".join(f"U+{ord(char):04X}" for char in dropped)
        st.warning(_("This vocabulary has no token for {codes}: the tokenizer drops these characters without a "
                     "trace, so the model never sees them.").format(codes=codes))
    legend = legend_html(chips, tokenizer.vocab_size, _)
    if legend:
        st.html(legend)
    if not any(chip.kind == "special" for chip in chips) and read.chat_template:
        st.caption(_("No special tokens here: this model adds none to plain text. A chat wraps each message in "
                     "markers such as `<|im_start|>` … `<|im_end|>`; type them into the text to see each become "
                     "one token."))
    token_inspector(chips, model)
    with st.expander(_("All tokens as a table")):
        st.dataframe(chip_rows(chips, _), hide_index=True)
    return tokenizer, chips


def show_bag(tokenizer, chips: list[TokenChip]) -> None:
    st.subheader(_("Without positions, a bag of tokens"))
    st.markdown(state.explain("bag"))
    in_text = [chip for chip in chips if not chip.added]
    mixed = shuffled(in_text)
    st.html(chips_html(mixed, _=_))
    st.code(tokenizer.decode([chip.token_id for chip in mixed]), language=None, wrap_lines=True)
    same = sorted(c.token_id for c in in_text) == sorted(c.token_id for c in mixed)
    verdict = _("equal") if same else _("different")
    st.markdown(_("Sorted, the two lists of {count} ids are {verdict}: a model without positions could not tell "
                  "the texts apart.").format(count=len(in_text), verdict=verdict))
