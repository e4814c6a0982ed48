"""Fixtures every test file may take: the installed models (each loaded once per test process), and one app
server and one Chromium for the browser tests. Helpers live in tests/support/.

The served app hides exception details from viewers (.streamlit/config.toml); tests must see them."""

from __future__ import annotations

import pytest
from streamlit import config

from tests.support import browser as browsers
from tests.support import figures
from tests.support.models import loaded

config.set_option("client.showErrorDetails", "full")


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
