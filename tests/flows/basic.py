"""Small tasks and flows used by several engine tests (module-level, so every executor can
pickle them)."""

from __future__ import annotations

import time

from headwater import Flow, Parameter, signals, task


@task
def one() -> int:
    return 1


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def double(x: int) -> int:
    return 2 * x


@task
def fail(message: str = "boom") -> None:
    raise ValueError(message)


@task
def skip() -> None:
    raise signals.SKIP("not needed")


@task
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
def identity(x: object) -> object:
    return x


def etl_flow() -> Flow:
    """The etl flow of README.md, in small."""
    with Flow("etl") as f:
        n = Parameter("n", default=3)
        xs = identity(n)
        add(double(xs), one())
    return f
