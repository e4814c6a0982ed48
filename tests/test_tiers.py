"""The tests' own house rules: test files share helpers through tests/support/ and conftest.py, never by importing
one another; the slow tiers that `make check` leaves out are the markers pytest.ini declares, and conftest.py
keeps each of them together on pytest-xdist workers."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

from tests.support.tiers import BROWSER_TIERS, MODULE_TIERS

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
NOT_TIERS = {"xdist_group"}  # declared for --strict-markers, not a tier


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def declared_markers() -> set[str]:
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    return {line.split(":", 1)[0].strip() for line in ini["pytest"]["markers"].strip().splitlines()}


def test_no_test_file_imports_another_or_the_conftest():
    test_modules = {p.stem for p in TESTS.glob("test_*.py")} | {"conftest"}
    wrong = {str(path.relative_to(TESTS)): sorted(name for name in imported_modules(path)
                                                  if name.removeprefix("tests.") in test_modules)
             for path in TESTS.rglob("*.py")}
    assert not {path: names for path, names in wrong.items() if names}, "share it through tests/support/ or conftest.py"


def test_make_check_leaves_out_exactly_the_declared_tiers():
    tiers = declared_markers() - NOT_TIERS
    makefile = (ROOT / "Makefile").read_text()
    left_out = re.search(r"^SLOW_TIERS := (.+)$", makefile, re.M).group(1).split(" or ")
    assert set(left_out) == tiers
    assert re.search(r'^check:.*\blint\b[\s\S]*?-m "not \(\$\(SLOW_TIERS\)\)"', makefile, re.M)
    test = re.search(r"^test:.*\blint\b\n\t([^\n]*)\$\(PYTEST\)([^\n]*)\n", makefile, re.M)
    assert test and " -m " not in f" {test.group(1)} {test.group(2)} ", "make test runs every tier"


def test_every_tier_is_kept_together_on_one_worker():
    assert set(BROWSER_TIERS) | set(MODULE_TIERS) == declared_markers() - NOT_TIERS
    assert not set(BROWSER_TIERS) & set(MODULE_TIERS)


def test_pytest_xdist_schedules_a_group_on_one_worker(pytester, monkeypatch):
    """The groups conftest.py gives really keep a tier on one worker (pytest-xdist's own naming of a group is lost
    on pytest 9): four tests of one tier run on one of two workers."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the conftest's helpers: tests/support
    pytester.makeconftest((TESTS / "conftest.py").read_text(encoding="utf-8"))
    pytester.makeini((ROOT / "pytest.ini").read_text(encoding="utf-8").replace("testpaths = tests\n", ""))
    pytester.makepyfile(test_grouped="""
        import pytest, time
        pytestmark = pytest.mark.parity
        @pytest.mark.parametrize("n", range(4))
        def test_slow(n):
            time.sleep(0.2)
    """)
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider")
    workers = {line.split("]")[0] for line in result.outlines if "PASSED" in line and line.startswith("[gw")}
    assert result.ret == 0 and len(workers) == 1, result.outlines
