"""The core, cached: a model loads once per process, a trace once per (model, text).

Every session gets the same objects, not copies (`st.cache_resource`, not
`st.cache_data`, which would pickle a trace on every hit): models and traces are
read-only. Traces live in a byte-bounded LRU cache, so changing a layer, a head
or a token reads a stored trace and never runs the model again.

Forward passes (a trace, an ablated run, a generated token) wait their turn in one
process-wide queue (viz/model_queue.py): a class of thirty shares the cores instead of
thrashing them, and a waiting student sees their place in the queue, not a frozen page.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import streamlit as st
import torch
from streamlit.logger import get_logger

from core import (
    Capability,
    LanguageModel,
    ModelTokenizer,
    ScopeError,
    Trace,
    load_model,
    load_tokenizer,
    spec_of,
    trained_model,
)
from core.engine.devices import device_name, resolve_device
from core.training.jobs import use_threads_here

from . import state
from .model_queue import ModelQueue, default_slots, pass_threads
from .state import _, render
from .trace_cache import TraceCache, idle_seconds

MAX_TIMINGS = 4096
DTYPE = "float32"  # the precision the app's models compute in (bfloat16 is slow on CPUs without AVX-512-BF16)
LOG = get_logger(__name__)
TRACE_CACHE_BYTES = 2 * 1024**3  # about four 2,048-token SmolLM2 traces in use, or hundreds of sentences

# Half the cores run passes at once, each with the cores' share of threads (model_turn). Everything else a page
# computes with torch (what it reads of a trace, outside the queue) runs on one thread, the process's default set
# here: page runs of many sessions at once would otherwise ask for more threads than there are cores, and on a
# busy machine every small product waits for its slowest thread (core/training/jobs.py leaves this default as it is).
MODEL_QUEUE = ModelQueue(default_slots())
torch.set_num_threads(1)


@contextmanager
def model_turn(tokens: int | None = None) -> Iterator[None]:
    """Run the block when the queue gives this session a turn; meanwhile say the session's place in it. The
    notice is drawn again every poll, so a rerun of the waiting page (a new click) takes it out of the queue.
    The block runs on the threads a pass over `tokens` new tokens deserves (model_queue.pass_threads)."""
    notice = None

    def waiting(place: int) -> None:
        nonlocal notice
        if notice is None:
            notice = st.empty()
        notice.info(_("Waiting for the model: you are number {place} in the queue.").format(place=place), icon="⏳")

    with MODEL_QUEUE.turn(waiting):
        if notice is not None:
            notice.empty()
        own = torch.get_num_threads()  # a page's thread: the default, which the pass's threads leave as it is
        use_threads_here(pass_threads(tokens, MODEL_QUEUE.slots))
        try:
            yield
        finally:
            torch.set_num_threads(own)  # this thread's count, and the default it already was


def cached_model(name: str) -> LanguageModel:
    """The process's one copy of a model: an installed one loaded once, or one a session trained and kept in the
    registry (which bounds how many it keeps; a resource cache would keep each for ever)."""
    kept = trained_model(name)
    return kept if kept is not None else _installed_model(name)


@st.cache_resource(show_spinner=False)
def _installed_model(name: str) -> LanguageModel:
    start = time.perf_counter()
    lm = load_model(name, dtype=DTYPE)
    LOG.info("Loaded the model %s in %.1f s", name, time.perf_counter() - start)  # the server's log: cold start
    # A model lives as long as the process: its many small objects (the vocabulary's among them) leave every later
    # full collection, which then scans only what pages create.
    gc.collect()
    gc.freeze()
    return lm


def runs_on(name: str) -> tuple[str, str]:
    """(device, precision) the model runs on here, without loading it: a model trained in this session says its
    own, an installed one what `_installed_model` gives it."""
    kept = trained_model(name)
    return (device_name(kept.device), kept.info.dtype) if kept is not None else (device_name(resolve_device()), DTYPE)


def get_model(name: str) -> LanguageModel:
    with st.spinner(_("Loading the model (once per server)…")):
        return cached_model(name)


@st.cache_resource
def trace_cache() -> TraceCache:
    return TraceCache(TRACE_CACHE_BYTES, idle_s=idle_seconds())


def get_trace(name: str, text: str, target: str | None = None) -> Trace:
    cache, key = trace_cache(), (name, text, target)
    trace = cache.get(key)
    if trace is None:
        lm = get_model(name)
        # Sessions asking for the same trace at once (a class following the teacher's new text) wait for the
        # first one's pass and read its result: one forward pass per (model, text), not one per student.
        with st.spinner(_("Running the model…")), cache.computing(key):
            trace = cache.get(key, again=True)
            if trace is None:
                trace = _traced(lm, cache, key)
    st.session_state[state.TRACED] = (key, len(trace.token_ids))
    return trace


def _traced(lm: LanguageModel, cache: TraceCache, key: tuple) -> Trace:
    """Run the model for a trace in the model queue's turn, time it, and store it."""
    _name, text, target = key
    with model_turn(len(lm.encode(text)[0].ids)):
        start = time.perf_counter()
        trace = lm.trace(text, target=target, dtype=np.float16)
        timings = model_seconds()
        timings[key] = time.perf_counter() - start
        if len(timings) > MAX_TIMINGS:  # oldest first: a dict keeps insertion order
            del timings[next(iter(timings))]
        return cache.put(key, trace)


