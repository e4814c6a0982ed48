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


def test_trace_size_counts_what_it_holds(lm):
    trace = lm.trace("two words")  # a fresh trace: its residual stream and last logits are held
    before = trace.nbytes()
    assert before == trace.replay.nbytes() + trace.last_logits.nbytes > 0
    arrays = {id(a): a for a in (trace.get(name) for name in trace.names()) if isinstance(a, np.ndarray)}
    # Every value read is produced on demand and held from then on (within the trace's own bound).
    assert trace.nbytes() - before >= sum(a.nbytes for a in arrays.values()) > 0


def test_a_trace_that_grows_is_counted_again(lm):
    small, growing = lm.trace("one"), lm.trace("three more words")
    cache = TraceCache(max_bytes=small.nbytes() + growing.nbytes() + 1000)
    cache.put("growing", growing)
    cache.put("one", small)
    assert cache.get("growing") is growing and len(cache) == 2
    assert growing.layers[0].self_attn.probs.size  # a page reads it: the trace now holds more
    assert cache.get("growing") is growing  # counted again: over budget, the least recently used goes
    assert cache.get("one") is None and cache.nbytes == growing.nbytes()
