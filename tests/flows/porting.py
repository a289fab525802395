"""Tasks, resources and mapped functions for the Prefect 1 porting tests (issue 13: apply_map,
resource_manager, async tasks). Module-level, so every executor can ship them.

Tasks that must be observed from the test process (the order of setup, block and cleanup; a
cancelled coroutine) write lines to a file given as a parameter: worker processes share no
memory with the test.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from headwater import case, context, merge, resource_manager, signals, task, triggers


def note(path: str, line: str) -> None:
    """Append one line to ``path`` (atomic for short lines, across processes)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def lines(path: str | Path) -> list[str]:
    """The lines written to ``path`` so far."""
    p = Path(path)
    return p.read_text().splitlines() if p.exists() else []


# -- apply_map ---------------------------------------------------------------------------


@task
def inc(x: int) -> int:
    return x + 1


@task
def is_even(x: int) -> bool:
    return x % 2 == 0


@task
def double(x: int) -> int:
    return 2 * x


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task(trigger=triggers.always_run)
def always(x: int) -> str:
    """Runs whatever its upstream states are; only a gate can keep it from running."""
    return f"ran {x}"


@task
def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def inc_if_even(x: Any) -> Any:
    """Prefect 1's example: increment the even elements, keep the odd ones."""
    with case(is_even(x), True):
        bigger = inc(x)
    return merge(bigger, x)


def branch_per_element(x: Any) -> tuple[Any, Any, Any]:
    """Even elements double, odd ones increment; an always_run task inside a branch."""
    even = is_even(x)
    with case(even, True):
        d = double(x)
        always(x)
    with case(even, False):
        i = inc(x)
    return d, i, merge(d, i)


def branch_in_batches(x: Any) -> Any:
    """An always_run task in a branch, its children run two per graph node (notice 0010)."""
    with case(is_even(x), True):
        a = always(x, task_args={"batch_size": 2})
    return a


def offset_by(x: Any, y: Any) -> Any:
    """``x + y`` then doubled (``y`` may be mapped or unmapped)."""
    return double(add(x, y))


# -- resource_manager --------------------------------------------------------------------


@resource_manager
class Journal:
    """A resource whose setup and cleanup write to a log file (what the tests observe)."""

    def __init__(self, path: str, tag: str = "r") -> None:
        self.path = path
        self.tag = tag

    def setup(self) -> str:
        note(self.path, f"setup {self.tag}")
        return f"{self.tag}-resource"

    def cleanup(self, resource: str) -> None:
        note(self.path, f"cleanup {resource}")


@resource_manager(name="broken")
class BrokenSetup:
    """A resource whose setup fails."""

    def __init__(self, path: str) -> None:
        self.path = path

    def setup(self) -> str:
        raise OSError("cannot connect")

    def cleanup(self, resource: Any) -> None:
        note(self.path, "cleanup broken")


@resource_manager
class NoSetup:
    """A resource with only a cleanup: it receives None."""

    def __init__(self, path: str) -> None:
        self.path = path

    def cleanup(self, resource: Any) -> None:
        note(self.path, f"cleanup {resource!r}")


@task
def use(path: str, resource: str, label: str) -> str:
    note(path, f"use {label} {resource}")
    return f"{label}:{resource}"


@task
def use_and_fail(path: str, resource: str) -> str:
    note(path, "use fail")
    raise ValueError("the block failed")


@task
def after(path: str, value: Any, label: str) -> str:
    note(path, f"after {label}")
    return label


def journal_per_element(tag: Any, path: str) -> Any:
    """A resource per element of an apply_map: its own setup, use and cleanup."""
    with Journal(path, tag) as resource:
        return use(path, resource, "u")


# -- async tasks -------------------------------------------------------------------------


@task
async def async_double(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


@task
async def async_where() -> dict[str, Any]:
    """What an async task sees: its run context, and the loop it runs in."""
    await asyncio.sleep(0)
    return {"task_name": context["task_name"], "map_index": context["map_index"]}


@task(max_retries=2)
async def async_flaky() -> int:
    await asyncio.sleep(0)
    if context["task_run_count"] < 3:
        raise ConnectionError(f"try {context['task_run_count']}")
    return context["task_run_count"]


@task(timeout=0.5)
async def async_stuck(path: str) -> str:
    """Waits far longer than its timeout; notes that it started and that it was cancelled."""
    note(path, "started")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        note(path, "cancelled")
        raise
    return "never"


@task(timeout=5)
async def async_in_time(x: int) -> int:
    await asyncio.sleep(0.01)
    return x + 1


@task
async def async_skip() -> None:
    await asyncio.sleep(0)
    raise signals.SKIP("nothing to do")


@task
async def async_gather(n: int) -> list[int]:
    """Several coroutines at once inside one task."""

    async def one(i: int) -> int:
        await asyncio.sleep(0.01)
        return i * i

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def wait_for_line(path: str | Path, line: str, timeout: float = 30.0) -> list[str]:
    """Poll ``path`` until ``line`` is in it (bounded); return its lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = lines(path)
        if line in found:
            return found
        time.sleep(0.02)
    return lines(path)
