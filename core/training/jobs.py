"""Training jobs in background threads: one per session, a few per process, each bounded in time.

A page asks the process's `JobRegistry` to `start` a `Recipe` (core/training/live_training.py) for its session (the
`owner`); the job trains in a daemon thread with one torch thread (`use_threads_here`), so the server
keeps answering other people, and records its steps, losses and attention snapshots where the page reads them (`Job.view`).
It ends by itself after its steps, when stopped, past the registry's time limit, or when its session has
ended: the registry asks the job's `alive` function (True, False, or None when it cannot tell) and, when
that cannot tell, looks at the session's heartbeat (`touch`, called by the page on every run) and ends a
job whose session has not been heard from for `idle_limit` seconds. Finished jobs are kept for their
session (the trained model can then be tried) and dropped when it has gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import N_, Message, ScopeError
from core.training.live_training import Recipe, prepare, training_options
from core.training.trainer import Progress, Snapshot, Task, train

RUNNING, DONE, STOPPED, TIME_LIMIT, SESSION_ENDED, FAILED = (
    "running", "done", "stopped", "time limit", "session ended", "failed")
STATUS_TEXT = {
    RUNNING: N_("training"),
    DONE: N_("finished: every step done"),
    STOPPED: N_("stopped by you"),
    TIME_LIMIT: N_("stopped at the time limit"),
    SESSION_ENDED: N_("stopped: the session ended"),
    FAILED: N_("failed"),
}
MAX_RUNNING = 2  # jobs training at once in one process
TIME_LIMIT_S = 120.0
IDLE_LIMIT_S = 30.0  # without a heartbeat for this long (where the server cannot say), the session has gone
KEEP_FINISHED_S = 1800.0  # a finished job is dropped after this long without a heartbeat
MAX_KEPT = 16  # finished jobs kept at most: the oldest go first
Alive = Callable[[], bool | None]


_DEFAULT_THREADS = threading.Lock()  # one thread at a time sets and restores torch's process default


def use_threads_here(count: int) -> None:
    """Give the calling thread, a new one, `count` torch threads, and leave every other thread's count as it is.

    OpenMP's and MKL's thread counts are per thread: `torch.set_num_threads` in one Python thread does not
    change a thread that has already run torch code. But it also sets the process default that a thread
    starts from at its first torch call, and Streamlit runs every script run in a new thread: left set, every
    page run of every session would run on `count` threads while a job trains. So this thread first reads the
    default (its first torch call takes it over), sets its own count, and a short-lived helper thread then
    sets the default back: threads that already ran keep theirs, new ones still start from the default
    (viz/loading.py's count; only a thread whose first torch call falls in the instant between the two calls
    would take `count`), and a job's end changes nothing."""
    with _DEFAULT_THREADS:
        default = torch.get_num_threads()  # this thread's first torch call: it starts from the default
        torch.set_num_threads(count)  # this thread's count, and, as a side effect, the default
        helper = threading.Thread(target=torch.set_num_threads, args=(default,), name="torch-threads-default")
        helper.start()  # the default back, set from a thread whose own count does not matter
        helper.join()


class JobRefused(ScopeError):
    """A job that may not start now: one runs already in this session, or the process is full."""


