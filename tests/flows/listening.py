"""Flows for listeners (``flow.run(listen=...)``, ``headwater run --listen-folder``).

``echo`` returns the path it got (and the file's text, when it can read a local file).
``counted`` returns ``n`` and fails when ``n`` is negative. ``timed`` records, from inside its
task, when each run's task started and ended (``INTERVALS``) and how many items its test's
generator had handed out by then (``PULLED``). ``paired`` needs two runs in flight at once: its
task waits at a barrier of two. ``gated`` is for other processes: its task writes
``<signals>/started-<name>`` and waits (at most 60 s) until ``<signals>/release`` exists.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from headwater import flow, task

INTERVALS: list[tuple[int, float, float]] = []
"""(n, start, end) of each ``timed`` task, by ``time.monotonic()``."""

PULLED: list[int] = []
"""Items a test's generator has handed out; ``timed`` records ``len(PULLED)`` as it starts."""

SEEN_PULLED: dict[int, int] = {}
"""n -> len(PULLED) when the ``timed`` task of n started."""

_LOCK = threading.Lock()
BARRIER = threading.Barrier(2, timeout=20)


@task
def read_back(path: str) -> dict[str, Any]:
    """The path, and the text of the file when it is local."""
    text = Path(path).read_text() if os.path.isfile(path) else None
    return {"path": path, "text": text}


@flow
def echo(path: str) -> Any:
    """One task that reads back what it got."""
    return read_back(path)


@task
def count(n: int) -> int:
    """Return ``n``; fail when it is negative."""
    if n < 0:
        raise ValueError(f"asked to fail (n={n})")
    return n


@flow
def counted(n: int, label: str = "x") -> Any:
    """One task that may fail."""
    return count(n)


@task
def take_time(n: int, seconds: float) -> int:
    """Record when it ran, sleeping ``seconds`` in between."""
    start = time.monotonic()
    with _LOCK:
        SEEN_PULLED[n] = len(PULLED)
    time.sleep(seconds)
    with _LOCK:
        INTERVALS.append((n, start, time.monotonic()))
    return n


@flow
def timed(n: int, seconds: float = 0.15) -> Any:
    """One task that takes ``seconds`` and records its interval."""
    return take_time(n, seconds)


@task
def meet(n: int) -> int:
    """Wait until another run's task is here too."""
    BARRIER.wait()
    return n


@flow
def paired(n: int) -> Any:
    """One task that needs a second run in flight."""
    return meet(n)


@task
def wait_for_release(path: str, signals: str) -> str:
    """Say it started, then wait for the release file."""
    folder = Path(signals)
    (folder / f"started-{Path(path).name}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not (folder / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.02)
    return path


@flow
def gated(path: str, signals: str) -> Any:
    """One task that waits for its test's go-ahead."""
    return wait_for_release(path, signals)
