"""benchmarks/bench_scale.py runs on tiny sizes and its functions import (no timing
assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_scale_small_run(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    env = {**os.environ, "HEADWATER_JOURNAL": "false"}
    args = ["--sizes", "3000", "--executors", "local,threads,dask", "--raw", "300"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(out.read_text())["rows"]
    kinds = {(r["n"], r["executor"]) for r in rows}
    assert {(3000, "local"), (3000, "threads"), (3000, "dask"), (300, "raw client.map")} <= kinds
    assert all(r["ok"] for r in rows)
    big = [r for r in rows if r["n"] == 3000]
    assert all(r["graph_nodes"] < 3000 for r in big)  # batched
    assert "raw client.map / headwater on dask" in done.stdout


def test_run_scale_is_importable_and_reports_a_run() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.bench_scale import run_scale
    finally:
        sys.path.remove(str(ROOT))
    before = os.environ.get("HEADWATER_JOURNAL")
    row = run_scale(2500, "local")
    assert os.environ.get("HEADWATER_JOURNAL") == before  # the journal switch is restored
    assert row["ok"] and row["n"] == 2500 and row["executor"] == "local"
    assert row["counts"] == {"Success": 2500}
    assert row["driver_peak_mb"] >= row["driver_start_mb"] > 0