@dataclass(frozen=True)
class JobView:
    """What a page shows of a job at one moment: copies, safe to read while the job goes on."""

    recipe: Recipe
    status: str
    step: int
    steps: int
    losses: tuple[float, ...]
    snapshots: tuple[Snapshot, ...]
    seconds: float
    error: Message | None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def loss_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps 1…n, losses) as arrays."""
        losses = np.asarray(self.losses, dtype=np.float64)
        return np.arange(1, len(losses) + 1), losses


class Job:
    def __init__(self, owner: str, recipe: Recipe, task: Task, began: float):
        self.owner, self.recipe, self.task = owner, recipe, task
        self.status, self.error = RUNNING, None
        self.module: torch.nn.Module | None = None  # the trained model, once the job has ended
        self.began = self.beat = began
        self.finished: float | None = None
        self._losses: list[float] = []
        self._snapshots: list[Snapshot] = []
        self._seconds = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running

    def view(self) -> JobView:
        with self._lock:
            return JobView(self.recipe, self.status, len(self._losses), self.recipe.steps, tuple(self._losses),
                           tuple(self._snapshots), self._seconds, self.error)

    def _record(self, progress: Progress) -> None:
        with self._lock:
            self._losses.append(progress.loss)
            self._seconds = progress.seconds
            if progress.snapshot is not None:
                self._snapshots.append(progress.snapshot)

    def _end(self, status: str, error: Message | None = None, module=None, at: float = 0.0) -> None:
        with self._lock:
            self.status, self.error, self.module, self.finished = status, error, module, at


class JobRegistry:
    """The process's jobs, by owner (a session). Every method is safe to call from any thread."""

    def __init__(self, max_running: int = MAX_RUNNING, time_limit: float = TIME_LIMIT_S,
                 idle_limit: float = IDLE_LIMIT_S, keep_finished: float = KEEP_FINISHED_S, max_kept: int = MAX_KEPT,
                 clock: Callable[[], float] = time.monotonic, torch_threads: int = 1):
        self.max_running, self.time_limit, self.idle_limit = max_running, time_limit, idle_limit
        self.keep_finished, self.max_kept, self.clock, self.torch_threads = keep_finished, max_kept, clock, torch_threads
        self._jobs: dict[str, Job] = {}
        self._alive: dict[str, Alive] = {}
        self._lock = threading.Lock()

    def start(self, owner: str, recipe: Recipe, alive: Alive | None = None, device: str = "auto") -> Job:
        """Start training `recipe` for `owner`; JobRefused if one of its jobs runs or the process is full,
        InputError if the recipe is out of bounds."""
        with self._lock:
            self._prune()
            current = self._jobs.get(owner)
            if current is not None and current.running:
                raise JobRefused(N_("A model is already training in this session: stop it, or let it finish, "
                                    "before you start another."))
            running = sum(job.running for job in self._jobs.values())
            if running >= self.max_running:
                raise JobRefused(N_("{count} models are training on this server now, the most it allows at once. "
                                    "Try again in a minute."), count=running)
            task, config = prepare(recipe)
            job = Job(owner, recipe, task, self.clock())
            self._jobs[owner], self._alive[owner] = job, alive or (lambda: None)
            job.thread = threading.Thread(target=self._run, args=(job, config, device), daemon=True,
                                          name=f"training-{owner[:12]}")
            job.thread.start()
        return job

    def get(self, owner: str) -> Job | None:
        with self._lock:
            return self._jobs.get(owner)

    def touch(self, owner: str) -> None:
        """The session is still there (its page ran)."""
        with self._lock:
            job = self._jobs.get(owner)
            if job is not None:
                job.beat = self.clock()

    def stop(self, owner: str) -> bool:
        """Ask the owner's running job to stop after its current step; False if none runs."""
        job = self.get(owner)
        if job is None or not job.running:
            return False
        job.stop()
        return True

    def running_count(self) -> int:
        with self._lock:
            return sum(job.running for job in self._jobs.values())

    def session_gone(self, job: Job) -> bool:
        said = self._alive.get(job.owner, lambda: None)()
        if said is not None:
            return not said
        return self.clock() - job.beat > self.idle_limit

    def _prune(self) -> None:
        """Drop finished jobs whose session has gone, then the oldest finished beyond `max_kept`."""
        finished = [job for job in self._jobs.values() if not job.running]
        gone = [job for job in finished
                if self._alive[job.owner]() is False or self.clock() - job.beat > self.keep_finished]
        kept = sorted((job for job in finished if job not in gone), key=lambda job: job.finished or 0.0)
        for job in gone + kept[: max(0, len(kept) - self.max_kept)]:
            del self._jobs[job.owner]
            self._alive.pop(job.owner, None)

    def _run(self, job: Job, config, device: str) -> None:
        use_threads_here(self.torch_threads)  # the job's share of the CPU: the server stays responsive
        ending: list[str] = []

        def report(progress: Progress) -> bool:
            job._record(progress)
            if job._stop.is_set():
                ending.append(STOPPED)
            elif self.clock() - job.began > self.time_limit:
                ending.append(TIME_LIMIT)
            elif self.session_gone(job):
                ending.append(SESSION_ENDED)
            return not ending

        try:
            run = train(job.task, config, job.recipe.steps, device=device, callback=report, deterministic=False,
                        **training_options(job.recipe))
            job._end(ending[0] if ending else DONE, module=run.module, at=self.clock())
        except ScopeError as exc:
            job._end(FAILED, exc.message, at=self.clock())
        except Exception as exc:  # out of memory, say: the page says so, the server goes on
            job._end(FAILED, Message(N_("Training stopped with an error: {error}"), error=str(exc)[:300]),
                     at=self.clock())
