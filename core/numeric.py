"""The one numpy softmax every lesson and the sampler use, computed in float64 so that probabilities sum to 1
even at a low temperature, and the checks of what goes into it."""

from __future__ import annotations

import math
import numbers

import numpy as np

from core.errors import InputError


def logit_rows(logits) -> np.ndarray:
    """float64 logits, refused (InputError) where a row has no entry, NaN, +∞ or no finite value."""
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] == 0:
        raise InputError("logits need at least one entry per row")
    if np.isnan(array).any() or np.isposinf(array).any():
        raise InputError("logits contain NaN or +inf")
    if not np.isfinite(array).any(axis=-1).all():
        raise InputError("every row of logits needs at least one finite value")
    return array


def check_temperature(temperature: float) -> float:
    if not (isinstance(temperature, numbers.Real) and math.isfinite(temperature) and temperature > 0):
        raise InputError(f"temperature must be a number above 0, got {temperature!r}: softmax(z/T) divides by T")
    return float(temperature)


def softmax(x, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """softmax(x / T) along `axis`, float64. The maximum is subtracted first, so exp() never overflows; −∞ gets
    weight 0, and a row of only −∞ gives NaN (nothing shares the weight). NaN or +∞ in `x` is refused."""
    z = np.asarray(x, dtype=np.float64)
    if np.isnan(z).any() or np.isposinf(z).any():
        raise InputError("softmax needs finite numbers or −∞, not NaN or +∞")
    z = z / check_temperature(temperature)
    peak = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(peak), peak, 0.0))
    total = e.sum(axis=axis, keepdims=True)
    return np.divide(e, total, out=np.full_like(e, np.nan), where=total > 0)
