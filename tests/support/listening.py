"""A listening loop on a background thread, for tests that drop files or send requests while
it listens, and wait for runs as events (never for fixed times)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from headwater.runtime.listening import run_flow_listening
from headwater.runtime.scheduled import ScheduledRun, ScheduledRuns


class Background:
    """``run_flow_listening(flow, ...)`` on a thread; :meth:`wait_runs` waits for runs."""

    def __init__(self, flow: Any, **options: Any) -> None:
        self.stop = threading.Event()
        self.runs: list[ScheduledRun] = []
        self.result: ScheduledRuns | None = None
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self.thread = threading.Thread(
            target=self._body, args=(flow, options), daemon=True, name="test-listening"
        )

    def _body(self, flow: Any, options: dict[str, Any]) -> None:
        try:
            self.result = run_flow_listening(flow, stop=self.stop, on_run=self._on_run, **options)
        except BaseException as exc:  # handed to the test's thread by finish()
            self.error = exc
        with self._changed:
            self._changed.notify_all()

    def _on_run(self, run: ScheduledRun) -> None:
        with self._changed:
            self.runs.append(run)
            self._changed.notify_all()

    def start(self) -> Background:
        self.thread.start()
        return self

    def wait_runs(self, n: int, timeout: float = 30.0) -> list[ScheduledRun]:
        """Wait until ``n`` runs finished (or the loop ended); return the runs so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.runs) < n and self.thread.is_alive():
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.runs)} of {n} runs after {timeout}s: {self.runs}"
                self._changed.wait(left)
            return list(self.runs)

    def finish(self, timeout: float = 30.0) -> ScheduledRuns:
        """Stop the loop (if it still runs), wait for it, and return (or raise) its result."""
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the listening loop did not stop"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@contextmanager
def listening(flow: Any, **options: Any) -> Iterator[Background]:
    """A :class:`Background` loop for the block; always stopped at the end."""
    background = Background(flow, **options).start()
    try:
        yield background
    finally:
        background.stop.set()
        background.thread.join(30)


def wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``condition()`` every 10 ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(0.01)


def stop_during_a_run(
    proc: subprocess.Popen[str], inbox: Path, signals: Path, signum: int
) -> tuple[str, str]:
    """Drive a process listening to ``inbox`` with the ``gated`` flow (tests/flows/listening.py):
    drop ``a.csv``, wait until its run started, send ``signum``, drop ``b.csv`` (too late to
    be taken), check the process still waits for its run in flight, release the run, and
    return the process's output. The process is killed if anything goes wrong."""
    try:
        (inbox / "a.csv").write_text("a")
        wait_for((signals / "started-a.csv").exists, timeout=30, what="the run's start")
        proc.send_signal(signum)
        (inbox / "b.csv").write_text("b")
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass  # still waiting for the run in flight, as it should
        else:
            raise AssertionError(f"exited ({proc.returncode}) before its run in flight finished")
        (signals / "release").write_text("")
        return proc.communicate(timeout=30)
    finally:
        reap(proc)


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, and collect it."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
