"""Errors a person can act on. The app shows their message as it is; no stack trace.

A message is an English template with named fields (`"{path} is missing"`), marked
with `N_` so that the message catalogues pick it up: the app translates the
template, then fills in the fields, so a Chinese reader gets a Chinese sentence
around the same file names and numbers. `str(error)` is the English sentence.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a message for the catalogues without translating it here (the core has no language)."""
    return message


class Message:
    """An English template and its fields: rendered in English by str(), in any language by `render`."""

    def __init__(self, template: str, **fields):
        self.template, self.fields = template, fields

    def render(self, translate=lambda template: template) -> str:
        text = translate(self.template)
        return text.format(**self.fields) if self.fields else text

    def __str__(self) -> str:
        return self.render()

    def __eq__(self, other) -> bool:
        return isinstance(other, Message) and (self.template, self.fields) == (other.template, other.fields)

    def __hash__(self) -> int:
        return hash((self.template, tuple(sorted(self.fields.items()))))

    def __repr__(self) -> str:
        return f"Message({self.template!r}, **{self.fields!r})"


class ScopeError(Exception):
    """Base of every error whose message is meant for the person using the app."""

    def __init__(self, template: str, **fields):
        self.message = Message(template, **fields)
        super().__init__(str(self.message))

    def render(self, translate=lambda template: template) -> str:
        return self.message.render(translate)

    def __str__(self) -> str:
        return str(self.message)


class UnknownModelError(ScopeError, KeyError):
    """A model name that is not in the registry."""


class ModelUnavailableError(ScopeError):
    """The model's weights are missing or unreadable; other models still work."""


class InputError(ScopeError, ValueError):
    """The text or token ids cannot be run as given."""
