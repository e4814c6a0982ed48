"""`make load`: a class at once. N sessions, each a real client (a headless Chromium context driven by
Playwright) against a real `streamlit run` server, for a fixed time.

Each session types its own text (with a marker word no other session uses) into the shared text box,
opens the Attention page and steps through heads, opens the Next-token page and generates a token, and
goes back to Tokenization, over and over. Every action is timed from the change (the click, the key) to
the finished rerun: the server's `script_finished` message read from the session's websocket, and then
the page settled (tests/support/browser.SETTLED_JS). Reported:

  - reruns (script runs the server finished for the sessions, fragments included) and actions;
  - errors, which must be 0: an exception element or an error box sent to any session, a run that ended
    with a compile error, an action that never finished;
  - p50 and p95 of the action times, and per kind of action;
  - the server's resident memory (VmRSS) after warm-up, at its peak, and after the sessions have gone and
    the server has been idle a while (its disconnected sessions expire after SESSION_TTL_S; the trace caches
    drop the entries nobody read for CACHE_IDLE_S at the next visit, which the measure makes, and hand the
    freed memory back to the system);
  - leaks: every page a session sees is searched for the other sessions' markers; there must be none;
  - how often a session was shown its place in the model queue (viz/model_queue.py).

Two ways a class uses it (`--mode`): `explore`, each session on its own as above; `follow`, the common case
in a lesson, one teacher's session leads under a class code (viz/views/follow.py) and the N sessions follow
it: the teacher steps heads and layers, types a new text and switches pages, and each move is timed from the
teacher's click to each student's page showing the teacher's view (its page and URL) with its run finished.

    python -m bench.load --sessions 10 --duration 60 [--mode follow [--light]] [--pin]

The clients run on the same machine as the server. On a small machine the browsers' own work is then part
of what is measured; `--pin` puts the server on the first core and this process and its browsers on the
others (the CPU affinity every child inherits), so the server's share is measured apart; `--light` makes the
students following light clients that speak Streamlit's protocol and draw nothing (bench/light_client.py),
so that what is measured is the server, not thirty browsers on one core. Writes
test-artifacts/load-<mode>-<N>[-light][-pinned].json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote

from bench.light_client import LightSession
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SETTLED_JS, resident_mb, start_server
from viz import classroom, state
from viz.trace_cache import DEFAULT_IDLE_S, IDLE_ENV

MODEL = "smollm2-135m"  # the decoder every one of these pages serves, and the default model
LANGUAGES = ("en", "zh")  # sessions alternate: the queue notice and the pages in both
SENTENCES = (
    "The animal didn't cross the street because it was too tired",
    "A small model reads the whole sentence at once",
    "今天太冷了，能穿多少穿多少",
    "Attention lets every token look at the others",
    "The cat sat on the mat and looked at the dog",
)
WAITING = ("Waiting for the model", "正在等待模型")
SESSION_TTL_S = 5  # the load server forgets a closed session's state after this (Streamlit's default: 120 s)
# The server drops cached traces nobody read for this long (viz/trace_cache.py): the app's own default, not a
# shortened one (a shorter bound would drop traces the sessions still use while they wait minutes in the
# model queue). The idle wait passes it, so the trim visit finds the class's traces idle; the server's own
# rule drops them, the bench only waits and visits. The short test (tests/test_load.py) passes shorter ones.
CACHE_IDLE_S = DEFAULT_IDLE_S
IDLE_S = CACHE_IDLE_S + 10  # after the sessions have gone, before the trim visit
# A safety net, not a measure: thirty browsers and the server on two cores may take minutes for one action.
ACTION_DEADLINE_S = float(os.environ.get("LOAD_ACTION_DEADLINE_S", 600))
POLL_S = 0.25
EXPLORE, FOLLOW = "explore", "follow"
CLASS_CODE = "BNCH"  # the teacher's link leads the class under this code (viz/views/follow.py reads `lead=`)
# The choices of the teacher's URL a student's URL must carry for its screen to show the teacher's view (the
# model is the default one, which an address leaves out); a layer or head of 0 may be left out too.
FOLLOWED = (state.TEXT, state.LAYER, state.HEAD)
SHOWS_JS = f"""([path, wanted]) => {{
    const query = new URLSearchParams(location.search);
    const value = (key) => query.get(key) ?? ({json.dumps([state.LAYER, state.HEAD])}.includes(key) ? "0" : null);
    return location.pathname === path && Object.entries(wanted).every(([key, v]) => value(key) === v)
        && ({SETTLED_JS})();
}}"""

# What a session sees: the page's text, what its text boxes hold, and the figures' text.
SEEN_JS = """() => [document.body.innerText,
    ...[...document.querySelectorAll('textarea, input')].map((box) => box.value),
    ...[...document.querySelectorAll('svg text')].map((t) => t.textContent)].join('\\n')"""


def marker(i: int) -> str:
    """A word no other session's text contains, nor any page: fixed length, so none is part of another."""
    return f"zq{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}{i // 676}x"


