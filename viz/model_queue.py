"""A process-wide queue in front of the models: at most `slots` forward passes at once, the others wait
in arrival order and are told their place while they wait.

No streamlit here: viz/loading.py draws the notice. A thread that already holds a turn may ask again
(a trace inside an ablated run, say) and passes straight through: one turn per thread, never a deadlock.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_S = 0.5  # a waiter looks at its place at least this often, so a page can also notice a rerun
# A pass over fewer new tokens than this runs on one thread. Its matrix products take well under a millisecond
# each, so a second thread saves little, and on a busy machine every product waits for the slower of the two:
# measured on the shared 2-core machine (load 14), a SmolLM2 generation step took 4.0-4.6 s on two threads and
# 0.23-0.30 s on one, a 14-token Gemma 3 trace 2.0-2.5 s against 0.5-0.7 s.
SMALL_PASS_TOKENS = 64


def default_slots(cores: int | None = None) -> int:
    """Half the cores, at least one: each pass gets the other half's threads (see `torch_threads`)."""
    return max(1, (cores or os.cpu_count() or 1) // 2)


def torch_threads(slots: int, cores: int | None = None) -> int:
    """Threads per forward pass so that `slots` passes at once use the cores and no more."""
    return max(1, (cores or os.cpu_count() or 1) // slots)


def pass_threads(tokens: int | None, slots: int, cores: int | None = None) -> int:
    """Threads for a pass over `tokens` new tokens (None: not known, a large one): one for a small pass, else
    the pass's share of the cores."""
    return 1 if tokens is not None and tokens < SMALL_PASS_TOKENS else torch_threads(slots, cores)


class ModelQueue:
    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError("a queue needs at least one slot")
        self.slots = slots
        self._cond = threading.Condition()
        self._running = 0
        self._waiting: deque[object] = deque()
        self._held = threading.local()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def running(self) -> int:
        with self._cond:
            return self._running

    @contextmanager
    def turn(self, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold a slot for the duration of the block. While no slot is free, `on_wait(place)` is called with
        the caller's place (1 = next) when it changes and at least every POLL_S seconds, outside the lock; an
        exception it raises (a rerun of the waiting page) leaves the queue, and the others move up."""
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        self._acquire(on_wait)
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _ready(self, ticket: object) -> bool:
        return self._waiting[0] is ticket and self._running < self.slots

    def _acquire(self, on_wait: Callable[[int], None] | None) -> None:
        ticket = object()
        with self._cond:
            if self._running < self.slots and not self._waiting:
                self._running += 1
                return
            self._waiting.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._ready(ticket):
                        self._waiting.popleft()
                        self._running += 1
                        self._cond.notify_all()  # the next in line may have a free slot too
                        return
                    place = self._waiting.index(ticket) + 1
                if on_wait is not None:
                    on_wait(place)
                with self._cond:
                    if not self._ready(ticket) and self._waiting.index(ticket) + 1 == place:
                        self._cond.wait(POLL_S)
        except BaseException:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                    self._cond.notify_all()
            raise
