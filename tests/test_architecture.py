"""The import contracts of core/ and viz/ (pyproject.toml, `lint-imports`) hold, and they would catch the wrong
imports they are there to stop."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess:
    chosen = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *chosen], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_the_contracts_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(("module", "wrong_import", "contract"), [
    ("core/lessons/ablation.py", "import core.training.trainer", "core-layers"),  # a lesson importing training
    ("core/engine/model.py", "import core.runtime.registry", "core-layers"),  # the engine importing the runtime
    ("core/runtime/registry.py", "import core.training.live_training", "core-layers"),  # loading imports training
    ("core/record/trace.py", "import streamlit", "core-numbers-only"),
    ("core/lessons/life.py", "import core.lessons.compare", "no-circles"),
    ("viz/figures/attention.py", "import streamlit", "viz-figures-pure"),  # a figure drawing widgets
    ("viz/figures/lens.py", "import viz.state", "viz-figures-pure"),  # a figure reading the session
    ("viz/pages/logit_lens.py", "import viz.pages.inside_block", "viz-pages-independent"),  # a page importing a page
    ("viz/views/lens.py", "import viz.views.block", "viz-views-independent"),  # a view borrowing from another view
])
def test_a_wrong_import_breaks_a_contract(tmp_path, module, wrong_import, contract):
    for part in ("core", "viz"):
        shutil.copytree(REPO / part, tmp_path / part, ignore=shutil.ignore_patterns("data", "__pycache__", "*.po*"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{wrong_import}\n")
    if module == "core/lessons/life.py":  # a circle: compare imports life, life imports compare
        compare = tmp_path / "core/lessons/compare.py"
        compare.write_text(compare.read_text() + "\nimport core.lessons.life\n")
    assert lint_imports(tmp_path, contract).returncode != 0
    target.write_text(target.read_text().replace(f"\n{wrong_import}\n", ""))
    assert lint_imports(tmp_path, contract).returncode == 0, "the same tree without the wrong import keeps it"


SHARED_VIEWS = {"controls", "models", "downloads", "class_link"}  # what several views share, each module named for what it is


def test_every_view_but_the_shared_helpers_is_in_the_independence_contract():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    listed = next(c["modules"] for c in contracts if c["id"] == "viz-views-independent")
    views = {path.stem for path in (REPO / "viz" / "views").glob("*.py")} - {"__init__"}
    assert {name.removeprefix("viz.views.") for name in listed} == views - SHARED_VIEWS
