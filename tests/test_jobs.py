"""Training jobs (core/training/jobs.py) and what the live page trains (core/training/live_training.py): one job per session,
a bounded number per process, each ending by itself (its steps, a stop, the time limit, its session gone),
and a short run that learns."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
import torch

from core import InputError
from core.training import live_training as live
from core.training.jobs import DONE, FAILED, RUNNING, SESSION_ENDED, STOPPED, TIME_LIMIT, JobRefused, JobRegistry
from core.training.trainer import char_task, continue_text, encode_chars, snapshot, train

TINY = live.Recipe(live.COPY, layers=1, d_model=16, heads=2, steps=40, batch_size=16)
LONG = live.Recipe(live.COPY, layers=1, d_model=16, heads=2, steps=3000, batch_size=8)  # stopped long before its end
WAIT = 120  # seconds a test waits for a thread at most: a safety net, never a measure


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def finish(job) -> None:
    assert job.wait(WAIT), "the job did not end"


def test_a_short_run_lowers_the_loss_and_snapshots_the_attention():
    registry = JobRegistry()
    job = registry.start("a", live.Recipe(live.COPY, 1, 32, 2, 200, 32))
    finish(job)
    view = job.view()
    assert view.status == DONE and view.step == view.steps == 200 and job.module is not None
    losses = np.asarray(view.losses)
    assert np.isfinite(losses).all() and losses[-20:].mean() < 0.5 * losses[:20].mean()
    steps = [shot.step for shot in view.snapshots]
    assert steps == sorted(steps) and steps[-1] == 200 and len(steps) == live.SNAPSHOTS
    task = job.task
    shot = view.snapshots[-1]
    s, t = len(task.probe[0]), len(task.probe[1]) + 1
    assert shot.cross.shape == (1, 2, t, s) and shot.encoder.shape == (1, 2, s, s)
    np.testing.assert_allclose(shot.cross.sum(-1), 1.0, rtol=1e-5)


def test_the_copy_model_learns_to_copy_and_its_cross_attention_becomes_the_diagonal():
    recipe = live.Recipe(live.COPY, 1, 32, 2, 300, 32)
    task, config = live.prepare(recipe)
    run = train(task, config, recipe.steps, deterministic=False, **live.training_options(recipe))
    assert live.answer(run.module, recipe, task, "3 1 4 1 5").text == "3 1 4 1 5"
    cross = snapshot(run.module, task).cross[0].mean(axis=0)  # (T, S), heads averaged
    s = len(task.probe[0])
    assert (cross[:s].argmax(axis=-1) == np.arange(s)).mean() >= 0.75  # most queries read their own position


def test_a_second_job_for_the_same_session_is_refused_and_stop_ends_it():
    registry = JobRegistry()
    job = registry.start("a", LONG)
    with pytest.raises(JobRefused, match="already training"):
        registry.start("a", TINY)
    assert registry.get("a") is job and job.status == RUNNING
    assert registry.stop("a")
    finish(job)
    assert job.status == STOPPED and job.module is not None and 0 < job.view().step < LONG.steps
    assert not registry.stop("a")  # nothing runs now
    again = registry.start("a", TINY)  # a finished job makes room for the next
    finish(again)
    assert again.status == DONE and registry.get("a") is again


def test_the_process_runs_a_bounded_number_of_jobs():
    registry = JobRegistry(max_running=1)
    first = registry.start("a", LONG)
    with pytest.raises(JobRefused, match="the most it allows"):
        registry.start("b", TINY)
    assert registry.running_count() == 1 and registry.get("b") is None
    first.stop()
    finish(first)
    second = registry.start("b", TINY)
    finish(second)
    assert second.status == DONE


def test_a_job_stops_at_the_time_limit():
    clock = Clock()
    registry = JobRegistry(time_limit=60.0, clock=clock)
    job = registry.start("a", LONG)
    clock.now = 61.0
    finish(job)
    assert job.status == TIME_LIMIT and job.module is not None and job.view().step < LONG.steps


def test_a_job_stops_when_the_server_says_its_session_has_ended():
    open_sessions = {"a"}
    registry = JobRegistry()
    job = registry.start("a", LONG, alive=lambda: "a" in open_sessions)
    open_sessions.clear()
    finish(job)
    assert job.status == SESSION_ENDED


def test_without_a_server_to_ask_the_heartbeat_keeps_a_job_and_its_silence_ends_it():
    clock = Clock()
    registry = JobRegistry(idle_limit=30.0, clock=clock)
    job = registry.start("a", LONG, alive=lambda: None)
    clock.now = 25.0
    registry.touch("a")  # the page ran again
    clock.now = 50.0  # 25 s after the heartbeat: still there
    assert not job.wait(0.5) and job.status == RUNNING
    clock.now = 56.0  # 31 s of silence
    finish(job)
    assert job.status == SESSION_ENDED


def test_finished_jobs_of_ended_sessions_are_dropped():
    open_sessions = {"a"}
    registry = JobRegistry()
    finish(registry.start("a", TINY, alive=lambda: "a" in open_sessions))
    assert registry.get("a") is not None  # its session may still try the model
    open_sessions.clear()
    finish(registry.start("b", TINY))  # starting a job tidies the registry
    assert registry.get("a") is None and registry.get("b") is not None


def test_a_job_trains_with_one_torch_thread_and_gives_the_threads_back():
    before = torch.get_num_threads()
    seen = []
    registry = JobRegistry()
    job = registry.start("a", TINY)
    original = job._record

    def spy(progress):
        seen.append(torch.get_num_threads())
        original(progress)

    job._record = spy
    finish(job)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before


def threads_in_a_new_thread() -> int:
    """torch's thread count as a thread that starts now sees it (Streamlit runs each page run in a new one)."""
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


