"""A least-recently-used cache of traces, bounded by their size in bytes.

A trace of a 2,048-token text on SmolLM2 holds about 290 MB (its residual stream),
a short sentence well under 1 MB: a bound on the number of entries would be either
wasteful or unsafe, so the bound is on bytes. A trace also keeps what pages have
read of it (a head's probabilities, computed on demand, each trace within its own
bound), so it grows after it is stored: every get and put counts the traces again.
Shared by every session of the server; traces are read-only once stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from core import Trace


class TraceCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Trace] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def nbytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Trace | None:
        with self._lock:
            trace = self._entries.get(key)
            if trace is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            self._evict()
            return trace

    def put(self, key: Hashable, trace: Trace) -> Trace:
        """Store `trace`, evicting the least recently used ones to stay within the budget."""
        with self._lock:
            self._entries[key] = trace
            self._entries.move_to_end(key)
            self._evict()
        return trace

    def _evict(self) -> None:
        """Count every trace again, then drop the least recently used until within the budget (the most
        recent always stays, however large)."""
        self._sizes = {key: trace.nbytes() for key, trace in self._entries.items()}
        while self.nbytes > self.max_bytes and len(self._entries) > 1:
            oldest, _ = self._entries.popitem(last=False)
            del self._sizes[oldest]

    def get_or_compute(self, key: Hashable, compute: Callable[[], Trace]) -> Trace:
        trace = self.get(key)
        return trace if trace is not None else self.put(key, compute())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self.hits = self.misses = 0
