"""What each head does, as far as this process has measured it (core/lessons/head_scores.py, on the Head finder page): a
head's role named in the session's language. Reading it never runs the model, so the Attention page stays fast."""

from __future__ import annotations

from core import N_
from core.lessons.head_scores import ModelScores, known_model_scores

from .loading import cached_model
from .state import _

ROLE_NAMES = {"previous_token": N_("previous-token head"), "duplicate_token": N_("duplicate-token head"),
              "induction": N_("induction head"), "self": N_("self head")}


def known_scores(name: str) -> ModelScores | None:
    """The model's scores if this process has measured them, else None."""
    return known_model_scores(cached_model(name))


def role_name(scores: ModelScores | None, layer: int, head: int) -> str | None:
    """The head's measured role in the session's language, or None (scores unknown, or no role)."""
    role = None if scores is None else scores.role(layer, head)
    return None if role is None else _(ROLE_NAMES[role])
