"""Tasks for the Dask executor tests (module-level, so worker processes can unpickle them)."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater import context, get_logger, task


@task
def inc(x: int) -> int:
    return x + 1


@task
def slow_inc(x: int, seconds: float = 0.1) -> int:
    time.sleep(seconds)
    return x + 1


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def short(x: int) -> float:
    """A short task; returns when it ended (wall clock)."""
    time.sleep(0.2)
    return time.time()


@task(max_retries=1, retry_delay=timedelta(seconds=5))
def fails_once_then_waits(x: int) -> float:
    """Fails its first run, then (after a 5 s retry delay) returns when it ended."""
    if context["task_run_count"] < 2:
        raise RuntimeError("first run fails")
    return time.time()


@task
def returns_a_lock() -> Any:
    return {"ok": 1, "lock": threading.Lock()}


@task
def logs(x: int) -> int:
    get_logger().info("hello from child %s in pid %s", x, os.getpid())
    return x


@task
def available_gpus() -> float:
    """The worker's GPU resource left while this task holds its share."""
    from distributed import get_worker

    return float(get_worker().state.available_resources["GPU"])


@task
def sleeper(seconds: float) -> float:
    """Sleeps in short steps (so an interrupt is seen between them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return seconds


@task(max_retries=1)
def poison(marker: str) -> int:
    """Kills the worker process running it, after a second (so the short tasks around it are
    done, not running, when it dies); writes a line per run, with its start time, to
    ``marker``."""
    with Path(marker).open("a") as f:
        f.write(f"run {time.time()}\n")
    time.sleep(1)
    os._exit(1)


@task(max_retries=2)
def sturdy_inc(x: int) -> int:
    """Retried if its worker is killed under it by a neighbour."""
    time.sleep(0.05)
    return x + 1


@task(max_retries=2)
def sturdy_total(xs: list[int]) -> int:
    """Retried if its worker is killed under it by a neighbour."""
    return sum(xs)


class Counted:
    """An argument that counts, in the driver, how many times it is pickled."""

    pickled = 0

    def __reduce__(self) -> tuple[Any, ...]:
        Counted.pickled += 1
        return (Counted, ())


@task
def with_counted(x: int, counted: Any) -> int:
    return x


def _explode(pid: int) -> Any:
    raise RuntimeError(f"a Bomb made in process {pid} was unpickled in process {os.getpid()}")


class Bomb:
    """A value that cannot be unpickled anywhere but... nowhere: it proves it never moved."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_explode, (os.getpid(),))


@task
def make_bomb() -> Any:
    return Bomb()


@task(checkpoint=True, tags=["dask-resource:victim=1"])
def counted_square(x: int, calls: str) -> int:
    """x squared; appends x to the ``calls`` file each time it is really called."""
    with open(calls, "a", encoding="utf-8") as fh:
        fh.write(f"{x}\n")
    return x * x


def calls_in(path: Path) -> list[str]:
    """The lines of a side-effect file (none if it does not exist)."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@task(tags=["dask-resource:keeper=1"])
def wait_for_file(path: str, timeout: float = 60.0) -> bool:
    """Wait (at most ``timeout`` seconds) until ``path`` exists; whether it appeared."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.path.exists(path)


@task
def pid_of(x: int) -> int:
    """The process that ran this child."""
    return os.getpid()


@task
def add_two(a: int, b: int) -> int:
    return a + b


@task
def joined(prefix: str, x: int) -> str:
    return f"{prefix[:3]}{x}"


@task
def thread_names() -> list[str]:
    """The threads of the process running this task."""
    return sorted(t.name for t in threading.enumerate())
