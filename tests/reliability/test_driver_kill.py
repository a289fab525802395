"""A driver killed (SIGKILL) in the middle of a LocalDaskExecutor("processes") run leaves
nothing of the run on disk (its parameters, a Secret among them), and its worker process
exits once its task is done (issue 12, item 9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]

SECRET = "hunter2-correct-horse-battery-staple"


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the driver exited early ({proc.returncode})"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _files_holding(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_killed_driver_leaves_no_secret_on_disk_and_no_worker_behind(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"  # the driver's temporary folder
    temp.mkdir()
    started, release = tmp_path / "started", tmp_path / "release"
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.flows.secret_driver", SECRET, str(started), str(release)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = None
    try:
        _wait_for(started, proc)  # the task runs in its worker process
        worker = int(started.read_text())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _files_holding(temp, SECRET.encode()) == []
        release.touch()  # the task ends; its process finds the driver gone and exits
        deadline = time.monotonic() + 15
        while not _gone(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(worker), "the worker process outlived its driver"
    finally:
        release.touch()
        for pid in (proc.pid, worker):
            if pid is not None and not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the forkserver, if it is still there
        except ProcessLookupError:
            pass