def text_of(i: int, round_: int) -> str:
    return f"{marker(i)} {SENTENCES[(i + round_) % len(SENTENCES)]} {round_}"


@dataclass
class Session:
    index: int
    marker: str
    language: str
    finished: int = 0  # script_finished messages received
    reruns: int = 0
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    queue_notices: int = 0  # drawn again each half second of a wait
    queued_actions: int = 0
    times: dict[str, list[float]] = field(default_factory=dict)  # change → finished run, page drawn (ms)
    server_ms: list[float] = field(default_factory=list)  # change → the server's script_finished message
    cycles: int = 0


def read_frame(session: Session, payload) -> None:
    """One websocket message from the server: count finished runs, errors and queue notices."""
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if isinstance(payload, str):
        return
    try:
        message = ForwardMsg.FromString(payload)
    except Exception:  # not a ForwardMsg (never seen): not ours to judge
        return
    kind = message.WhichOneof("type")
    if kind == "script_finished":
        status = message.script_finished
        session.finished += 1
        if status in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
            session.reruns += 1
        elif status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
            session.errors.append("a run ended with a compile error")
    elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
        element = message.delta.new_element
        which = element.WhichOneof("type")
        if which == "exception":
            session.errors.append(f"exception: {element.exception.type} {element.exception.message[:300]}")
        elif which == "alert":
            if element.alert.format == Alert.ERROR:
                session.errors.append(f"error box: {element.alert.body[:300]}")
            elif any(words in element.alert.body for words in WAITING):
                session.queue_notices += 1


class Memory:
    """The server's resident memory, sampled in a thread until stopped: the peak."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, resident_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self.peak = max(self.peak, resident_mb(self.pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


async def settle(page, session: Session, before: int, what: str, started: float) -> float:
    """Wait until the server has finished a run begun after `before`, and the page has drawn it; return the
    milliseconds to the server's message."""
    deadline = started + ACTION_DEADLINE_S
    while session.finished <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: no finished run after {ACTION_DEADLINE_S:.0f} s")
        await asyncio.sleep(0.02)
    server_ms = (time.monotonic() - started) * 1000
    await page.wait_for_function(SETTLED_JS, timeout=max(1.0, deadline - time.monotonic()) * 1000)
    exception = page.locator('[data-testid="stException"]')
    if await exception.count():
        session.errors.append(f"{what}: exception box: {(await exception.first.inner_text())[:300]}")
    return server_ms


async def act(page, session: Session, what: str, action, markers: list[str]) -> None:
    """Do `action`, time it to the settled page, then look for the other sessions' markers on the page."""
    before, started, notices = session.finished, time.monotonic(), session.queue_notices
    try:
        await action()
        server_ms = await settle(page, session, before, what, started)
    except Exception as exc:  # a timeout, a missing element: an error of the run, reported, never hidden
        session.errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:300]}")
        print(f"session {session.index}: {session.errors[-1]}", file=sys.stderr, flush=True)
        return
    session.times.setdefault(what, []).append((time.monotonic() - started) * 1000)
    session.server_ms.append(server_ms)
    session.queued_actions += session.queue_notices > notices
    seen = await page.evaluate(SEEN_JS)
    session.leaks += [f"{what}: saw {other}" for other in markers if other != session.marker and other in seen]


