"""The process-wide queue in front of the models (viz/model_queue.py, viz/loading.model_turn): at most
`slots` forward passes at once, the others served in arrival order and told their place while they wait.

Threads wait on events, never on the clock: the asserts are about order and places, not time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from viz import loading
from viz.model_queue import SMALL_PASS_TOKENS, ModelQueue, default_slots, pass_threads, torch_threads

WAIT = 120  # seconds a test waits for a thread at most: a safety net, never a measure


def wait_for(condition) -> None:
    """Until `condition()` holds (a bounded readiness wait, polled on a condition of the queue's own)."""
    done = threading.Event()
    for _ in range(WAIT * 100):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("the threads did not reach the expected state")


def test_slots_and_threads_share_the_cores():
    assert [default_slots(cores) for cores in (1, 2, 3, 4, 16)] == [1, 1, 1, 2, 8]
    assert [torch_threads(default_slots(cores), cores) for cores in (1, 2, 4, 16)] == [1, 2, 2, 2]
    assert torch.get_num_threads() >= 1
    with pytest.raises(ValueError):
        ModelQueue(0)


def test_a_small_pass_runs_on_one_thread_a_large_one_on_the_cores_share_and_the_rest_on_one():
    """Small passes gain little from a second thread and, on a busy machine, lose much; work outside the queue
    (a page reading a trace) runs on one thread, so that sessions at once never ask for more than the cores."""
    assert [pass_threads(n, 1, cores=2) for n in (1, SMALL_PASS_TOKENS - 1, SMALL_PASS_TOKENS, None)] == [1, 1, 2, 2]
    assert pass_threads(10, 2, cores=16) == 1 and pass_threads(500, 2, cores=16) == 8
    seen, before = [], torch.get_num_threads()
    with loading.model_turn(3):
        seen.append(torch.get_num_threads())
    with loading.model_turn(500):
        seen.append(torch.get_num_threads())
    outside = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    outside.start()
    outside.join()
    assert seen == [1, torch_threads(loading.MODEL_QUEUE.slots), 1]
    assert torch.get_num_threads() == before


def test_a_second_thread_waits_as_number_one_and_runs_after_the_first():
    queue, order, places = ModelQueue(1), [], []
    first_in, release = threading.Event(), threading.Event()

    def first():
        with queue.turn():
            order.append("first starts")
            first_in.set()
            assert release.wait(WAIT)
            order.append("first ends")

    def second():
        with queue.turn(places.append):
            order.append("second runs")

    one = threading.Thread(target=first)
    one.start()
    assert first_in.wait(WAIT)
    two = threading.Thread(target=second)
    two.start()
    wait_for(lambda: places)  # the second has been told its place while the first still runs
    assert queue.waiting() == 1 and queue.running() == 1 and order == ["first starts"]
    release.set()
    one.join(WAIT), two.join(WAIT)
    assert order == ["first starts", "first ends", "second runs"]
    assert set(places) == {1}
    assert queue.waiting() == 0 and queue.running() == 0


def test_waiters_are_served_in_arrival_order_and_move_up():
    queue, order = ModelQueue(1), []
    places: dict[str, list[int]] = {"b": [], "c": []}
    holding, release = threading.Event(), threading.Event()

    def holder():
        with queue.turn():
            holding.set()
            assert release.wait(WAIT)
            order.append("a")

    def waiter(name):
        with queue.turn(places[name].append):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert holding.wait(WAIT)
    for name, expected in (("b", 1), ("c", 2)):
        thread = threading.Thread(target=waiter, args=(name,))
        thread.start()
        threads.append(thread)
        wait_for(lambda name=name, expected=expected: expected in places[name])
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert order == ["a", "b", "c"]
    assert places["b"][0] == 1 and set(places["b"]) == {1}
    assert places["c"][0] == 2 and 2 in places["c"]  # then 1 once b holds the slot, if it looked in time
    assert set(places["c"]) <= {1, 2}


def test_a_waiter_that_leaves_lets_the_next_move_up():
    """A rerun raises inside the waiting notice: that session leaves the queue, the one behind it moves up."""
    queue, order = ModelQueue(1), []
    places: dict[str, list[int]] = {"b": [], "c": []}
    holding, release, leave = threading.Event(), threading.Event(), threading.Event()

    class Rerun(Exception):
        pass

    def holder():
        with queue.turn():
            holding.set()
            assert release.wait(WAIT)

    def leaver(place):
        places["b"].append(place)
        if leave.is_set():
            raise Rerun

    def left():
        with pytest.raises(Rerun), queue.turn(leaver):
            order.append("b ran")

    def waiter():
        with queue.turn(places["c"].append):
            order.append("c")

    a = threading.Thread(target=holder)
    a.start()
    assert holding.wait(WAIT)
    b = threading.Thread(target=left)
    b.start()
    wait_for(lambda: places["b"])
    c = threading.Thread(target=waiter)
    c.start()
    wait_for(lambda: places["c"])
    assert places["c"][0] == 2
    leave.set()
    b.join(WAIT)
    wait_for(lambda: 1 in places["c"])  # c moved up while a still holds the slot
    release.set()
    a.join(WAIT), c.join(WAIT)
    assert order == ["c"] and queue.waiting() == 0 and queue.running() == 0


def test_a_thread_holding_a_turn_passes_through_a_nested_one():
    queue = ModelQueue(1)
    with queue.turn(), queue.turn():
        assert queue.running() == 1
    assert queue.running() == 0


def test_two_slots_let_two_run_at_once():
    queue, inside, release = ModelQueue(2), threading.Barrier(3, timeout=WAIT), threading.Event()

    def run():
        with queue.turn():
            inside.wait()  # both are inside at once, or this barrier would break
            assert release.wait(WAIT)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert queue.running() == 2
    release.set()
    for thread in threads:
        thread.join(WAIT)


class Notice:
    """Stands in for st.empty(): records what the page would show."""

    def __init__(self, shown):
        self.shown = shown

    def info(self, text, icon=None):
        self.shown.append(text)

    def empty(self):
        self.shown.append(None)


def test_a_waiting_session_is_told_its_place_in_its_language(monkeypatch):
    shown, holding, release = [], threading.Event(), threading.Event()
    queue = ModelQueue(1)
    monkeypatch.setattr(loading, "MODEL_QUEUE", queue)
    monkeypatch.setattr(loading.st, "empty", lambda: Notice(shown))
    monkeypatch.setattr(loading, "_", lambda text: text.replace("Waiting", "[zh] Waiting"))

    def holder():
        with queue.turn():
            holding.set()
            assert release.wait(WAIT)

    a = threading.Thread(target=holder)
    a.start()
    assert holding.wait(WAIT)
    ran = []

    def session():
        with loading.model_turn():
            ran.append(True)

    b = threading.Thread(target=session)
    b.start()
    wait_for(lambda: shown)
    release.set()
    a.join(WAIT), b.join(WAIT)
    assert shown[0] == "[zh] Waiting for the model: you are number 1 in the queue."
    assert shown[-1] is None and ran == [True]  # the notice goes once the session has its turn
    assert queue.running() == 0


def test_no_full_collection_after_each_run_and_a_loaded_model_leaves_later_ones():
    """Streamlit's collection after every run scanned some 350,000 objects once models were loaded and held every
    thread for 0.35-0.5 s per click on the shared machine; a loaded model's objects are frozen out of later ones."""
    import gc
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    loading.cached_model("smollm2-135m")
    assert gc.get_freeze_count() > 100_000
