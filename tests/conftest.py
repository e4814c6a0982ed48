"""Fixtures every test file may take: the installed models (each loaded once per test process), and one app
server and one Chromium for the browser tests. Helpers live in tests/support/.

The served app hides exception details from viewers (.streamlit/config.toml); tests must see them."""

from __future__ import annotations

import viz  # noqa: F401  (first: viz/process.py's settings must precede torch's loading, here and in workers)

# isort: split

import json
import os
import time

import pytest
from _pytest.nodeid import NodeId
from streamlit import config

from tests.support import browser as browsers
from tests.support import figures
from tests.support.models import loaded
from tests.support.tiers import BROWSER_TIERS, MODULE_TIERS

pytest_plugins = ["pytester"]  # tests/test_tiers.py runs pytest-xdist on a small suite

config.set_option("client.showErrorDetails", "full")

# `make check` and `make test` name their tier: the run's counts and time go to test-artifacts/tier-<name>.json
# for the README (bench/tiers.py prints them), so the numbers there come from a run, not from memory.
TIER_ENV = "TRANSFORMERSCOPE_TIER"
STARTED = pytest.StashKey[tuple[float, float]]()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup`: the browser tests on one worker (one app server, and the heaviest work kept off
    the other worker), and each slow module's tests together (its reference model loaded once)."""
    for item in items:
        if any(item.get_closest_marker(tier) for tier in BROWSER_TIERS):
            group = "browser"
        elif any(item.get_closest_marker(tier) for tier in MODULE_TIERS):
            group = item.module.__name__
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
        if getattr(config.option, "loadgroup", False):
            # pytest-xdist 3.8 names the group in `item._nodeid`, which pytest 9 no longer reads (a node's id is
            # `item._id`): without this every test would be scheduled alone and the groups would split.
            item._id = NodeId.parse(f"{item.nodeid}@{group}")


def pytest_sessionstart(session):
    session.config.stash[STARTED] = (time.monotonic(), os.getloadavg()[0])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tier = os.environ.get(TIER_ENV)
    if not tier or hasattr(config, "workerinput"):  # a pytest-xdist worker: its controller writes the record
        return
    began, load_before = config.stash[STARTED]
    counts = {kind: len(terminalreporter.stats.get(kind, [])) for kind in ("passed", "failed", "error", "skipped")}
    record = {"tier": tier, **counts, "seconds": round(time.monotonic() - began, 1), "exit_status": int(exitstatus),
              "markers": config.getoption("markexpr") or "", "workers": config.getoption("numprocesses", None),
              "cores": os.cpu_count(), "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
    browsers.ARTIFACTS.mkdir(exist_ok=True)
    (browsers.ARTIFACTS / f"tier-{tier}.json").write_text(json.dumps(record, indent=2) + "\n")


@pytest.fixture(scope="session")
def smollm2_135m():
    return loaded("smollm2-135m")


@pytest.fixture(scope="session")
def minilm_l6():
    return loaded("minilm-l6")


@pytest.fixture(scope="session")
def gemma3_270m():
    return loaded("gemma3-270m")


@pytest.fixture(scope="session")
def classic():
    return loaded("classic")


@pytest.fixture(scope="session")
def tiny_translator():
    return loaded("tiny-translator")


@pytest.fixture(scope="session")
def builder_arguments():
    return figures.builder_arguments()


@pytest.fixture(scope="session")
def app_server():
    """`streamlit run app.py` on a free port, shared by the browser tests of this process."""
    running = browsers.start_server(browsers.ARTIFACTS / "browser-test-server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright; each test opens its own context (tab) in it. Per
    module: Playwright's sync API runs one at a time in a thread, and the load test drives its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=browsers.CHROMIUM, args=browsers.CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def store(tmp_path):
    """A classroom database of its own (SQLite in a temporary file)."""
    from viz import classroom

    return classroom.Store(f"sqlite:///{tmp_path / 'class.sqlite3'}")


@pytest.fixture
def database(tmp_path, monkeypatch) -> str:
    """The app's classroom database for this test: SQLite in a temporary file, named by the environment variable."""
    from viz import classroom

    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    monkeypatch.setenv(classroom.DATABASE_URL_ENV, url)
    return url