async def run_session(browser, url: str, session: Session, markers: list[str], deadline: float) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(ACTION_DEADLINE_S * 1000)
    page = await context.new_page()
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: read_frame(session, payload)))
    start = f"{url}/tokenization?model={MODEL}&lang={session.language}&text={quote(text_of(session.index, 0))}"

    async def open_start():
        await page.goto(start, wait_until="domcontentloaded")

    def nav(page_id: str):
        async def go():
            link = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{page_id}"]')
            if not await link.count():  # the navigation shows the first ten pages until "View more"
                await page.locator('[data-testid="stSidebarNavViewButton"]').first.click()
            await link.first.click()
        return go

    async def type_text(round_: int):
        box = page.locator('[data-testid="stSidebar"] textarea').first
        await box.fill(text_of(session.index, round_))
        await box.press("Control+Enter")

    def click(key: str):
        return lambda: page.locator(f".st-key-{key} button").filter(visible=True).first.click()

    try:
        await act(page, session, "open", open_start, markers)
        while session.cycles == 0 or time.monotonic() < deadline:  # at least one round: the warm-up's
            session.cycles += 1
            await act(page, session, "new text", lambda r=session.cycles: type_text(r), markers)
            await act(page, session, "switch page", nav("attention"), markers)
            for _ in range(2):
                await act(page, session, "next head", click("head-next"), markers)
            await act(page, session, "switch page", nav("next_token"), markers)
            await act(page, session, "generate", click("nt_next"), markers)
            await act(page, session, "switch page", nav("tokenization"), markers)
        own = await page.evaluate(SEEN_JS)
        if session.marker not in own:
            session.errors.append("the session's own text is not on its page")
    finally:
        await context.close()


async def teacher_view(page) -> tuple[str, dict[str, str]]:
    """The teacher's page path and the followed choices its URL carries, once the URL has stopped changing (a
    fragment's run writes its choices into the address a moment after the run has finished)."""
    async def read():
        path, search = await page.evaluate("() => [location.pathname, location.search]")
        query = dict(parse_qsl(search.lstrip("?")))
        return path, {key: query[key] for key in FOLLOWED if key in query}

    view = await read()
    for _ in range(20):
        await asyncio.sleep(0.1)
        again = await read()
        if again == view:
            return view
        view = again
    return view


DEFAULTS = {state.LAYER: "0", state.HEAD: "0"}  # what an address that leaves a layer or head out means


async def reach(page, session: Session, what: str, started: float, view: tuple[str, dict]) -> None:
    """Wait until a student's page shows the teacher's view, its run finished; time it from the teacher's click."""
    try:
        await page.wait_for_function(SHOWS_JS, arg=list(view), polling=100, timeout=ACTION_DEADLINE_S * 1000)
    except Exception as exc:  # never reached: an error of the run, reported
        shown = await page.evaluate("() => [location.pathname, location.search]")
        session.errors.append(f"{what}: {type(exc).__name__}: shows {shown}, not {view}")
        return
    session.times.setdefault(what, []).append((time.monotonic() - started) * 1000)


async def reach_light(client: LightSession, session: Session, what: str, started: float,
                      view: tuple[str, dict]) -> None:
    """`reach` for a light client: its session's last finished run is on the teacher's page and choices."""
    try:
        shown = await client.shows(*view, DEFAULTS, started, ACTION_DEADLINE_S)
    except TimeoutError:
        session.errors.append(f"{what}: shows {client.path}?{client.query}, not {view}")
        return
    session.times.setdefault(what, []).append((shown - started) * 1000)


