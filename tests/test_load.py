"""The load test's short form (bench/load.py; `make load` runs the long one): three real browser sessions
against a real server for about fifteen seconds, each typing its own text, stepping heads, generating and
switching pages. No errors, no session ever sees another's text, every action finished, and the server's
memory after the sessions have gone is back within 10% of where it was after warm-up: the server drops the
traces nobody read for CACHE_IDLE_S (shorter than the app's two minutes, to keep the test short) at the trim
visit, IDLE_S after the sessions have gone.

Times are measured and written to test-artifacts/load-explore-3.json, never asserted.
"""

from __future__ import annotations

import pytest

from bench import load

pytestmark = pytest.mark.load

SESSIONS, DURATION_S, IDLE_S, CACHE_IDLE_S = 3, 15, 15, 10
ACTIONS = {"open", "new text", "switch page", "next head", "generate"}


def test_three_sessions_at_once_stay_apart_without_errors():
    report = load.run(SESSIONS, DURATION_S, IDLE_S, cache_idle_s=CACHE_IDLE_S)
    print("\n" + load.table(report))
    assert report["errors"] == [] and report["server_tracebacks"] == 0
    assert report["leaks"] == []
    assert set(report["per_action_ms"]) == ACTIONS
    for session in report["per_session"]:
        assert session["cycles"] >= 1 and session["actions"] >= len(ACTIONS) + 3, session
    assert report["reruns"] >= report["actions"]
    rss = report["rss_mb"]
    assert 0 < rss["before"] <= rss["peak"]
    assert rss["after"] <= 1.10 * rss["before"], rss
    assert report["cold_start_s"] > 0 and report["idle_s"] > report["cache_idle_s"]
