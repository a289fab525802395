"""`headwater bench`, run as a real program: local, threads and a real local Dask cluster, the
JSON rows, the HTML page, the comparison of two files, and a flow whose answers disagree."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "flows" / "bench_flows.py"


def headwater(
    *args: str, cwd: Path, progress: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEADWATER_PROGRESS": "true" if progress else "false"}
    program = Path(sys.executable).parent / "headwater"
    return subprocess.run(
        [str(program), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


ROW_FIELDS = {
    "executor", "slots", "repeats", "warmup", "runs_s", "wall_median_s", "wall_min_s",
    "wall_max_s", "median_run", "task_runs", "mapped_children", "tasks_per_s", "busy_s",
    "mean_in_flight", "peak_in_flight", "concurrency", "overhead_per_task_s", "states",
    "results_match", "mismatches", "slowest", "driver_before_mib", "driver_peak_mib",
    "worker_peak_mib", "performance_report",
}  # fmt: skip


def test_bench_on_local_threads_and_a_dask_cluster(tmp_path: Path) -> None:
    proc = headwater(
        "bench", f"{FLOWS}:squares", "-p", "n=4",
        "--executor", "local", "--executor", "threads", "--executor", "dask",
        "--repeats", "2", "--warmup", "1", "--json", "a.json", "--html", "a.html",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISMATCH" not in proc.stdout
    header = next(line for line in proc.stdout.splitlines() if line.startswith("executor"))
    assert header.split()[:3] == ["executor", "wall", "median"]
    for label in ("local", "threads", "dask"):
        assert re.search(rf"^{label}\s", proc.stdout, re.M), proc.stdout

    report = json.loads((tmp_path / "a.json").read_text())
    assert report["kind"] == "headwater-bench" and report["ok"] is True
    assert report["flow"] == "squares" and report["parameters"] == {"n": 4}
    assert report["reference_tasks"] == ["total"]
    machine = report["machine"]
    assert machine["cpus"] == os.cpu_count() and len(machine["load"]) == 3
    assert machine["versions"]["distributed"] and machine["versions"]["headwater"]
    rows = {row["executor"]: row for row in report["rows"]}
    assert list(rows) == ["local", "threads", "dask"]
    for label, row in rows.items():
        assert ROW_FIELDS <= set(row), ROW_FIELDS - set(row)
        assert row["results_match"] is True and row["mismatches"] == []
        assert row["states"] == ["Success", "Success"] and len(row["runs_s"]) == 2
        assert row["wall_min_s"] <= row["wall_median_s"] <= row["wall_max_s"]
        # numbers, total, n, pause and 4 children: every run counted, children apart
        assert (row["task_runs"], row["mapped_children"]) == (8, 4), label
        assert row["tasks_per_s"] == row["task_runs"] / row["runs_s"][row["median_run"]]
        # four 20 ms sleeps: at least 80 ms of task time, never more than the slots allow
        assert row["busy_s"] >= 0.08
        assert 0 < row["concurrency"] <= 1.0 + 1e-6
        assert row["peak_in_flight"] <= row["slots"]
        assert row["overhead_per_task_s"] >= 0
        assert row["driver_peak_mib"] >= row["driver_before_mib"] > 0
        assert row["slowest"][0]["task"].startswith("square[")
    assert rows["local"]["slots"] == 1 and rows["local"]["peak_in_flight"] == 1
    assert rows["local"]["worker_peak_mib"] is None
    workers = rows["dask"]["worker_peak_mib"]
    assert workers and all(w.startswith("tcp://127.0.0.1:") and v > 0 for w, v in workers.items())
    assert {s["worker"] for s in rows["dask"]["slowest"]} <= set(workers)

    page = (tmp_path / "a.html").read_text()
    for label in ("local", "threads", "dask"):
        assert f'id="executor-{label}"' in page and f"{label}: median run" in page
    assert page.count('class="headwater-timeline"') == 3 and 'data-task="square[3]"' in page
    assert "Slowest task runs" in page and "<script" not in page
    dask_report = tmp_path / rows["dask"]["performance_report"]
    assert dask_report.is_file() and "Dask Performance Report" in dask_report.read_text()
    assert 'href="a-dask-reports/dask-report-dask.html"' in page

    # a second file, as another machine would write it: dask twice as slow there
    other = json.loads(json.dumps(report))
    for row in other["rows"]:
        if row["executor"] == "dask":
            row["wall_median_s"] *= 2
    other["machine"]["cpus"] = 64
    (tmp_path / "b.json").write_text(json.dumps(other))
    compared = headwater("bench", "compare", "a.json", "b.json", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    lines = compared.stdout.splitlines()
    assert any(line.split() == ["cpus", str(os.cpu_count()), "64"] for line in lines)
    walls = {line.split()[0]: line.split()[-1] for line in lines if "wall median" in line}
    assert walls == {"local": "1.00x", "threads": "1.00x", "dask": "2.00x"}


def test_a_flow_whose_answers_differ_is_a_loud_mismatch(tmp_path: Path) -> None:
    proc = headwater(
        "bench", str(FLOWS) + ":where", "--executor", "local", "--executor", "threads",
        "--repeats", "1", "--warmup", "0", "--json", "where.json",
        cwd=tmp_path, progress=True,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("MISMATCH:")]
    found = re.fullmatch(
        r"MISMATCH: threads \(run 1/1\): task 'thread_name' gave '([^']+)' where local gave "
        r"'MainThread'",
        line,
    )
    assert found and found.group(1) != "MainThread", line
    assert re.search(r"^threads\s.*MISMATCH$", proc.stdout, re.M), proc.stdout
    report = json.loads((tmp_path / "where.json").read_text())
    assert report["ok"] is False
    assert [row["results_match"] for row in report["rows"]] == [True, False]
    assert "threads: run 1/1" in proc.stderr and "1/1 task runs" in proc.stderr  # the bar


def test_bad_executors_are_refused_before_anything_runs(tmp_path: Path) -> None:
    for given, expected in [
        ("gpu", "Unknown executor 'gpu': use local, threads, processes, dask or dask=ADDRESS"),
        ("threads=4", "only dask takes an address"),
        ("dask=", "has no address"),
    ]:
        proc = headwater("bench", f"{FLOWS}:squares", "--executor", given, cwd=tmp_path)
        assert proc.returncode == 2, proc
        assert proc.stderr.strip() == f"Error: {expected}" or expected in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    twice = headwater(
        "bench", f"{FLOWS}:squares", "--executor", "local", "--executor", "local", cwd=tmp_path
    )
    assert twice.returncode == 2 and "'local' is given twice" in twice.stderr
    (tmp_path / "x.json").write_text("{}")
    compared = headwater("bench", "compare", "x.json", "missing.json", cwd=tmp_path)
    assert compared.returncode == 2
    assert "'x.json' is not a benchmark's file" in compared.stderr


def test_ctrl_c_stops_the_whole_benchmark(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    program = Path(sys.executable).parent / "headwater"
    env = {**os.environ, "HEADWATER_PROGRESS": "false"}
    proc = subprocess.Popen(
        [str(program), "bench", f"{FLOWS}:sleepy", "-p", f"marker={marker}",
         "--executor", "local", "--repeats", "3", "--warmup", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)  # not the two other 60 s runs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1 and "Aborted!" in err, (out, err)
    assert "wall median" not in out
