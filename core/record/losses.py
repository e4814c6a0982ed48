"""The pre-training objective along a text: how likely the model found each token that actually came next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import N_, InputError
from core.numeric import logit_rows


@dataclass(frozen=True)
class TokenLosses:
    """The pre-training objective along a text: row t of the logits predicts token t+1."""

    probability: np.ndarray  # (T-1,) the probability the model gave the token that actually came next
    loss: np.ndarray  # (T-1,) -ln(probability), the cross-entropy of each prediction, in nats

    @property
    def mean_loss(self) -> float:
        return float(self.loss.mean())


def next_token_losses(logits, token_ids: Sequence[int]) -> TokenLosses:
    """Per-token cross-entropy of a trace's logits (T, vocab) against its own token ids."""
    logits = logit_rows(logits)
    ids = np.asarray(token_ids, dtype=np.int64)
    if logits.ndim != 2 or ids.ndim != 1 or len(ids) != logits.shape[0]:
        raise InputError("next_token_losses needs logits (T, vocab) and T token ids")
    if len(ids) < 2:
        raise InputError(N_("At least two tokens are needed: one to read and one to predict"))
    if ids.min() < 0 or ids.max() >= logits.shape[1]:
        raise InputError("a token id lies outside the vocabulary of the logits")
    predicting, actual = logits[:-1], ids[1:]
    shifted = predicting - predicting.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    chosen = log_probs[np.arange(len(actual)), actual]
    return TokenLosses(probability=np.exp(chosen), loss=-chosen)
