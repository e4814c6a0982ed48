"""Serving a class from several replicas: deploy/replicas.sh starts two `streamlit run` replicas on loopback
ports and Debian's nginx in front of them (deploy/nginx/transformerscope.conf); a browser opens a page
through nginx, changes the head, and every request of its session (its websocket included) reached the
same replica: nginx names the replica in a response header and in its access log. A replica killed during a
lesson leaves its student on the other one, on the same view, and is started again.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest
from playwright.sync_api import sync_playwright

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PAGE_DEADLINE_MS, REPO, _healthy, wait_until_settled

pytestmark = pytest.mark.serving

SCRIPT = REPO / "deploy" / "replicas.sh"
SITE = REPO / "deploy" / "nginx" / "transformerscope.conf"
START_DEADLINE_S = 180
HEADER = "x-transformerscope-replica"
HEAT_MAP_JS = """() => {
    for (const graph of document.querySelectorAll('.js-plotly-plot')) {
        const title = graph.layout && graph.layout.title && graph.layout.title.text;
        if (title && title.includes('Self-attention, layer')) return title.replace(/<[^>]*>/g, '');
    }
    return null;
}"""


def nginx_binary() -> str:
    """Debian's nginx, installed here if missing (as `make nginx` does); a clear failure if it cannot be."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found:
        return found
    install = subprocess.run("apt-get update -qq && apt-get install -y -qq nginx", shell=True,
                             capture_output=True, text=True)
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        pytest.fail("nginx is not installed and `apt-get install nginx` failed (run `make nginx` as root, or "
                    f"install Debian's nginx package):\n{install.stderr[-2000:]}")
    return found


