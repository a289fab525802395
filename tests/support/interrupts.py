"""A flow run in a child process (``python -m tests.flows.interrupted KIND FOLDER``), its
output read by threads as it comes, for tests that interrupt or kill it: a real SIGINT or
SIGKILL can never reach the pytest session."""

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

    def __init__(self, kind: str, folder: Path, **env: str) -> None:
        self.folder = folder
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.interrupted", kind, str(folder)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env},
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
def child(kind: str, folder: Path, **env: str) -> Iterator[Child]:
    """:class:`Child` running ``kind`` in ``folder`` (``env``: more environment variables);
    killed on exit if it still runs."""
    run = Child(kind, folder, **env)
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