async def run_class(browser, url: str, teacher: Session, students: list[Session], deadline: float,
                    light: bool = False) -> None:
    """A teacher leads, the students follow: each of the teacher's moves is timed to every student's screen.
    `light`: the students are light clients (bench/light_client.py), not browser tabs."""
    contexts, stop, tasks = [], asyncio.Event(), []

    async def tab(session: Session, width: int, height: int):
        context = await browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(ACTION_DEADLINE_S * 1000)
        contexts.append(context)
        page = await context.new_page()
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: read_frame(session, payload)))
        return page

    try:
        lead = await tab(teacher, 1280, 720)
        start = (f"{url}/attention?model={MODEL}&lang=zh&lead={CLASS_CODE}"
                 f"&text={quote(text_of(teacher.index, 0))}")
        await act(lead, teacher, "open", lambda: lead.goto(start, wait_until="domcontentloaded"), [])
        view = await teacher_view(lead)
        began = time.monotonic()
        if light:
            clients = [LightSession(url, f"follow={CLASS_CODE}&lang={student.language}",
                                    on_frame=lambda payload, s=student: read_frame(s, payload)) for student in students]
            tasks = [asyncio.create_task(client.run(stop)) for client in clients]
            followers = [(lambda *args, c=client: reach_light(c, *args)) for client in clients]
        else:
            pages = [await tab(student, 390, 844) for student in students]
            await asyncio.gather(*(page.goto(f"{url}/?follow={CLASS_CODE}&lang={student.language}",
                                             wait_until="domcontentloaded") for page, student in zip(pages, students)))
            followers = [(lambda *args, p=page: reach(p, *args)) for page in pages]
        await asyncio.gather(*(follow(student, "join", began, view) for follow, student in zip(followers, students)))

        def click(key: str):
            return lambda: lead.locator(f".st-key-{key} button").filter(visible=True).first.click()

        def nav(page_id: str):
            async def go():
                link = lead.locator(f'[data-testid="stSidebarNav"] a[href$="/{page_id}"]')
                if not await link.count():
                    await lead.locator('[data-testid="stSidebarNavViewButton"]').first.click()
                await link.first.click()
            return go

        async def type_text(round_: int):
            await lead.goto(f"{url}/attention?model={MODEL}&lang=zh&lead={CLASS_CODE}"
                            f"&text={quote(text_of(teacher.index, round_))}", wait_until="domcontentloaded")

        while teacher.cycles == 0 or time.monotonic() < deadline:
            teacher.cycles += 1
            moves = [("next head", click("head-next")), ("next head", click("head-next")),
                     ("next layer", click("layer-next")), ("new text", lambda r=teacher.cycles: type_text(r)),
                     ("switch page", nav("next_token")), ("switch page", nav("attention"))]
            for what, move in moves:
                started = time.monotonic()
                await act(lead, teacher, what, move, [])
                view = await teacher_view(lead)
                await asyncio.gather(*(follow(student, what, started, view)
                                       for follow, student in zip(followers, students)))
        for student in students:
            student.cycles = teacher.cycles
    finally:
        stop.set()
        for task in tasks:
            try:
                await task
            except Exception as exc:  # a light client's connection failed: an error of the run
                students[tasks.index(task)].errors.append(f"light client: {type(exc).__name__}: {exc}")
        for context in contexts:
            await context.close()


def summary(times: dict[str, list[float]]) -> dict[str, dict]:
    """Per kind of action: how many, and their p50 and p95 (ms)."""
    return {kind: {"count": len(ts), "p50": percentile(ts, 0.5), "p95": percentile(ts, 0.95)}
            for kind, ts in times.items()}


def core_ticks() -> dict[int, tuple[int, int]]:
    """Each CPU's (busy, total) clock ticks so far (/proc/stat)."""
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            numbers = [int(value) for value in values[:8]]
            ticks[int(name[3:])] = (sum(numbers) - numbers[3] - numbers[4], sum(numbers))  # less idle and iowait
    return ticks


def busy_shares(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict[int, float]:
    """How busy each CPU was between two readings of `core_ticks`, 0 to 1."""
    return {cpu: round((after[cpu][0] - before[cpu][0]) / max(1, after[cpu][1] - before[cpu][1]), 2)
            for cpu in before}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(url: str, sessions: list[Session], duration_s: float, teacher: Session | None = None,
                light: bool = False) -> None:
    """The sessions on their own, or (`teacher`) following the teacher's (`light`: as light clients)."""
    from playwright.async_api import async_playwright

    markers = [session.marker for session in sessions]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            deadline = time.monotonic() + duration_s
            if teacher is not None:
                await run_class(browser, url, teacher, sessions, deadline, light)
            else:
                await asyncio.gather(*(run_session(browser, url, s, markers, deadline) for s in sessions))
        finally:
            await browser.close()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"


def start(name: str, cache_idle_s: float, database: Path):
    """The load server: its disconnected sessions forgotten sooner than by default, its idle traces after
    `cache_idle_s` (SCOPE_CACHE_IDLE_S), its classroom in a fresh SQLite file."""
    settings = {IDLE_ENV: str(cache_idle_s), classroom.DATABASE_URL_ENV: f"sqlite:///{database}"}
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)  # the server inherits the environment
    try:
        return start_server(ARTIFACTS / f"{name}-server.log",
                            extra_args=("--server.disconnectedSessionTTL", str(SESSION_TTL_S)))
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


def cores(pin: bool) -> tuple[set[int], set[int]]:
    """(the server's CPUs, the clients'): the first core and the others when pinned, else all for both."""
    available = sorted(os.sched_getaffinity(0))
    if not pin:
        return set(available), set(available)
    if len(available) < 2:
        raise SystemExit("--pin needs at least two cores")
    return {available[0]}, set(available[1:])


