"""`headwater run` on every executor, as a real program: threads, worker processes and a
real Dask cluster (a `dask scheduler` and two `dask worker` processes on 127.0.0.1); its
progress bar on stderr; worker logs; exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli.test_cli import FLOWS, ROOT, SECRET, entry_point, one_line_error
from tests.support.cluster import cluster, free_port, tls_files

Run = Callable[..., subprocess.CompletedProcess[str]]


@contextmanager
def dask_cluster(folder: Path, workers: int = 2) -> Iterator[str]:
    """A real scheduler and ``workers`` single-thread workers on 127.0.0.1: the address."""
    with cluster(folder, *([] for _ in range(workers))) as (address, _):
        yield address


@pytest.fixture
def headwater(tmp_path: Path) -> Run:
    """Run the `headwater` command (at most ``timeout`` seconds); other keyword arguments
    set (or, when None, remove) environment variables."""

    def run(
        *args: str, timeout: float = 120, **env: str | None
    ) -> subprocess.CompletedProcess[str]:
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
            timeout=timeout,
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


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("tcp://127.0.0.1:{port}", "within 2s (OSError: "),  # nothing listens there
        ("localhost", "has no usable port"),
        ("127.0.0.1", "has no usable port"),
        ("http://127.0.0.1:{port}", "is not one Dask can use"),
        ("tls://127.0.0.1:{port}", "uses TLS, but no TLS settings were given"),
    ],
)
def test_every_connection_error_is_one_paragraph_with_no_traceback_and_no_hang(
    headwater: Run, address: str, expected: str
) -> None:
    address = address.format(port=free_port())
    # the fixture's bound (45 s) is below the 60 s a half-started Client used to wait
    proc = headwater(
        "run", f"{FLOWS}:etl", "--executor", "dask", "--address", address,
        DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s", timeout=45,
    )  # fmt: skip
    one_line_error(proc, "Dask scheduler", expected)
    assert repr(address) in proc.stderr
    assert "within None" not in proc.stderr


def test_a_tls_scheduler_with_the_tls_options_or_dasks_config(
    headwater: Run, tmp_path: Path
) -> None:
    tls = tls_files(tmp_path)
    with cluster(tmp_path, [], tls=tls) as (address, _):
        assert address.startswith("tls://")
        refused = headwater("run", f"{FLOWS}:etl", "--executor", "dask", "--address", address)
        one_line_error(refused, f"The Dask scheduler at '{address}' uses TLS", "--tls-ca-file")
        options = headwater(
            "run", f"{FLOWS}:etl", "--executor", "dask", "--address", address, "-p", "n=3",
            "--tls-ca-file", str(tls["ca"]), "--tls-cert", str(tls["cert"]),
            "--tls-key", str(tls["key"]),
        )  # fmt: skip
        assert options.returncode == 0, options.stderr
        assert "Flow 'etl': Success" in options.stdout
        config = tmp_path / "dask.yaml"
        config.write_text(
            "distributed:\n  comm:\n    require-encryption: true\n    tls:\n"
            f"      ca-file: {tls['ca']}\n      client:\n        cert: {tls['cert']}\n"
            f"        key: {tls['key']}\n"
        )
        configured = headwater(
            "run", f"{FLOWS}:etl", "--executor", "dask", "--address", address,
            "--dask-config", str(config),
        )  # fmt: skip
        assert configured.returncode == 0, configured.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list, not settings\n")
    one_line_error(
        headwater("run", f"{FLOWS}:etl", "--dask-config", str(bad)), "is not a Dask config file"
    )
    one_line_error(
        headwater("run", f"{FLOWS}:etl", "--tls-cert", str(tls["cert"])),
        "are for --executor dask --address tls://",
    )


WAITING_FLOW = """
import time
from pathlib import Path
from headwater import Flow, Parameter, task

@task
def wait_for_go(folder: str) -> int:
    Path(folder, "started").touch()
    deadline = time.monotonic() + 60
    while not Path(folder, "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return 1

with Flow("waiting") as waiting:
    wait_for_go(Parameter("folder"))
"""


def test_a_cluster_started_for_the_run_has_its_dashboard_on_127_0_0_1_and_says_where(
    tmp_path: Path,
) -> None:
    import psutil

    script = tmp_path / "waiting.py"
    script.write_text(WAITING_FLOW)
    proc = subprocess.Popen(
        [entry_point(), "run", str(script), "--executor", "dask", "-p", f"folder={tmp_path}"],
        cwd=tmp_path,
        env={**os.environ, "HEADWATER_JOURNAL_DIR": str(tmp_path / "journal")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        listening = {
            (c.laddr.ip, c.laddr.port)
            for c in psutil.Process(proc.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        (tmp_path / "go").touch()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    found = re.search(r"Dask dashboard of the cluster started for this run: (\S+)", stderr)
    assert found, stderr
    link = found.group(1)
    assert link.startswith("http://127.0.0.1:") and link.endswith("/status"), link
    port = int(link.split(":")[2].split("/")[0])
    assert ("127.0.0.1", port) in listening, listening
    # the scheduler and the dashboard of the driver listen on the loopback only
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening


def test_the_entry_point_is_the_venvs() -> None:
    assert Path(entry_point()).parent == Path(sys.executable).parent
