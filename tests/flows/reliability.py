"""Tasks for the reliability tests (tests/reliability/): tasks that kill the process running
them, reduces that run whatever their upstream ended, and a serializer that notes its reads.

Runs and reads are noted in a folder of *marks* (one file per element, a line per event),
so that a test, and the tasks themselves, can see what ran where across processes.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

from headwater import task, triggers


def note(marks: str, x: int, what: str) -> None:
    """Append ``what`` to element ``x``'s marks."""
    with open(Path(marks) / str(x), "a", encoding="utf-8") as f:
        f.write(f"{what}\n")


def marks_of(marks: str | Path, x: int) -> list[str]:
    """Element ``x``'s marks, in order."""
    path = Path(marks) / str(x)
    return path.read_text(encoding="utf-8").split() if path.exists() else []


@task
def kill_at(x: int, fatal: int) -> int:
    """x, unless x is ``fatal``: then it kills the process running it (SIGKILL, at once)."""
    if x == fatal:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


@task(max_retries=1)
def kill_first_run(x: int, fatal: int, marks: str) -> int:
    """x; element ``fatal`` kills its process on its first run only (noted in ``marks``)."""
    if x == fatal:
        runs = len(marks_of(marks, x))
        note(marks, x, "run")
        if runs == 0:
            os.kill(os.getpid(), signal.SIGKILL)
    return x


@task(max_retries=1)
def kill_every_run(x: int, fatal: int, marks: str) -> int:
    """x; element ``fatal`` kills its process on every run (each noted in ``marks``)."""
    if x == fatal:
        note(marks, x, "run")
        os.kill(os.getpid(), signal.SIGKILL)
    return x


@task
def plus_one(x: int) -> int:
    return x + 1


@task(trigger=triggers.all_finished)
def count_done(xs: list[Any]) -> int:
    """How many upstream results are ints (a reduce that runs whatever they ended)."""
    return sum(1 for x in xs if isinstance(x, int))


@task(checkpoint=True)
def noted_kill_at(x: int, fatal: int, marks: str) -> int:
    """x, each run noted in ``marks``; element ``fatal`` kills its process (SIGKILL)."""
    note(marks, x, "run")
    if x == fatal:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


class NotingSerializer:
    """Pickles ints, and notes each value it reads back in ``marks`` (a read of a
    checkpoint): a serializer of the tests' own, a real one."""

    def __init__(self, marks: str) -> None:
        self.marks = marks

    def serialize(self, value: Any) -> bytes:
        return pickle.dumps(value)

    def deserialize(self, data: bytes) -> Any:
        value = pickle.loads(data)
        note(self.marks, value, "read")
        return value


@task
def hold_secret(token: Any, started: str, release: str) -> int:
    """Writes its process id to ``started``, then waits (60 s at most) for ``release``."""
    Path(started).write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(token.get())
