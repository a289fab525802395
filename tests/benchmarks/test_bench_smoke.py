"""The benchmark scripts run (tiny graphs, no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORKLOADS = ("map-10", "map-100", "chain-10", "layers-3x5", "sleep", "arrays", "checkpoint")
EXECUTORS = ("local", "threads", "processes", "dask")


def run(script: str, *args: str) -> str:
    env = {**os.environ, "HEADWATER_JOURNAL": "false"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_suite_tiny_run_writes_every_row(tmp_path: Path) -> None:
    run("suite.py", "--sizes", "tiny", "--out", str(tmp_path / "bench"))
    report = json.loads((tmp_path / "bench.json").read_text())
    page = (tmp_path / "bench.md").read_text()

    rows = {(r["workload"], r["executor"]): r for r in report["rows"]}
    assert set(rows) == {(w, e) for w in WORKLOADS for e in EXECUTORS}
    for (workload, executor), r in rows.items():
        assert r["headwater_s"] > 0 and r["raw_s"] > 0 and r["ratio"] > 0, (workload, executor)
        assert r["repeats"] == 1 and r["tasks"] > 0
        assert any(
            line.startswith(f"| {r['label']} | {executor} |") for line in page.splitlines()
        ), (workload, executor)
    sleep = rows["sleep", "dask"]
    assert sleep["threads"] == 16 and sleep["ideal_s"] > 0 and sleep["headwater_vs_ideal"] > 0

    assert report["meta"]["settings"]["HEADWATER_JOURNAL"] == "false"
    assert "HEADWATER_JOURNAL=false" in page
    assert report["import_time"]["importtime_cumulative_s"] > 0
    assert report["memory"] and all(
        m[side]["peak_mib"] > 0 for m in report["memory"] for side in ("headwater", "raw")
    )
    assert rows["map-100", "dask"]["raw_name"] == "dask.bag (Client)"
    assert rows["map-100", "processes"]["raw_name"] == "dask.bag (processes)"
    assert rows["chain-10", "dask"]["raw_name"] == "client futures"
    assert len(report["targets"]) == 12 and all(t["met"] is None for t in report["targets"])
    assert "## Targets (issue 14)" in page


def test_bench_memory_small_run() -> None:
    stdout = run("bench_memory.py", "--runs", "3", "--tasks", "100")
    assert "scheduler:" in stdout and "driver:" in stdout and "OK" in stdout


def test_a_raw_side_dask_cannot_run_is_reported_and_the_suite_goes_on() -> None:
    """dask.multiprocessing.get ends in a RecursionError on chains of 1,000 and more: the cell
    says so (no ratio, and its target is not judged) instead of ending the whole run."""
    import dataclasses

    from benchmarks import report, suite
    from benchmarks.workloads import map_reduce

    def too_deep() -> int:
        raise RecursionError("maximum recursion depth exceeded")

    workload = dataclasses.replace(map_reduce(10), python=too_deep)
    row = suite.bench_cell(workload, "local", None, repeats=2, budget=60)  # type: ignore[arg-type]
    assert row["headwater_s"] > 0 and row["repeats"] == 2
    assert row["raw_s"] is None and row["ratio"] is None and row["overhead_us_per_task"] is None
    assert row["raw_error"] == "RecursionError: maximum recursion depth exceeded"
    row["load_1min"] = 1.0
    targets = report.targets([{**row, "workload": "chain-200", "executor": "threads"}], [], "full")
    chain = next(t for t in targets if t["target"].startswith("chain of 200, threads"))
    assert chain["met"] is None and "raw side failed: RecursionError" in chain["measured"]
