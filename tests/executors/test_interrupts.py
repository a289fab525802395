"""Ctrl-C: a real SIGINT sent to a flow run in a process of its own (tests/flows/interrupted.py),
once a task has started or while the Dask cluster starts. The run ends Cancelled, keeps the
states that finished, and leaves no cluster or worker process behind; an interrupt can never
reach the pytest session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


class Child:
    """A flow run in a child process, its output read by threads as it comes."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.folder = folder
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.interrupted", kind, str(folder)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for r in self.readers:
            r.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` until it is true; fail if the process ends first or it takes long."""
        deadline = time.monotonic() + DEADLINE
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended before {what}: {''.join(self.err)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {DEADLINE}s: {''.join(self.err)}")
            time.sleep(0.02)

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def result(self) -> dict[str, Any]:
        """What the run printed, once it ended (with exit code 0 and no traceback)."""
        self.proc.wait(timeout=DEADLINE)
        for r in self.readers:
            r.join(timeout=10)
        stderr = "".join(self.err)
        assert self.proc.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
        return json.loads(self.out[-1])


@contextmanager
def child(kind: str, folder: Path) -> Iterator[Child]:
    run = Child(kind, folder)
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


@pytest.mark.parametrize("kind", ["threads", "processes", "dask"])
def test_ctrl_c_once_a_task_started_cancels_the_rest_and_closes_the_cluster(
    kind: str, tmp_path: Path
) -> None:
    with child(kind, tmp_path) as run:
        run.wait_until(lambda: any(tmp_path.glob("started-*")), "a sleeper starting")
        run.interrupt()
        got = run.result()
    assert got["state"] == "Cancelled", got
    assert "interrupted" in got["message"]
    assert got["seconds"] < 20  # it did not wait for the 20 s sleepers
    assert got["quick"] == 2  # a state that was final is kept
    assert got["tasks"]["slow"] == ["Cancelled"] * 4 and got["tasks"]["after"] == "Cancelled"
    if kind == "dask":
        assert got["left"] == {"clusters": 0, "processes": 0}


def test_ctrl_c_while_the_dask_cluster_starts_cancels_the_run_and_closes_the_cluster(
    tmp_path: Path,
) -> None:
    with child("dask-starting", tmp_path) as run:
        run.wait_until((tmp_path / "cluster-up").exists, "the cluster being up")
        run.interrupt()
        run.wait_until(lambda: "Interrupted while the Dask cluster" in "".join(run.err), "a word")
        (tmp_path / "go").touch()  # the cluster's constructor may return now
        got = run.result()
    assert got["state"] == "Cancelled", got
    assert "interrupted" in got["message"]
    assert got["tasks"] == {"quick": "Cancelled", "slow": "Cancelled", "after": "Cancelled"}
    assert not any(tmp_path.glob("started-*"))  # no task ran
    assert got["left"] == {"clusters": 0, "processes": 0}
