"""Two settings of the process that serves the app (and of the tests and benchmarks, which import it), made
once, before torch loads: both change how fast a forward pass runs on a CPU, never what it computes.

- GNU OpenMP (torch's CPU threads) keeps an idle thread spinning for a while after each parallel piece of
  work. With several processes on the cores (replicas, a test worker beside an app server) the spinning
  threads take the cores from the others: two processes each running a 1,024-token SmolLM2 pass on two
  threads took 26 s instead of 12 s. A spin count of 10,000 gives that back and keeps a lone process's
  speed (a 40-token generation: 0.95 s either way; no spinning at all makes it 1.8 s).
- glibc's malloc maps every large block (a T x T attention map, a layer's activations) afresh from the
  system and unmaps it when freed, so each pass pays page faults for memory it had a moment before: 4 s of
  system time in 7 s for three 1,024-token passes. On this project's virtual machines a page the system has
  not used for a few seconds costs far more again: 500 MB touched for the first time took 3.6 s, the same
  500 MB freed and touched again 0.09 s. Blocks up to 1 GiB stay in the heap instead, in one arena for every
  thread (4.6 s, 0.1 s of it system time), and up to 1 GiB of free memory stays at the heap's top.
  viz/trace_cache.py still hands freed memory back to the system once the class goes quiet (malloc_trim).
"""

from __future__ import annotations

import ctypes
import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # read when torch loads libgomp: before any import of torch

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)
KEEP_BLOCKS_BYTES = 1024**3  # blocks smaller than this come from the heap, not from mmap
TRIM_BYTES = 1024**3  # free memory at the heap's top beyond this goes back at once (a 2,048-token pass's logits
# on SmolLM2 alone are 400 MB)


def keep_large_blocks() -> bool:
    """Ask glibc to serve large blocks from one heap; False where the C library is not glibc (nothing changes)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # musl, macOS, Windows
        return False
    return all(mallopt(param, value) == 1 for param, value in
               ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, KEEP_BLOCKS_BYTES), (M_TRIM_THRESHOLD, TRIM_BYTES)))


keep_large_blocks()
