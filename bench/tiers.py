"""`make test-times`: the last `make check` and `make test` runs, as the README says them (English and 简体中文).

Each tier's run writes test-artifacts/tier-<name>.json (tests/conftest.py): its counts, its pytest time, the
machine's cores and the load average when it started and ended. A tier never run here is said to be missing.
"""

from __future__ import annotations

import json
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TIERS = ("check", "test")


def sentence(record: dict) -> tuple[str, str]:
    """The tier in one English and one Chinese sentence."""
    count, minutes = record["passed"], record["seconds"] / 60
    load = f"{record['load_before']:.1f}–{record['load_after']:.1f}"
    problems = record["failed"] + record["error"]
    english = (f"`make {record['tier']}` ran {count:,} tests in {minutes:.1f} minutes on {record['cores']} cores "
               f"(load average {load}, {record['workers'] or 1} pytest workers)")
    chinese = (f"`make {record['tier']}` 在 {record['cores']} 核机器上用 {minutes:.1f} 分钟跑完 {count:,} 个测试"
               f"（平均负载 {load}，{record['workers'] or 1} 个 pytest 进程）")
    if record["skipped"]:
        english += f", {record['skipped']} skipped"
        chinese += f"，跳过 {record['skipped']} 个"
    if problems:
        english += f", {problems} FAILED"
        chinese += f"，{problems} 个失败"
    return english + ".", chinese + "。"


def main() -> int:
    for tier in TIERS:
        path = ARTIFACTS / f"tier-{tier}.json"
        if not path.exists():
            print(f"`make {tier}`: no record ({path.relative_to(ARTIFACTS.parent)}); run `make {tier}` first.")
            continue
        for line in sentence(json.loads(path.read_text())):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
