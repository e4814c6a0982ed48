"""Next token: the softmax over the vocabulary, temperature, top-k / top-p, and generation one token at a time."""

import streamlit as st

from viz import generation_views as views
from viz import state
from viz.loading import model_or_error, trace_or_error
from viz.presets import preset_buttons

st.title("🎲 Next token")
st.markdown(
    "After the last block, a decoder turns the final vector of the **last** token into one score per vocabulary "
    "entry (the *logits* z). Softmax turns the scores into probabilities; the model then picks one token, appends "
    "it, and runs again. That loop is all text generation is."
)
preset = preset_buttons("next_token")
if preset is not None and preset.note:
    st.info(preset.note)

name, text = state.model_name(), state.text()
lm = model_or_error(name)
trace = None
if lm is not None and lm.info.architecture != "decoder":
    views.not_a_decoder(lm.info)
if lm is not None and lm.chat_template and st.toggle(
    "Ask it as a chat message", key="chat_format",
    help="An instruct model was trained on conversations in its own chat template: wrapped in it, the text "
         "becomes a question and the next token starts the assistant's answer.",
):
    text = lm.chat_prompt(text)
    st.code(text, language=None, wrap_lines=True)
if lm is not None and lm.info.architecture != "encoder":
    trace = trace_or_error(name, text)

st.header("From logits to probabilities")
last_tokens = "" if trace is None else "".join(views.token_label(lm.tokenizer, i) for i in trace.token_ids[-4:])
views.sampling_playground(None if lm is None else lm.tokenizer, None if trace is None else trace.logits[-1], last_tokens)

if trace is not None and lm.info.architecture == "decoder":
    views.loss_section(lm.tokenizer, trace)
    views.generation_section(lm, text)
