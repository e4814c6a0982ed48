"""The speed a teacher feels: in a real browser, from a click (or a key) to the painted result.

Headless Chromium (/usr/bin/chromium, driven by Playwright) against a real `streamlit run` server, for the
four targets of a live lesson (issue 20):

  - a generation step: "Next token" on the Next-token page (SmolLM2, Gemma 3);
  - a head or layer step: ◀ ▶ and the sliders under the Attention page's heat map, and the lesson bar's
    Page Down, which steps through the heads before it leaves the page;
  - a page switch with the trace cached: Page Down along the whole lesson path, a second time (the first
    walk, which loads models and runs the texts, is reported apart: it has no target);
  - a new short text typed into the sidebar (Ctrl+Enter) on the Attention and Next-token pages, SmolLM2 and
    Gemma 3.

Each action is timed inside the page: `performance.now()` just before the click, then every animation frame
until the expected change is on the page and Streamlit has settled (the run finished, nothing stale, no
skeleton), then one more frame, so the result has been painted. The moment the browser learnt that the
server's run had finished is reported beside it. `--baseline REF` starts a second server on the code of a git
revision (exported with `git archive`, sharing this checkout's .venv) and measures both, action by action in
alternation, so that the other work on a shared machine weighs on both alike: compare the two columns of
one run, not figures of different runs.

    python -m bench.browser [--baseline REF] [--repeats N] [--only generation]

Prints a Markdown table and writes test-artifacts/browser-bench.json. No figure here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SETTLED_JS, start_server  # noqa: E402

MODELS = ("smollm2-135m", "gemma3-270m")
START_TEXT = "The animal didn't cross the street because it was too tired"
# New short texts: each names a word no earlier text had, so the page shows it once it has run the text.
ANIMALS = ("cat", "dog", "horse", "bird", "fox", "cow", "goat", "sheep", "duck", "mouse", "frog", "bear")
TARGETS_MS = {
    "generation step": 300,
    "head or layer step": 300,
    "page switch, trace cached": 1000,
    "new short text": 1500,
}
FIRST_VISIT = "page switch, first visit"
PER_PAGE = "→ "  # an action named by the page it arrived on (--per-page): already counted in its walk's row
DEADLINE_MS = 180_000  # a safety net for one action on a busy machine, not a measure

# Every change of Streamlit's script state, stamped: when the browser learnt that a run began or finished.
RUNS_JS = """() => {
    window.__scopeRuns = [];
    new MutationObserver((changes) => {
        for (const change of changes) {
            window.__scopeRuns.push([change.target.getAttribute('data-test-script-state'), performance.now()]);
        }
    }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
}"""
MARK_JS = "() => { window.__scopeT0 = performance.now(); }"
# Resolves once done(arg) holds on a settled page and one more frame has been painted.
PAINTED_JS = """async ([done, arg, deadline]) => {
    const check = eval(done), settled = SETTLED, frame = () => new Promise((r) => requestAnimationFrame(r));
    const t0 = window.__scopeT0;
    while (!(check(arg) && settled())) {
        if (performance.now() - t0 > deadline) return null;
        await frame();
    }
    await frame();
    const painted = performance.now() - t0;
    const finished = window.__scopeRuns.filter(([state, t]) => state === 'notRunning' && t >= t0).map(([, t]) => t - t0);
    return {painted, finished: finished.length ? Math.min(Math.max(...finished), painted) : null};
}""".replace("SETTLED", SETTLED_JS)

HEAT_MAP_TITLE_JS = """() => {
    for (const graph of document.querySelectorAll('.js-plotly-plot')) {
        const title = graph.layout?.title?.text;
        if (title && title.includes('layer') && (graph.data || []).some((t) => t.type === 'heatmap')) return title;
    }
    return null;
}"""
LESSON_BAR_JS = "() => document.querySelector('.st-key-lesson-bar')?.innerText ?? null"
TITLE_JS = "() => document.querySelector('[data-testid=\"stMain\"] h1')?.textContent ?? null"
# The generated chips (a character still being written is one dashed chip whose bytes grow, not a new chip).
CHIPS_JS = "() => [...document.querySelectorAll('.nt-generated')].map((chip) => chip.outerHTML).join('')"
SHOWN_JS = """(word) => [document.querySelector('[data-testid="stMain"]')?.innerText ?? '',
    ...[...document.querySelectorAll('[data-testid="stMain"] svg text')].map((t) => t.textContent)].join(' ')
    .includes(word)"""


@dataclass
class Timing:
    target: str
    action: str
    model: str
    painted_ms: list[float] = field(default_factory=list)
    finished_ms: list[float] = field(default_factory=list)
    server_cpu_ms: list[float] = field(default_factory=list)
    browser_cpu_ms: list[float] = field(default_factory=list)


@dataclass
class Client:
    """One server and the tab that measures it; `timings` keyed by (target, action, model)."""

    name: str
    url: str
    server_pid: int
    servers: list[int] = field(default_factory=list)  # every server's pid: the rest below this process is the browser
    page: object = None
    timings: dict[tuple[str, str, str], Timing] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def measure(self, act: Callable[[], None], done_js: str, arg=None, what: str = "") -> dict | None:
        """Time `act` to the painted page on which `done_js(arg)` holds: {painted, finished} in ms, or None (an
        error noted) if the change never came."""
        server = descendants(self.server_pid)
        browser = descendants(os.getpid()) - set().union(*map(descendants, self.servers))
        cpu = cpu_ms(server), cpu_ms(browser)
        self.page.evaluate(MARK_JS)
        act()
        result = self.page.evaluate(PAINTED_JS, [done_js, arg, DEADLINE_MS])
        if result is not None:
            result |= {"server_cpu": cpu_ms(server) - cpu[0], "browser_cpu": cpu_ms(browser) - cpu[1]}
        if result is None:
            self.errors.append(f"{what}: nothing changed within {DEADLINE_MS / 1e3:.0f} s")
        elif self.page.locator('[data-testid="stException"]').count():
            self.errors.append(f"{what}: an exception box")
        return result

    def record(self, target: str, action: str, model: str, result: dict | None) -> None:
        if result is None:
            return
        timing = self.timings.setdefault((target, action, model), Timing(target, action, model))
        timing.painted_ms.append(result["painted"])
        if result["finished"] is not None:
            timing.finished_ms.append(result["finished"])
        timing.server_cpu_ms.append(result["server_cpu"])
        timing.browser_cpu_ms.append(result["browser_cpu"])

    def open(self, path: str, ready_js: str = TITLE_JS) -> None:
        self.page.goto(f"{self.url}/{path}", wait_until="domcontentloaded", timeout=DEADLINE_MS)
        self.page.wait_for_function(f"() => ({ready_js})() && ({SETTLED_JS})()", timeout=DEADLINE_MS)

    def press(self, key: str) -> Callable[[], None]:
        def act():
            self.page.evaluate("() => document.activeElement?.blur()")  # a focused widget would take the key
            self.page.keyboard.press(key)
        return act

    def click(self, key: str) -> Callable[[], None]:
        return lambda: self.page.locator(f".st-key-{key} button").filter(visible=True).first.click()

    def slide(self, key: str) -> Callable[[], None]:
        def act():
            self.page.locator(f".st-key-{key} input[type='range']").first.focus()
            self.page.keyboard.press("ArrowRight")
        return act

    def disabled(self, key: str) -> Callable[[], bool]:
        return lambda: self.page.locator(f".st-key-{key} button").filter(visible=True).first.is_disabled()

    def at_max(self, key: str) -> Callable[[], bool]:
        def check() -> bool:
            slider = self.page.locator(f".st-key-{key} input[type='range']").first
            return slider.input_value() == slider.get_attribute("max")
        return check

    def changed(self, what_js: str) -> str:
        """A check that holds once `what_js()` differs from what it gives now."""
        return f"(before) => {{ const now = ({what_js})(); return now !== null && now !== before; }}"


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after the command name, which may hold spaces


def descendants(root: int) -> set[int]:
    """`root` and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def cpu_ms(pids: set[int]) -> float:
    """CPU time (user + system, all threads) the processes have used so far, in ms."""
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(1e3 * (int(f[11]) + int(f[12])) / ticks for pid in pids if (f := _stat(pid)) is not None)


def query(model: str, text: str, **more) -> str:
    params = {"model": model, "lang": "en", "text": text, **more}
    return "&".join(f"{key}={quote(str(value))}" for key, value in params.items())


# ---------------------------------------------------------------- the scenarios, each run on every client


def generation(client: Client, model: str, repeats: int) -> None:
    client.open(f"next_token?{query(model, START_TEXT)}", "() => document.querySelector('.st-key-nt_next button')")
    for _ in range(repeats):
        chips = client.page.evaluate(CHIPS_JS)
        client.record("generation step", "“Next token” button", model, client.measure(
            client.click("nt_next"), client.changed(CHIPS_JS), chips, f"generation, {model}"))


def head_steps(client: Client, model: str, repeats: int) -> None:
    client.open(f"attention?{query(model, START_TEXT, layer=0, head=0)}", HEAT_MAP_TITLE_JS)
    for action, act, at_end in (("head ▶", client.click("head-next"), client.disabled("head-next")),
                                ("head ◀", client.click("head-previous"), client.disabled("head-previous")),
                                ("head slider (→ key)", client.slide("head"), client.at_max("head")),
                                ("layer ▶", client.click("layer-next"), client.disabled("layer-next")),
                                ("layer slider (→ key)", client.slide("layer"), client.at_max("layer"))):
        for _ in range(repeats):
            if at_end():  # the first or last head: Gemma 3 has 4 a layer
                break
            before = client.page.evaluate(HEAT_MAP_TITLE_JS)
            client.record("head or layer step", action, model, client.measure(
                act, client.changed(HEAT_MAP_TITLE_JS), before, f"{action}, {model}"))


def lesson_walk(client: Client, model: str, cached: bool, per_page: bool = False) -> None:
    """Page Down from the first stop of the lesson to the last: a press that changes the page's title is a page
    switch; one that does not is a step inside the page (the heads on Attention). `per_page`: a row per
    destination as well."""
    client.open(f"?{query(model, START_TEXT)}")
    for _ in range(100):  # more presses than the path has stops and steps
        if client.page.locator(".st-key-lesson-next button").first.is_disabled():
            return
        title, bar = client.page.evaluate(TITLE_JS), client.page.evaluate(LESSON_BAR_JS)
        result = client.measure(client.press("PageDown"), client.changed(LESSON_BAR_JS), bar,
                                f"Page Down from {title}, {model}")
        if result is None:
            return
        arrived = client.page.evaluate(TITLE_JS)
        if arrived != title:
            client.record("page switch, trace cached" if cached else FIRST_VISIT, "Page Down to the next stop",
                          model, result)
            if cached and per_page:
                client.record("page switch, trace cached", f"{PER_PAGE}{arrived}", model, result)
        elif title.endswith("Attention"):
            client.record("head or layer step", "Page Down (the next head)", model, result)
        else:
            client.record("", "Page Down, a step inside another page", model, result)


def new_texts(client: Client, model: str, page_id: str, words: list[str]) -> None:
    client.open(f"{page_id}?{query(model, START_TEXT)}")
    box = client.page.locator('[data-testid="stSidebar"] textarea').first
    for word in words:
        box.fill(f"The {word} didn't cross the street because it was too tired")
        client.record("new short text", f"{catalog_title(page_id)}, Ctrl+Enter", model, client.measure(
            lambda: box.press("Control+Enter"), SHOWN_JS, word, f"new text on {page_id}, {model}"))


def catalog_title(page_id: str) -> str:
    from viz import catalog

    return catalog.BY_ID[page_id].title


def scenarios(repeats: int, per_page: bool = False) -> list[tuple[str, Callable[[Client], None]]]:
    """(name, run on one client): each is run on every client before the next begins."""
    steps = [(f"lesson walk, {model}, first", lambda c, m=model: lesson_walk(c, m, cached=False)) for model in MODELS]
    steps += [(f"lesson walk, {model}, cached", lambda c, m=model: lesson_walk(c, m, cached=True, per_page=per_page))
              for model in MODELS]
    steps += [(f"generation, {model}", lambda c, m=model: generation(c, m, repeats)) for model in MODELS]
    steps += [(f"head steps, {model}", lambda c, m=model: head_steps(c, m, repeats)) for model in MODELS]
    words = iter(ANIMALS)
    for model in MODELS:
        for page_id in ("attention", "next_token"):
            chosen = [next(words) for _ in range(max(2, repeats // 2))]
            steps.append((f"new text, {model}, {page_id}", lambda c, m=model, p=page_id, w=chosen: new_texts(c, m, p, w)))
    return steps


# ---------------------------------------------------------------- servers, the run, the table


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def checkout(ref: str, into: Path) -> Path:
    """The code of git revision `ref` in `into`, with this checkout's virtual environment."""
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / ".venv").symlink_to((REPO / ".venv").resolve())
    return into


def run(baseline: str | None = None, repeats: int = 5, only: str = "", per_page: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="scope-baseline-")) if baseline else None
    roots = [("now", REPO)] + ([(f"baseline {baseline}", checkout(baseline, folder))] if baseline else [])
    servers = []
    load_before = os.getloadavg()
    try:
        for name, root in roots:
            servers.append((name, start_server(ARTIFACTS / f"browser-bench-{name.split()[0]}.log", root=root)))
        pids = [server.process.pid for _, server in servers]
        clients = [Client(name, server.url, server.process.pid, pids) for name, server in servers]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for client in clients:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.set_default_timeout(DEADLINE_MS)
                context.add_init_script(f"({RUNS_JS})()")
                client.page = context.new_page()
            chosen = [(name, scenario) for name, scenario in scenarios(repeats, per_page) if only in name]
            for number, (name, scenario) in enumerate(chosen):
                # Alternate which server goes first, so that neither always meets the other's after-effects.
                for client in clients[number % len(clients):] + clients[: number % len(clients)]:
                    print(f"{client.name}: {name}", file=sys.stderr, flush=True)
                    try:
                        scenario(client)
                    except Exception as exc:  # a missing element, a timeout: reported, the run goes on
                        client.errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
            browser.close()
    finally:
        for _, server in servers:
            server.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    report = {"machine": machine(), "load_average": [load_before[0], os.getloadavg()[0]],
              "clients": {c.name: {"errors": c.errors,
                                   "timings": [t.__dict__ for t in c.timings.values() if t.painted_ms]}
                          for c in clients}}
    (ARTIFACTS / "browser-bench.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return report


def target_medians(report: dict, client: str = "now") -> list[tuple[str, int, str, float]]:
    """(target, its limit in ms, the models measured, the median painted time over every action of it)."""
    rows = []
    for target, limit in TARGETS_MS.items():
        timings = [t for t in report["clients"][client]["timings"]
                   if t["target"] == target and not t["action"].startswith(PER_PAGE)]
        if timings:
            models = " and ".join(sorted({t["model"] for t in timings}))
            rows.append((target, limit, models, statistics.median(ms for t in timings for ms in t["painted_ms"])))
    return rows


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f}" if values else "–"


def table(report: dict) -> str:
    """One row per (target, action, model); for each server, medians of: click → painted (the browser learnt
    the run had finished), and the CPU time the server and the browser spent on it."""
    names = list(report["clients"])
    rows: dict[tuple[str, str, str], dict[str, dict]] = {}
    for name in names:
        for t in report["clients"][name]["timings"]:
            rows.setdefault((t["target"], t["action"], t["model"]), {})[name] = t
    order = [*TARGETS_MS, FIRST_VISIT]
    header = "| target | action | model | n | " + " | ".join(
        f"{name}: painted (run finished), ms | {name}: CPU server + browser, ms" for name in names)
    lines = [header + " | target, ms |", "|---|---|---|---|" + "---|---|" * len(names) + "---|"]
    for key in sorted(rows, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[2], k[1])):
        target, action, model = key
        cells = []
        for name in names:
            t = rows[key].get(name)
            cells += (["–", "–"] if t is None else
                      [f"{_median(t['painted_ms'])} ({_median(t['finished_ms'])})",
                       f"{_median(t['server_cpu_ms'])} + {_median(t['browser_cpu_ms'])}"])
        count = max(len(t["painted_ms"]) for t in rows[key].values())
        limit = TARGETS_MS.get(target)
        lines.append(f"| {target} | {action} | {model} | {count} | " + " | ".join(cells)
                     + f" | {'≤ ' + format(limit, ',') if limit else ''} |")
    lines += ["", f"Machine: {report['machine']}; load average {report['load_average'][0]:.1f} at the start, "
              f"{report['load_average'][1]:.1f} at the end. Medians; on a shared machine compare the columns of one "
              "run, and read the CPU times, which other work inflates far less than the wall-clock ones."]
    for name in names:
        lines += [f"{name}: {error}" for error in report["clients"][name]["errors"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="a git revision to measure beside this checkout, e.g. main")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="only the scenarios whose name contains this, e.g. generation")
    parser.add_argument("--per-page", action="store_true", help="a row for each page the lesson walk arrives on")
    args = parser.parse_args()
    report = run(args.baseline, args.repeats, args.only, args.per_page)
    print(table(report))
    return 1 if any(c["errors"] for c in report["clients"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
