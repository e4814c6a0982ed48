"""Instruct-style prompts: a model's own chat template, rendered in a sandbox.

The template comes from the model file (GGUF's `tokenizer.chat_template`), so it
is untrusted text: it runs in Jinja's immutable sandbox, as `transformers` does.
"""

from __future__ import annotations

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.errors import N_, InputError

ROLES = ("system", "user", "assistant")


def apply_chat_template(template: str | None, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt text for `messages` ([{"role": "user", "content": "Hi"}, ...])."""
    if not template:
        raise InputError(N_("This model has no chat template: it is not an instruct model."))
    for message in messages:
        if message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise InputError(f"A chat message needs a role in {ROLES} and text content, got {message!r}")
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    try:
        return environment.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt)
    except TemplateError as exc:
        raise InputError(N_("The model's chat template could not be applied: {detail}"), detail=str(exc)) from exc