def run(sessions: int = 10, duration_s: float = 60.0, idle_s: float = IDLE_S, out: Path | None = None,
        cache_idle_s: float = CACHE_IDLE_S, mode: str = EXPLORE, pin: bool = False, light: bool = False) -> dict:
    """Start a server, warm it up, run the sessions, measure; return (and write) the report. `idle_s` must be
    longer than `cache_idle_s` for the trim visit to find the sessions' traces idle. `mode`: the sessions
    explore on their own or follow a teacher; `pin`: the server on one core, the clients on the others; `light`:
    the students following are light clients (bench/light_client.py), not browsers."""
    if idle_s <= cache_idle_s:
        raise ValueError(f"the idle wait ({idle_s} s) must be longer than the caches' idle bound ({cache_idle_s} s)")
    if mode not in (EXPLORE, FOLLOW):
        raise ValueError(f"mode {mode!r}: {EXPLORE} or {FOLLOW}")
    if light and mode != FOLLOW:
        raise ValueError("light clients only follow: exploring needs a browser's clicks")
    ARTIFACTS.mkdir(exist_ok=True)
    name = f"load-{mode}-{sessions}" + ("-light" if light else "") + ("-pinned" if pin else "")
    out = out or ARTIFACTS / f"{name}.json"
    launched, affinity = time.monotonic(), os.sched_getaffinity(0)
    server_cpus, client_cpus = cores(pin)
    with tempfile.TemporaryDirectory() as folder:
        os.sched_setaffinity(0, server_cpus)  # the server's process and threads inherit it
        try:
            server = start(name, cache_idle_s, Path(folder) / "classroom.sqlite3")
        finally:
            os.sched_setaffinity(0, client_cpus)  # this process and the browsers it launches
        try:
            setup = (f"server on CPU {min(server_cpus)}, clients on CPU {', '.join(map(str, sorted(client_cpus)))}"
                     if pin else "server and clients sharing every core")
            setup += "; students as light clients (the protocol, nothing drawn)" if light else "; every client a browser"
            return _measure(server, time.monotonic() - launched, sessions, duration_s, idle_s, cache_idle_s,
                            mode, setup, out, light)
        finally:
            os.sched_setaffinity(0, affinity)


def _measure(server, healthy_s: float, sessions: int, duration_s: float, idle_s: float, cache_idle_s: float,
             mode: str, setup: str, out: Path, light: bool = False) -> dict:
    try:
        where = machine()
        warm = [Session(10_000, marker(10_000), "en")]  # one session through every page once: models loaded
        asyncio.run(drive(server.url, warm, 0.0))
        time.sleep(SESSION_TTL_S + 1)
        before = resident_mb(server.process.pid)
        clients = [Session(i, marker(i), LANGUAGES[i % 2]) for i in range(sessions)]
        teacher = Session(30_000, marker(30_000), "zh") if mode == FOLLOW else None
        began, ticks = time.monotonic(), core_ticks()
        with Memory(server.process.pid) as memory:
            asyncio.run(drive(server.url, clients, duration_s, teacher, light))
        elapsed, busy = time.monotonic() - began, busy_shares(ticks, core_ticks())
        time.sleep(idle_s)  # the sessions have gone; the server forgets them
        trim = [Session(20_000, marker(20_000), "en")]  # one visit: caches drop their idle entries on use
        asyncio.run(drive(server.url, trim, 0.0))
        time.sleep(SESSION_TTL_S + 1)
        after = resident_mb(server.process.pid)
        log_errors = server.log_tail(200_000).count("Traceback")
    finally:
        server.stop()
    # A student's joining is its own row, not one of the class's moves.
    times = [t for s in clients for kind, ts in s.times.items() if kind != "join" for t in ts]
    server_times = [t for s in clients for t in s.server_ms]
    kinds = sorted({kind for s in clients for kind in s.times})
    report = {
        "sessions": sessions,
        "duration_s": duration_s,
        "elapsed_s": round(elapsed, 1),
        # `streamlit run` to its health check, then the first page (Tokenization, SmolLM2 loaded) drawn in the
        # warm-up's browser: a cold start (the browser's own launch between the two is left out)
        "cold_start_s": round(healthy_s + warm[0].times["open"][0] / 1e3, 1) if warm[0].times.get("open") else None,
        "machine": where,
        "setup": setup,
        "busy": busy,  # each CPU's busy share while the sessions ran: which side was the bottleneck
        "model": MODEL,
        "reruns": sum(s.reruns for s in clients),
        "actions": len(times),
        "cycles": sum(s.cycles for s in clients),
        "mode": mode,
        "teacher_per_action_ms": summary(teacher.times) if teacher else {},
        "errors": [f"session {s.index}: {e}" for s in clients + warm + trim + ([teacher] if teacher else [])
                   for e in s.errors],
        "server_tracebacks": log_errors,
        "leaks": [f"session {s.index}: {leak}" for s in clients for leak in s.leaks],
        "queue_notices": sum(s.queue_notices for s in clients),
        "queued_actions": sum(s.queued_actions for s in clients),
        "p50_ms": percentile(times, 0.5),
        "p95_ms": percentile(times, 0.95),
        "server_p50_ms": percentile(server_times, 0.5),
        "server_p95_ms": percentile(server_times, 0.95),
        "per_action_ms": summary({kind: [t for s in clients for t in s.times.get(kind, [])] for kind in kinds}),
        "rss_mb": {"before": round(before, 1), "peak": round(memory.peak, 1), "after": round(after, 1)},
        "rss_after_over_before": round(after / before, 3),
        "idle_s": idle_s,
        "cache_idle_s": cache_idle_s,
        "session_ttl_s": SESSION_TTL_S,
        "per_session": [{k: v for k, v in asdict(s).items() if k not in ("times", "server_ms")}
                        | {"actions": sum(map(len, s.times.values()))} for s in clients],
    }
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return report


