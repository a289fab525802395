"""`headwater run` on every executor, as a real program: threads, worker processes and a
real Dask cluster (a `dask scheduler` and two `dask worker` processes on 127.0.0.1); its
progress bar on stderr; worker logs; exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli.test_cli import FLOWS, ROOT, SECRET, entry_point, one_line_error
from tests.support.cluster import cluster, free_port

Run = Callable[..., subprocess.CompletedProcess[str]]


@contextmanager
def dask_cluster(folder: Path, workers: int = 2) -> Iterator[str]:
    """A real scheduler and ``workers`` single-thread workers on 127.0.0.1: the address."""
    with cluster(folder, *([] for _ in range(workers))) as (address, _):
        yield address


@pytest.fixture
def headwater(tmp_path: Path) -> Run:
    """Run the `headwater` command; keyword arguments set (or, when None, remove)
    environment variables."""

    def run(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        environ = {
            **os.environ,
            "HEADWATER_JOURNAL_DIR": str(tmp_path / "journal"),
            "HEADWATER_LOG_LEVEL": "INFO",
        }
        for name in ("HEADWATER_JOURNAL", "HEADWATER_PROGRESS", "CI"):
            environ.pop(name, None)
        for name, value in env.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        return subprocess.run(
            [entry_point(), *args],
            capture_output=True,
            text=True,
            env=environ,
            cwd=tmp_path,
            timeout=120,
        )

    return run


def bar(stderr: str) -> str:
    """The progress bar as last drawn on stderr."""
    frames = [f for f in re.split(r"[\r\n]", stderr) if "task/s" in f or "?task" in f]
    assert frames, f"no progress bar in {stderr!r}"
    return frames[-1]


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_run_on_local_executors_prints_progress_logs_and_the_table(
    headwater: Run, kind: str
) -> None:
    proc = headwater(
        "run", f"{FLOWS}:etl", "--executor", kind, "-p", "n=4", "-p", f"token={SECRET}",
        "--progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Flow 'etl': Success: All reference tasks succeeded." in proc.stdout
    assert any(line.split()[:2] == ["load", "Success"] for line in proc.stdout.splitlines())
    # 3 parameters, extract, 4 children and load
    assert "9/9" in bar(proc.stderr) and "Success=9 Failed=0 Skipped=0" in bar(proc.stderr)
    for i in range(4):  # logged in a worker (thread or process), printed by the command
        assert f"etl/transform[{i}] | transforming {i} with token ********" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


def test_a_flow_failing_in_worker_processes_exits_1(headwater: Run) -> None:
    proc = headwater(
        "run", f"{FLOWS}:etl", "--executor", "processes", "-p", "fail_at=1", "--children"
    )
    assert proc.returncode == 1, proc.stderr
    rows = [line.split()[:2] for line in proc.stdout.splitlines()]
    assert ["transform[1]", "Failed"] in rows and ["load", "TriggerFailed"] in rows, proc.stdout


def test_run_on_a_real_dask_cluster(headwater: Run, tmp_path: Path) -> None:
    with dask_cluster(tmp_path) as address:
        proc = headwater(
            "run", f"{FLOWS}:etl", "--executor", "dask", "--address", address, "-p", "n=4",
            HEADWATER_PROGRESS="true",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "Flow 'etl': Success" in proc.stdout
        frame = bar(proc.stderr)
        assert frame.startswith("etl: 100%") and "9/9" in frame and "Success=9" in frame, frame
        for i in range(4):  # forwarded from the dask workers
            assert f"| INFO    | etl/transform[{i}] | transforming {i} with token" in proc.stderr

        failed = headwater(
            "run", f"{FLOWS}:etl", "--executor", "dask", "--address", address,
            "-p", "fail_at=2", "--log-level", "WARNING",
        )  # fmt: skip
        assert failed.returncode == 1, failed.stderr
        assert "Failed: Some reference tasks failed: 'load'" in failed.stdout
        assert "| WARNING | etl/transform[2] | about to fail with ********" in failed.stderr
        assert "transforming" not in failed.stderr  # INFO is below the level asked for
        assert "task/s" not in failed.stderr  # not a terminal: no bar unless asked


def test_progress_follows_the_switches(headwater: Run) -> None:
    quiet = headwater("run", f"{FLOWS}:etl", "-p", "n=2")
    assert quiet.returncode == 0 and "task/s" not in quiet.stderr  # stderr is no terminal
    forced = headwater("run", f"{FLOWS}:etl", "-p", "n=2", HEADWATER_PROGRESS="true", CI="true")
    assert forced.returncode == 0 and "7/7" in bar(forced.stderr)
    off = headwater("run", f"{FLOWS}:etl", "-p", "n=2", "--no-progress", HEADWATER_PROGRESS="1")
    assert off.returncode == 0 and "task/s" not in off.stderr and "?task" not in off.stderr


def test_run_uses_the_flows_own_executor_unless_one_is_given(
    headwater: Run, tmp_path: Path
) -> None:
    own = ROOT / "tests" / "flows" / "own_executor.py"
    out = tmp_path / "where.txt"
    proc = headwater("run", f"{own}:threaded", "-p", f"out={out}")
    assert proc.returncode == 0, proc.stderr
    given = headwater("run", f"{own}:threaded", "-p", f"out={out}", "--executor", "local")
    assert given.returncode == 0, given.stderr
    threads = [line.split(" ", 1)[1] for line in out.read_text(encoding="utf-8").splitlines()]
    assert threads[1] == "MainThread" and threads[0] != "MainThread", threads  # a pool thread
    one_line_error(
        headwater("run", f"{own}:threaded", "--address", "tcp://127.0.0.1:1"),
        "--address is for --executor dask: add --executor dask",
    )


def test_an_unreachable_scheduler_is_bad_input(headwater: Run) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    proc = headwater(
        "run", f"{FLOWS}:etl", "--executor", "dask", "--address", address,
        DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s",
    )  # fmt: skip
    one_line_error(proc, f"Could not connect to the Dask scheduler at '{address}'")


def test_the_entry_point_is_the_venvs() -> None:
    assert Path(entry_point()).parent == Path(sys.executable).parent
