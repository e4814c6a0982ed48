"""The app's trace cache: least recently used out first, bounded by bytes, not by count."""

import numpy as np
import pytest

from tests.support.models import loaded
from viz.trace_cache import TraceCache


@pytest.fixture(scope="module")
def lm():
    return loaded("classic")


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


class Sized:
    """Stands for a trace: the cache reads only its size."""

    def __init__(self, size: int):
        self.size = size

    def nbytes(self) -> int:
        return self.size


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def idle_cache(max_bytes=10**9, idle_s=60.0, release_bytes=10**9):
    clock, released = Clock(), []
    cache = TraceCache(max_bytes, idle_s=idle_s, clock=clock, release=lambda: released.append(1),
                       release_bytes=release_bytes)
    return cache, clock, released


def test_an_entry_nobody_reads_for_idle_s_is_dropped_at_the_next_get():
    cache, clock, _ = idle_cache()
    cache.put("left", Sized(100))
    cache.put("used", Sized(10))
    for _ in range(3):  # "used" is read every 40 s; "left" is not read again
        clock.now += 40
        assert cache.get("used") is not None
    assert "left" not in cache._entries and cache.dropped_idle == 1
    assert len(cache) == 1 and cache.nbytes == 10 and cache.dropped_bytes == 100


def test_a_recently_read_entry_stays_however_old_it_is():
    cache, clock, _ = idle_cache()
    preset = Sized(10)
    cache.put("preset", preset)
    for _ in range(100):  # the class reads the teacher's text every 50 s for over an hour
        clock.now += 50
        assert cache.get("preset") is preset
        cache.put(f"student {clock.now}", Sized(1))
    assert cache.dropped_idle == 100 - 2  # the students' texts went (the last two are still fresh)
    assert cache.get("preset") is preset


def test_an_entry_read_exactly_idle_s_ago_stays_and_a_put_drops_the_idle_ones_too():
    cache, clock, _ = idle_cache()
    cache.put("a", Sized(1))
    clock.now += 60
    cache.put("b", Sized(1))
    assert len(cache) == 2  # idle for exactly idle_s: not yet over
    clock.now += 0.5
    cache.put("c", Sized(1))
    assert list(cache._entries) == ["b", "c"]


def test_trim_drops_idle_entries_without_a_visit_and_no_idle_bound_keeps_everything():
    cache, clock, _ = idle_cache()
    cache.put("a", Sized(5))
    clock.now += 61
    assert cache.trim() == 5 and len(cache) == 0
    forever = TraceCache(10**9, clock=clock)
    forever.put("a", Sized(5))
    clock.now += 10**6
    assert forever.get("a") is not None and forever.trim() == 0


def test_the_byte_bound_still_holds_with_an_idle_bound():
    cache, clock, _ = idle_cache(max_bytes=25, idle_s=60)
    for i in range(10):
        clock.now += 1
        cache.put(i, Sized(10))
        assert cache.nbytes <= 25
    assert list(cache._entries) == [8, 9]  # the least recently used went first
    assert cache.get(9) is not None and cache.get(7) is None


def test_memory_is_released_once_drops_add_up_to_release_bytes():
    cache, clock, released = idle_cache(release_bytes=100)
    cache.put("kept", Sized(1000))  # read every 20 s throughout: the cache never goes quiet

    def wait(seconds):
        for _ in range(seconds // 20):
            clock.now += 20
            assert cache.get("kept") is not None
        clock.now += seconds % 20

    for i in range(9):
        cache.put(i, Sized(10))
        wait(61)
    cache.put("big", Sized(200))
    assert released == [] and cache.dropped_bytes == 90  # below release_bytes
    wait(61)
    assert cache.get("big") is None and released == [1]  # 290 bytes in all
    cache.put("again", Sized(10))
    wait(61)
    assert cache.trim() == 10 and released == [1]  # counted from the last release


def test_memory_is_released_when_the_class_has_gone_quiet():
    cache, clock, released = idle_cache(release_bytes=10**9)
    for i in range(5):
        cache.put(i, Sized(10))
    clock.now += 61
    assert cache.get("the next visit's text") is None
    assert len(cache) == 0 and released == [1]  # 50 bytes, far below release_bytes, but all there was
    cache.put("a", Sized(10))
    cache.put("b", Sized(10))
    clock.now += 40
    cache.put("c", Sized(100))
    clock.now += 21
    cache.put("d", Sized(10))
    assert list(cache._entries) == ["c", "d"] and released == [1]  # 20 freed, 110 still held: not quiet


def test_release_memory_runs_where_libc_has_malloc_trim_or_not():
    from viz import trace_cache

    trace_cache.release_memory()  # gc.collect, then malloc_trim on glibc; a no-op trim elsewhere
    assert trace_cache.MALLOC_TRIM is None or callable(trace_cache.MALLOC_TRIM)


def test_the_idle_bound_comes_from_the_environment_or_the_default(monkeypatch):
    from viz import trace_cache

    monkeypatch.setenv(trace_cache.IDLE_ENV, "20")
    assert trace_cache.idle_seconds() == 20
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv(trace_cache.IDLE_ENV, bad)
        assert trace_cache.idle_seconds() == trace_cache.DEFAULT_IDLE_S
    monkeypatch.delenv(trace_cache.IDLE_ENV)
    assert trace_cache.idle_seconds() == trace_cache.DEFAULT_IDLE_S
