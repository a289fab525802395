"""Tasks for the Prefect 1 fidelity tests of retry delays, secrets and environment callbacks
(module-level, so worker processes can unpickle them).

The tasks note each run in a file (one line, appended: which, and the wall clock), so a test
can see on every executor how often and when they ran.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from headwater import context, exponential_backoff, get_logger, task


def note(marker: str, what: str) -> None:
    """Append ``what`` and the time to the file ``marker``."""
    with Path(marker).open("a", encoding="utf-8") as f:
        f.write(f"{what} {time.time()}\n")


def times(marker: Path, what: str | None = None) -> list[float]:
    """The times noted in ``marker`` (for ``what`` only, when given)."""
    rows = [line.split() for line in marker.read_text(encoding="utf-8").splitlines()]
    return [float(t) for w, t in rows if what is None or w == what]


def gaps(marker: Path, what: str | None = None) -> list[float]:
    """The time between one noted run and the next."""
    ts = times(marker, what)
    return [b - a for a, b in zip(ts, ts[1:], strict=False)]


def fail_until(marker: str, runs: int, what: str = "run") -> int:
    """Note this run; fail until the ``runs``-th, then return the run count."""
    note(marker, what)
    count = int(context["task_run_count"])
    if count < runs:
        raise RuntimeError(f"run {count} fails")
    return count


@task(max_retries=3, retry_delay=[0.2, 0.6])
def listed(marker: str) -> int:
    """Fails three times: waits 0.2 s, then 0.6 s, then 0.6 s again (the last repeats)."""
    return fail_until(marker, 4)


@task(max_retries=3, retry_delay=exponential_backoff(0.1, factor=4, max_delay=0.5))
def backed_off(marker: str) -> int:
    """Fails three times: waits 0.1 s, 0.4 s, then 0.5 s (capped)."""
    return fail_until(marker, 4)


@task(max_retries=1, retry_delay=[0.5, 30])
def child_retried(marker: str, x: int) -> int:
    """A mapped child that fails its first run and waits its first listed delay."""
    fail_until(f"{marker}-{x}", 2)
    return x * 10


@task(max_retries=1, retry_delay=[3.0])
def fails_once_then_says_when(x: int) -> float:
    """Fails its first run, then (3 s later) returns when it ended."""
    if context["task_run_count"] < 2:
        raise RuntimeError("first run fails")
    return time.time()


@task
def unwrap(token: Any) -> Any:
    """The raw value of a secret (None stays None); logs the wrapper, which shows masked."""
    get_logger().info("got the token %s", token)
    return None if token is None else token.get()


@task
def noted(marker: str, x: int) -> int:
    """Notes that a task ran; returns x."""
    note(marker, "task")
    return x


@task
def fails(x: int) -> int:
    raise ValueError(f"task fails on {x}")


class Callbacks:
    """on_start / on_exit callbacks that note, on the driver, when they were called."""

    def __init__(self, marker: Path, fail: str | None = None) -> None:
        self.marker = str(marker)
        self.fail = fail

    def on_start(self) -> None:
        note(self.marker, "start")
        if self.fail == "on_start":
            raise ConnectionError("the cluster did not answer")

    def on_exit(self) -> None:
        note(self.marker, "exit")
        if self.fail == "on_exit":
            raise OSError("the metrics store is full")

    def calls(self) -> list[str]:
        """What was noted, in order."""
        lines = Path(self.marker).read_text(encoding="utf-8").splitlines()
        return [line.split()[0] for line in lines]
