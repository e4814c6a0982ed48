"""A least-recently-used cache of traces, bounded by their size in bytes and by how long they sit unread.

A trace of a 2,048-token text on SmolLM2 holds about 290 MB (its residual stream),
a short sentence well under 1 MB: a bound on the number of entries would be either
wasteful or unsafe, so the bound is on bytes. A trace also keeps what pages have
read of it (a head's probabilities, computed on demand, each trace within its own
bound), so it grows after it is stored: every get and put counts the traces again.

The byte bound alone keeps what a class has left behind: thirty students' own texts, a
few MB each, stay until 2 GiB of newer ones push them out. So a trace nobody has read for
`idle_s` seconds is dropped at the next get or put (a teacher's preset text, read by
someone every few seconds while the class uses it, stays). Once drops have freed many bytes,
or idle drops have freed more than the cache still holds (the class has gone quiet),
`release_memory` hands them back to the operating system: freed arrays otherwise stay in
the allocator's arenas and the server's resident memory never falls.

Shared by every session of the server; traces are read-only once stored.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from core import Trace

IDLE_ENV = "SCOPE_CACHE_IDLE_S"
# Two minutes unread, as long as Streamlit keeps a closed session's state by default: a student studying a
# figure, a teacher's preset read by someone in the class, stay; a text the class has left gives its memory
# back soon after. Recomputing a dropped short text costs one forward pass (~0.1 s on SmolLM2).
DEFAULT_IDLE_S = 120.0
RELEASE_BYTES = 32 * 1024**2  # once drops have freed this much since the last release, memory goes back


def idle_seconds() -> float:
    """The server's idle bound: the environment variable SCOPE_CACHE_IDLE_S (the load test shortens it, as it
    shortens the disconnected sessions' TTL), else DEFAULT_IDLE_S."""
    try:
        value = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S))
    except ValueError:
        return DEFAULT_IDLE_S
    return value if value > 0 else DEFAULT_IDLE_S


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim (it returns free pages of every arena to the system), or None where libc has none."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):  # musl, macOS, Windows: nothing to call
        return None


MALLOC_TRIM = _malloc_trim()
_releasing = threading.Lock()


def release_memory() -> None:
    """Collect the cycles that may still hold dropped arrays, then give the allocator's free pages back
    (glibc only; elsewhere the collection alone). Skipped if another thread is already doing it."""
    if not _releasing.acquire(blocking=False):
        return
    try:
        gc.collect()
        if MALLOC_TRIM is not None:
            MALLOC_TRIM(0)
    finally:
        _releasing.release()


class TraceCache:
    def __init__(self, max_bytes: int, idle_s: float | None = None, clock: Callable[[], float] = time.monotonic,
                 release: Callable[[], None] = release_memory, release_bytes: int = RELEASE_BYTES):
        """`idle_s`: drop entries not read for that many seconds (None: never); `clock` gives seconds (tests pass
        a fake one); `release` runs, outside the lock, once drops have freed `release_bytes` since it last ran or
        idle drops have freed more than the cache still holds."""
        self.max_bytes, self.idle_s, self.release_bytes = max_bytes, idle_s, release_bytes
        self._clock, self._release = clock, release
        self._entries: OrderedDict[Hashable, Trace] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._read_at: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        self.dropped_idle = self.dropped_bytes = 0  # entries dropped for sitting unread, bytes freed in all
        self._unreleased = 0  # bytes dropped since `release` last ran
        self._computing: dict[Hashable, tuple[threading.Lock, int]] = {}  # key -> (its lock, sessions using it)

    @property
    def nbytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, *, again: bool = False) -> Trace | None:
        """The entry of `key`, or None (a miss, counted once: `again` looks after waiting for another session)."""
        with self._lock:
            now = self._clock()
            idle = self._drop_idle(now)
            trace, freed = self._entries.get(key), 0
            if trace is None:
                self.misses += not again
            else:
                self.hits += 1
                self._entries.move_to_end(key)
                self._read_at[key] = now
                freed = self._evict()
        self._released(idle, freed)
        return trace

    def put(self, key: Hashable, trace: Trace) -> Trace:
        """Store `trace`, evicting the idle ones and the least recently used to stay within the budget."""
        with self._lock:
            now = self._clock()
            self._entries[key] = trace
            self._entries.move_to_end(key)
            self._read_at[key] = now
            idle = self._drop_idle(now)
            freed = self._evict()
        self._released(idle, freed)
        return trace

    def trim(self) -> int:
        """Drop the entries idle now (what the next get or put would do); return the bytes freed."""
        with self._lock:
            freed = self._drop_idle(self._clock())
        self._released(freed)
        return freed

    def _drop_idle(self, now: float) -> int:
        """Drop the entries not read for idle_s seconds (oldest first, so the scan stops at the first fresh one)."""
        freed = 0
        if self.idle_s is None:
            return freed
        while self._entries:
            oldest = next(iter(self._entries))
            if now - self._read_at[oldest] <= self.idle_s:
                break
            freed += self._drop(oldest)
            self.dropped_idle += 1
        return freed

    def _evict(self) -> int:
        """Count every trace again, then drop the least recently used until within the budget (the most
        recent always stays, however large)."""
        self._sizes = {key: trace.nbytes() for key, trace in self._entries.items()}
        freed = 0
        while self.nbytes > self.max_bytes and len(self._entries) > 1:
            freed += self._drop(next(iter(self._entries)))
        return freed

    def _drop(self, key: Hashable) -> int:
        del self._entries[key], self._read_at[key]
        size = self._sizes.pop(key, 0)
        self.dropped_bytes += size
        return size

    def _released(self, idle: int, evicted: int = 0) -> None:
        """Count what the idle drops and the evictions freed; release memory when due."""
        with self._lock:
            self._unreleased += idle + evicted
            quiet = idle > 0 and idle > sum(self._sizes.get(key, 0) for key in self._entries)
            due = self._unreleased >= self.release_bytes or (quiet and self._unreleased > 0)
            if due:
                self._unreleased = 0
        if due:
            self._release()

    @contextmanager
    def computing(self, key: Hashable) -> Iterator[None]:
        """Hold `key`'s own lock while its entry is computed: sessions that miss the same key at once wait for
        the first one's result (and find it with `get`) instead of computing it each, so a class that follows
        one text costs one forward pass, not one per student. Other keys do not wait."""
        with self._lock:
            lock, users = self._computing.get(key, (threading.Lock(), 0))
            self._computing[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._computing[key]
                if users == 1:
                    del self._computing[key]
                else:
                    self._computing[key] = (lock, users - 1)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Trace]) -> Trace:
        trace = self.get(key)
        if trace is None:
            with self.computing(key):
                trace = self.get(key, again=True)
                if trace is None:
                    trace = self.put(key, compute())
        return trace

    def clear(self) -> None:
        with self._lock:
            freed = self.nbytes
            self._entries.clear()
            self._sizes.clear()
            self._read_at.clear()
            self.hits = self.misses = 0
        self._released(0, freed)