def table(report: dict) -> str:
    rss = report["rss_mb"]
    rows = [
        ("sessions", report["sessions"]), ("mode", report["mode"]), ("setup", report["setup"]),
        ("duration (s)", report["duration_s"]),
        ("busy share of each CPU while the sessions ran",
         ", ".join(f"CPU {cpu} {share:.0%}" for cpu, share in report["busy"].items())),
        ("cold start to the first rendered page (s)", report["cold_start_s"] or "–"), ("reruns", report["reruns"]),
        ("actions", report["actions"]), ("errors", len(report["errors"]) + report["server_tracebacks"]),
        ("leaks (another session's text seen)", len(report["leaks"])),
        ("actions that waited in the model queue", report["queued_actions"]),
        ("p50 change → finished rerun (ms)", f"{report['p50_ms']:.0f}" if report["p50_ms"] else "–"),
        ("p95 change → finished rerun (ms)", f"{report['p95_ms']:.0f}" if report["p95_ms"] else "–"),
        ("p50 / p95 change → server's run finished, before drawing (ms)",
         f"{report['server_p50_ms'] or 0:.0f} / {report['server_p95_ms'] or 0:.0f}"),
        ("server RSS before / peak / after (MiB)", f"{rss['before']:.0f} / {rss['peak']:.0f} / {rss['after']:.0f}"),
        ("after / before", report["rss_after_over_before"]),
        ("idle before the trim visit / the caches' idle bound (s)", f"{report['idle_s']:.0f} / {report['cache_idle_s']:.0f}"),
    ]
    lines = ["| measure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    lines += ["", "| action | count | p50 ms | p95 ms |", "|---|---|---|---|"]
    lines += [f"| {kind} | {v['count']} | {v['p50']:.0f} | {v['p95']:.0f} |"
              for kind, v in report["per_action_ms"].items()]
    lines += [f"| the teacher's own: {kind} | {v['count']} | {v['p50']:.0f} | {v['p95']:.0f} |"
              for kind, v in report["teacher_per_action_ms"].items()]
    lines += ["", f"Machine: {report['machine']}."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", "-n", type=int, default=int(os.environ.get("N", 10)))
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--idle", type=float, default=IDLE_S, help="seconds idle before the trim visit")
    parser.add_argument("--cache-idle", type=float, default=CACHE_IDLE_S,
                        help="the server's idle bound on cached traces (SCOPE_CACHE_IDLE_S)")
    parser.add_argument("--mode", choices=(EXPLORE, FOLLOW), default=EXPLORE,
                        help="each session on its own, or every session following one teacher's")
    parser.add_argument("--pin", action="store_true", help="the server on the first core, the clients on the others")
    parser.add_argument("--light", action="store_true",
                        help="(with --mode follow) the students as light protocol clients, not browsers")
    args = parser.parse_args()
    report = run(args.sessions, args.duration, args.idle, cache_idle_s=args.cache_idle, mode=args.mode, pin=args.pin,
                 light=args.light)
    print(table(report))
    for line in report["errors"] + report["leaks"]:
        print(line)
    return 1 if report["errors"] or report["leaks"] or report["server_tracebacks"] else 0


if __name__ == "__main__":
    sys.exit(main())