def trained(job) -> None:
    """Wait until the job has taken a step (its thread has set its own count)."""
    deadline = time.monotonic() + WAIT
    while job.running and job.view().step == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.view().step > 0


def test_a_job_never_changes_the_thread_count_of_other_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # not 1, whatever the machine: a job that lowered it would show
    try:
        registry = JobRegistry()
        first, second = registry.start("a", LONG), registry.start("b", LONG)
        trained(first)
        trained(second)
        assert torch.get_num_threads() == 3 and threads_in_a_new_thread() == 3  # while both train
        registry.stop("a")
        finish(first)
        assert second.running
        assert torch.get_num_threads() == 3 and threads_in_a_new_thread() == 3  # one ended, one trains
        registry.stop("b")
        finish(second)
        assert torch.get_num_threads() == 3 and threads_in_a_new_thread() == 3  # none trains
    finally:
        torch.set_num_threads(before)


def test_a_recipe_out_of_bounds_is_refused_with_a_message():
    registry = JobRegistry()
    for recipe in (live.Recipe(layers=4), live.Recipe(d_model=20), live.Recipe(d_model=16, heads=3),
                   live.Recipe(steps=100_000), live.Recipe(batch_size=4096), live.Recipe(task="chess"),
                   live.Recipe(live.CHARS, text="short")):
        with pytest.raises(InputError):
            registry.start("a", recipe)
    assert registry.get("a") is None


def test_an_error_while_training_is_a_failed_job_with_its_message(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("core.training.jobs.train", broken)
    job = JobRegistry().start("a", TINY)
    finish(job)
    assert job.status == FAILED and "out of memory" in str(job.view().error)


def test_every_task_builds_a_model_of_the_core():
    text = "the cat sat on the mat. " * 10
    for name in live.TASKS:
        recipe = live.Recipe(name, 2, 32, 4, 10, 8, text)
        task, config = live.prepare(recipe)
        assert config.vocab_size == task.vocab_size and config.n_layers == 2 and config.n_heads == 4
        assert (config.architecture == "decoder") == (name == live.CHARS)


def test_the_character_task_reads_windows_of_its_text():
    text = "abcab" * 20
    task = char_task(text, context=8, probe_chars=6)
    assert task.labels[4:] == ("a", "b", "c")  # most frequent first, then by character
    ids = encode_chars(task, "abcz")
    assert ids == [4, 5, 6, 3]  # z was never seen
    assert task.probe == ([], encode_chars(task, text[:6]))


    for source, target in task.sample(random.Random(0), 20):
        assert source == [] and len(target) == 8
        window = "".join(task.labels[i] for i in target)
        assert window in text


def test_continue_text_is_greedy_or_seeded_and_keeps_the_start_token_in_a_sliding_window():
    text = "abcd" * 30
    recipe = live.Recipe(live.CHARS, 1, 32, 2, 200, 32, text)
    task, config = live.prepare(recipe)
    run = train(task, config, recipe.steps, deterministic=False, **live.training_options(recipe))
    prompt = encode_chars(task, "abcd" * 20)  # longer than the model's positions
    greedy = continue_text(run.module, task, prompt, 12)
    assert "".join(task.labels[i] for i in greedy) == "abcd" * 3  # it learned the cycle
    sampled = [continue_text(run.module, task, prompt, 12, temperature=1.0, seed=3) for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_the_answers_say_what_is_wrong_with_an_input():
    recipe = TINY
    task, config = live.prepare(recipe)
    module = train(task, config, 2, deterministic=False).module
    with pytest.raises(InputError, match="digits"):
        live.answer(module, recipe, task, "no digits here")
    translate = live.Recipe(live.TRANSLATE, 1, 16, 2, 10, 8)
    task, config = live.prepare(translate)
    module = train(task, config, 2, deterministic=False).module
    with pytest.raises(InputError, match="does not know these words"):
        live.answer(module, translate, task, "我是一名宇航员")
    assert isinstance(live.answer(module, translate, task, "我是一名学生").text, str)


def test_the_moving_average_matches_a_direct_mean():
    values = np.random.default_rng(0).random(50)
    smoothed = live.moving_average(values, 7)
    expected = [values[max(0, i - 6): i + 1].mean() for i in range(50)]
    np.testing.assert_allclose(smoothed, expected)
