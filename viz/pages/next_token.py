"""Next token: the softmax over the vocabulary, temperature, top-k / top-p, and generation one token at a time."""

import streamlit as st

from core import Capability, spec_of
from viz import catalog, frame, state
from viz.loading import model_or_error, trace_or_error
from viz.state import _
from viz.tokens import last_text
from viz.views import classroom, compare, downloads
from viz.views import generation as views


def body(preset) -> None:
    name, text = state.model_name(), state.text()
    spec, lm = spec_of(name), model_or_error(name)
    if spec.can(Capability.CROSS_ATTENTION):
        st.caption(_("An encoder–decoder: its decoder predicts the first output token (after the start token) for "
                     "your text."))
    if lm is not None and spec.can(Capability.CHAT) and st.toggle(
        _("Ask it as a chat message"), key="chat_format",
        help=_("An instruct model was trained on conversations in its own chat template: wrapped in it, the text "
               "becomes a question and the next token starts the assistant's answer."),
    ):
        text = lm.chat_prompt(text)
        st.code(text, language=None, wrap_lines=True)
    trace = None if lm is None else trace_or_error(name, text)
    if trace is not None and not classroom.next_token_question(lm.tokenizer, trace):
        st.stop()  # the answer stays hidden while the class guesses

    st.header(_("From logits to probabilities"))
    last_tokens = "" if trace is None else last_text(lm.tokenizer, trace.token_ids)
    views.sampling_playground(None if lm is None else lm.tokenizer, None if trace is None else trace.last_logits,
                              last_tokens)

    if trace is not None and not spec.can(Capability.CROSS_ATTENTION):
        views.loss_section(lm.tokenizer, trace)
    if trace is not None and trace.last_logits is not None:
        downloads.next_token(lm.tokenizer, trace, text)
        compare.next_token_pair(lm, trace, state.text2(), chat=text != state.text())
    if trace is not None and not spec.can(Capability.CROSS_ATTENTION):
        views.generation_section(lm, text)


frame.page(catalog.BY_ID["next_token"], body)
