"""The app's trace cache: least recently used out first, bounded by bytes, not by count."""

import numpy as np
import pytest

from core import load_model
from viz.trace_cache import TraceCache


@pytest.fixture(scope="module")
def lm():
    return load_model("classic")


@pytest.fixture(scope="module")
def traces(lm):
    return {text: lm.trace(text) for text in ("one", "two words", "three more words")}


def test_a_hit_returns_the_same_object_without_computing(traces):
    cache = TraceCache(max_bytes=10**9)
    calls = []
    first = cache.get_or_compute("a", lambda: calls.append(1) or traces["one"])
    second = cache.get_or_compute("a", lambda: calls.append(1) or traces["two words"])
    assert first is second is traces["one"]
    assert calls == [1] and (cache.hits, cache.misses) == (1, 1)


def test_the_budget_evicts_the_least_recently_used(traces):
    sizes = {text: trace.nbytes() for text, trace in traces.items()}
    cache = TraceCache(max_bytes=sizes["one"] + sizes["two words"])
    cache.put("one", traces["one"])
    cache.put("two words", traces["two words"])
    assert cache.get("one") is traces["one"]  # "two words" is now the least recently used
    cache.put("three more words", traces["three more words"])
    assert cache.get("two words") is None
    assert cache.nbytes <= cache.max_bytes or len(cache) == 1
    assert cache.nbytes == sum(sizes[k] for k in ("one", "three more words") if cache.get(k) is not None)


def test_a_trace_larger_than_the_budget_is_still_returned_and_kept_alone(traces):
    cache = TraceCache(max_bytes=1)
    cache.put("one", traces["one"])
    assert cache.put("two words", traces["two words"]) is traces["two words"]
    assert len(cache) == 1 and cache.get("two words") is traces["two words"]


def test_trace_size_counts_every_array(traces):
    trace = traces["two words"]
    arrays = [trace.get(name) for name in trace.names()]
    assert trace.nbytes() == sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) > 0
