"""Flows for the benchmark tests (``headwater bench`` and ``headwater.bench``).

``squares`` maps a short sleep over ``n`` numbers and adds up the squares: the same answer on
every executor. ``where`` returns the name of the thread its task ran in, which differs
between executors (the driver's main thread on ``local``, a pool thread on ``threads``): a
flow whose answers disagree. ``sleepy`` writes a file when its task starts, then sleeps: a run
to interrupt.
"""

from __future__ import annotations

import threading
import time

from headwater import Flow, Parameter, task, unmapped


@task
def numbers(n: int) -> list[int]:
    """``1..n``."""
    return list(range(1, n + 1))


@task
def square(x: int, pause: float) -> int:
    """Sleep ``pause`` seconds, then square ``x`` (the sleep makes the timeline visible)."""
    time.sleep(pause)
    return x * x


@task
def total(xs: list[int]) -> int:
    """The sum."""
    return sum(xs)


with Flow("squares") as squares:
    n = Parameter("n", default=6)
    pause = Parameter("pause", default=0.02)
    summed = total(square.map(numbers(n), pause=unmapped(pause)))


@task
def thread_name() -> str:
    """The name of the thread this task runs in."""
    return threading.current_thread().name


with Flow("where") as where:
    ran_in = thread_name()


@task
def announce_and_wait(marker: str, seconds: float) -> None:
    """Create the file ``marker`` (the test's signal that the task runs), then sleep."""
    with open(marker, "w") as out:
        out.write("started")
    time.sleep(seconds)


with Flow("sleepy") as sleepy:
    waited = announce_and_wait(Parameter("marker"), Parameter("seconds", default=60.0))
