"""The benchmark scripts run (tiny graphs, no timing assertions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    env = {**os.environ, "HEADWATER_JOURNAL": "false"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_bench_executors_small_run() -> None:
    stdout = run("bench_executors.py", "--small")
    for graph in ("map", "chain", "layers", "sleep"):
        for kind in ("local", "threads", "processes", "dask", "raw dask.threaded"):
            assert any(line.split()[:2] == [graph, kind.split()[0]] for line in stdout.splitlines())


def test_bench_memory_small_run() -> None:
    stdout = run("bench_memory.py", "--runs", "3", "--tasks", "100")
    assert "scheduler:" in stdout and "driver:" in stdout and "OK" in stdout
