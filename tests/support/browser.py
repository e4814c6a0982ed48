"""Helpers for the browser tests: a real Streamlit server on a free port, and waits on the page.

Every wait is a readiness wait with a deadline, never a timing assertion: a slow
machine makes the tests slower, not flaky.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI runs as root; the rest keeps Chromium from calling home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_DEADLINE_S = 120
# Settled: Streamlit's own e2e tests wait for the script state; the page has also drawn every
# element (no lazy-loaded component still showing its skeleton, no element left stale by a rerun).
SETTLED_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app !== null
        && app.getAttribute('data-test-connection-state') === 'CONNECTED'
        && app.getAttribute('data-test-script-state') === 'notRunning'
        && document.querySelector('[data-testid="stSkeleton"], [data-stale="true"]') === null;
}"""
SHOT_MAX_PX = 12_000
CONTENT_HEIGHT_JS = """() => Math.max(document.body.scrollHeight,
    ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"]')]
        .map(element => element.scrollHeight))"""
# Loading SmolLM2 on a slow two-core machine, then running it, can take a while.
PAGE_DEADLINE_MS = 120_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def start_server(log: Path, extra_args: Sequence[str] = (), port: int | None = None, root: Path = REPO) -> Server:
    """Start `streamlit run app.py` from the repo root and return once it answers its health check.
    `extra_args`: more `--section.option value` pairs (the load test shortens the disconnected sessions' TTL);
    `root`: another checkout of the app (bench/browser.py measures an older revision beside this one)."""
    port = port or free_port()
    command = [
        str(root / ".venv" / "bin" / "streamlit"), "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        *extra_args,
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    # A file, not a pipe: a pipe nobody reads fills up and blocks the server.
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    deadline = time.monotonic() + SERVER_START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{server.log_tail()}")
        if _healthy(server.url):
            return server
        time.sleep(0.5)  # polling interval of a bounded readiness wait
    server.stop()
    raise RuntimeError(f"streamlit was not healthy after {SERVER_START_DEADLINE_S} s:\n{server.log_tail()}")


def wait_until_settled(page, timeout_ms: int = PAGE_DEADLINE_MS) -> None:
    """Wait until Streamlit has finished the run for the last interaction and drawn all of it."""
    page.wait_for_function(SETTLED_JS, timeout=timeout_ms)


def open_page(page, url: str, ready_selector: str, timeout_ms: int = PAGE_DEADLINE_MS) -> None:
    """Load a URL and wait for the app to draw `ready_selector` and settle."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_selector(ready_selector, timeout=timeout_ms)
    wait_until_settled(page, timeout_ms)


def screenshot(page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so the window grows to fit it first."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    window = page.viewport_size
    content = page.evaluate(CONTENT_HEIGHT_JS)
    page.set_viewport_size({"width": window["width"], "height": min(max(content, window["height"]), SHOT_MAX_PX)})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(window)
        wait_until_settled(page)
    return path


def resident_mb(pid: int) -> float:
    """A process's resident memory (VmRSS) in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
