"""Errors a person can act on. The app shows their message as it is; no stack trace."""


class ScopeError(Exception):
    """Base of every error whose message is meant for the person using the app."""


class UnknownModelError(ScopeError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ModelUnavailableError(ScopeError):
    """The model's weights are missing or unreadable; other models still work."""


class InputError(ScopeError, ValueError):
    """The text or token ids cannot be run as given."""