@st.cache_resource
def model_seconds() -> dict:
    """How long the model took for each (model, text, target) traced by this process: pages say it, small,
    so that a person sees the cost grow with the length of the text. A few floats per text."""
    return {}


def trace_seconds(name: str, text: str, target: str | None = None) -> float | None:
    return model_seconds().get((name, text, target))


@st.cache_data(show_spinner=False, max_entries=8)
def licence_text(name: str) -> str | None:
    """A model's shipped licence as plain text, read once per process."""
    return spec_of(name).licence_text()


def model_or_error(name: str) -> LanguageModel | None:
    """The model, or None after telling the person why it cannot be loaded."""
    try:
        return get_model(name)
    except ScopeError as exc:
        st.error(render(exc))
        return None


def tokenizer_or_error(name: str) -> ModelTokenizer | None:
    """The model's tokenizer, without loading its weights (the tokenizer pages need no more), or None after
    telling the person why it cannot be read."""
    try:
        return _tokenizer(name)
    except ScopeError as exc:
        st.error(render(exc))
        return None


def _tokenizer(name: str) -> ModelTokenizer:
    kept = trained_model(name)
    return ModelTokenizer(kept.tokenizer, kept.chat_template) if kept is not None else _installed_tokenizer(name)


@st.cache_resource(show_spinner=False)
def _installed_tokenizer(name: str) -> ModelTokenizer:
    return load_tokenizer(name)


def decoder_reads_text(name: str, text: str) -> str | None:
    """The target of a page that studies one text: an encoder–decoder's decoder reads the text too (as in a copy
    task), so its self- and cross-attention have something to show; None for the other models."""
    return text if spec_of(name).can(Capability.CROSS_ATTENTION) else None


def page_trace(name: str, text: str) -> Trace:
    """get_trace with the decoder reading the text, for the cached results derived from a page's trace."""
    return get_trace(name, text, decoder_reads_text(name, text))


def trace_or_error(name: str, text: str, target: str | None = None) -> Trace | None:
    """The trace, or None after a clear message (empty text, missing model)."""
    if model_or_error(name) is None:
        return None
    try:
        trace = get_trace(name, text, target)
    except ScopeError as exc:
        st.info(render(exc))
        return None
    for note in trace.notes:
        st.warning(render(note))
    return trace


# ---------------------------------------------------------------- interventions, cached like traces

ABLATION_CACHE_BYTES = 256 * 1024**2  # ablated runs keep the residual stream, as traces do


@st.cache_resource
def ablation_cache() -> TraceCache:
    return TraceCache(ABLATION_CACHE_BYTES, idle_s=idle_seconds())


def get_ablated(name: str, text: str, heads: tuple[tuple[int, tuple[int, ...]], ...], mode: str):
    """The main stack run again with `heads` ({layer: heads} as sorted tuples) switched off: one forward
    pass per (model, text, heads, mode), kept in a byte-bounded cache."""
    from core.lessons.ablation import ablation_of, run_ablated

    cache, key = ablation_cache(), (name, text, heads, mode)
    run = cache.get(key)
    if run is None:
        lm, trace = get_model(name), get_trace(name, text)
        with model_turn(len(trace.token_ids)), st.spinner(_("Running the model with heads switched off…")):
            run = cache.put(key, run_ablated(lm, trace, ablation_of(dict(heads), mode)))
    return run


@st.cache_resource(show_spinner=False, max_entries=64, ttl=idle_seconds())
def rollout_row(name: str, text: str, position: int, _trace: Trace) -> np.ndarray:
    """Attention rollout of one position (core/lessons/attribution.py), once per (model, text, position). It
    recomputes every head's attention, a pass's worth of work: in the queue, on a pass's threads."""
    from core.lessons.attribution import trace_rollout

    with model_turn(position + 1):
        return trace_rollout(_trace, position)


# ---------------------------------------------------------------- training jobs (Watch a Transformer learn)


@st.cache_resource
def job_registry():
    """The process's training jobs (core/training/jobs.py): one per session, a few at once, each bounded in time."""
    from core.training.jobs import JobRegistry

    return JobRegistry()