def free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def consecutive_free_ports(count: int) -> int:
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        if all(free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free consecutive ports")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    nginx = nginx_binary()
    run_dir = tmp_path_factory.mktemp("replicas")
    base = consecutive_free_ports(3)
    port, replicas = base + 2, [base, base + 1]
    env = {**os.environ, "PORT": str(port), "BASE_PORT": str(base), "RUN_DIR": str(run_dir), "NGINX": nginx}
    env.pop("TRANSFORMERSCOPE_COOKIE_SECRET", None)
    log = (ARTIFACTS / "serving-replicas.log")
    ARTIFACTS.mkdir(exist_ok=True)
    with log.open("w") as out:
        script = subprocess.Popen([str(SCRIPT), "2"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    urls = [f"http://127.0.0.1:{p}" for p in (port, *replicas)]
    deadline = time.monotonic() + START_DEADLINE_S
    while not all(_healthy(url) for url in urls):
        if script.poll() is not None or time.monotonic() > deadline:
            script.kill()
            pytest.fail(f"the replicas or nginx did not start:\n{log.read_text()[-3000:]}\n"
                        + "\n".join(p.read_text()[-1500:] for p in run_dir.glob("*.log")))
        time.sleep(0.5)  # polling interval of a bounded readiness wait
    yield {"url": urls[0], "replicas": [f"127.0.0.1:{p}" for p in replicas], "run_dir": run_dir,
           "script": script, "urls": urls}
    script.send_signal(signal.SIGTERM)
    script.wait(timeout=60)
    for path in run_dir.glob("*.log"):
        shutil.copy(path, ARTIFACTS / f"serving-{path.name}")


def test_the_site_file_is_a_sticky_websocket_proxy():
    site = SITE.read_text()
    assert "ip_hash;" in site and "location /_stcore/stream" in site
    assert "proxy_set_header Upgrade $http_upgrade;" in site and "proxy_read_timeout" in site
    assert len(re.findall(r"server 127\.0\.0\.1:\d+;\s+# replicas", site)) >= 2


def test_a_session_through_nginx_works_and_stays_on_one_replica(served):
    replicas_seen: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(PAGE_DEADLINE_MS)
            page = context.new_page()
            page.on("response", lambda response: replicas_seen.append(response.headers.get(HEADER, "")))
            page.goto(f"{served['url']}/attention?model=minilm-l6&layer=0&head=0", wait_until="domcontentloaded")
            page.wait_for_function(f"() => ({HEAT_MAP_JS})()?.endsWith('head 0')", timeout=PAGE_DEADLINE_MS)
            wait_until_settled(page)
            page.locator(".st-key-head-next button").filter(visible=True).first.click()
            page.wait_for_function(f"() => ({HEAT_MAP_JS})()?.endsWith('head 1')", timeout=PAGE_DEADLINE_MS)
            wait_until_settled(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert "head=1" in page.url
            context.close()  # the websocket closes: nginx writes its access-log line
        finally:
            browser.close()

    http = {replica for replica in replicas_seen if replica}
    assert len(http) == 1 and http <= set(served["replicas"]), replicas_seen
    access = served["run_dir"] / "access.log"
    deadline = time.monotonic() + 30
    streams: list[str] = []
    while not streams and time.monotonic() < deadline:
        streams = [line for line in access.read_text().splitlines() if "/_stcore/stream" in line]
        time.sleep(0.2)  # polling interval of a bounded wait for nginx's log line
    assert streams, access.read_text()[-2000:]
    upstreams = {re.search(r"upstream=(\S+)", line).group(1) for line in streams}
    assert all(" 101 " in line for line in streams), streams  # upgraded to a websocket
    assert upstreams == http, (upstreams, http)
    # Both replicas were up all along: staying on one was nginx's choice, not the only one left.
    assert all(_healthy(url) for url in served["urls"][1:])
    secret = served["run_dir"] / "cookie-secret"
    assert secret.stat().st_mode & 0o077 == 0 and len(secret.read_text()) == 64


def test_nginx_workers_can_buffer_to_the_run_folder(served):
    """nginx spools a large response (the Plotly bundle) to RUN_DIR/tmp when the browser reads it slowly: its
    workers must own what they create there, even under a private (0700) folder such as pytest's."""
    run_dir = served["run_dir"]
    assert (run_dir / "tmp" / "proxy").stat().st_uid == os.getuid()
    assert "[crit]" not in (run_dir / "nginx-error.log").read_text()


def test_a_replica_that_dies_leaves_its_student_on_the_same_view_on_the_other(served):
    """A replica is killed during a lesson: the student's browser reconnects through nginx to the other one and
    shows the same view (the URL holds it) with no error box, goes on working there, and the script starts the
    dead replica again."""
    seen: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(PAGE_DEADLINE_MS)
            page.on("response", lambda response: seen.append(response.headers.get(HEADER, "")))
            page.goto(f"{served['url']}/attention?model=minilm-l6&layer=1&head=2", wait_until="domcontentloaded")
            page.wait_for_function(f"() => ({HEAT_MAP_JS})()?.endsWith('head 2')", timeout=PAGE_DEADLINE_MS)
            wait_until_settled(page)
            first = next(replica for replica in seen if replica)
            other = next(replica for replica in served["replicas"] if replica != first)
            port = first.rsplit(":", 1)[1]
            pid = int((served["run_dir"] / f"replica-{port}.pid").read_text())
            heat_map = page.evaluate(HEAT_MAP_JS)
            page.evaluate("() => { window.__beforeTheFault = true; }")

            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + PAGE_DEADLINE_MS / 1000
            while other not in seen and time.monotonic() < deadline:
                page.wait_for_timeout(200)  # polling interval of a bounded wait for the reconnection
            assert other in seen, f"no response from the other replica {other}: {set(seen)}"
            # Drawn again by the other replica (the page loaded again from its URL), not left drawn by the dead one.
            page.wait_for_function("() => window.__beforeTheFault === undefined", timeout=PAGE_DEADLINE_MS)
            page.wait_for_function(f"() => ({HEAT_MAP_JS})() === {json.dumps(heat_map)}", timeout=PAGE_DEADLINE_MS)
            wait_until_settled(page)
            assert page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count() == 0
            assert "layer=1" in page.url and "head=2" in page.url

            page.locator(".st-key-head-next button").filter(visible=True).first.click()
            page.wait_for_function(f"() => ({HEAT_MAP_JS})()?.endsWith('head 3')", timeout=PAGE_DEADLINE_MS)
            wait_until_settled(page)
            assert page.locator('[data-testid="stException"]').count() == 0 and "head=3" in page.url
        finally:
            browser.close()
    assert served["script"].poll() is None, "the script kept serving with one replica gone"
    deadline = time.monotonic() + START_DEADLINE_S
    replica_url = f"http://{first}"
    while not _healthy(replica_url) and time.monotonic() < deadline:
        time.sleep(0.5)  # polling interval of a bounded wait for the restarted replica
    assert _healthy(replica_url), "the dead replica was started again"
    assert int((served["run_dir"] / f"replica-{port}.pid").read_text()) != pid


def test_stopping_the_script_stops_the_replicas_and_nginx(served):
    served["script"].send_signal(signal.SIGTERM)
    served["script"].wait(timeout=60)
    deadline = time.monotonic() + 60
    while any(_healthy(url) for url in served["urls"]) and time.monotonic() < deadline:
        time.sleep(0.5)  # polling interval of a bounded wait for the processes to end
    assert not any(_healthy(url) for url in served["urls"])
