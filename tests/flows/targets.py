"""Flows with targets, checkpoints and caches. Each task appends a line to a side-effect
file named by the ``calls`` parameter, so tests can count real calls across processes."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from headwater import Flow, Parameter, context, task, unmapped
from headwater.engine import caching
from headwater.results import LocalResult, Result


def note_call(calls: str) -> None:
    """Append one line naming the current task run to the side-effect file."""
    name = context["task_name"]
    index = context.get("map_index")
    with open(calls, "a", encoding="utf-8") as fh:
        fh.write(f"{name}{'' if index is None else f'[{index}]'}\n")
        fh.flush()
        os.fsync(fh.fileno())


def calls_in(path: Path) -> list[str]:
    """The lines of a side-effect file (none if it does not exist)."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@task(target="{flow_name}/step-{map_index}.pkl")
def step(x: int, calls: str, pause: float) -> int:
    note_call(calls)
    time.sleep(pause)
    return x * 2


@task(target="{flow_name}/total.pkl")
def total(xs: list[int], calls: str) -> int:
    note_call(calls)
    return sum(xs)


def restartable_flow(root: str) -> Flow:
    """Ten mapped steps, each with its own target, then a total with a target."""
    with Flow("restartable", result=LocalResult(dir=root)) as f:
        calls = Parameter("calls")
        pause = Parameter("pause", default=0.0)
        steps = step.map(list(range(10)), calls=unmapped(calls), pause=unmapped(pause))
        total(steps, calls)
    return f


@task(cache_for=timedelta(hours=1))
def cached_square(x: int, calls: str) -> int:
    note_call(calls)
    return x * x


@task(cache_for=timedelta(hours=1), cache_validator=caching.all_inputs)
def cached_by_inputs(x: int, calls: str) -> int:
    note_call(calls)
    return x + 1


@task(checkpoint=True)
def checkpointed(x: int) -> int:
    return x * 3


@task(checkpoint=True)
def stored_square(x: int) -> int:
    return x * x


@task(target="{flow_name}/total-{parameters[tag]}.pkl")
def stored_total(xs: list[int], calls: str) -> int:
    note_call(calls)
    return sum(xs)


def object_store_flow(result: Result) -> Flow:
    """Five checkpointed children and a total with a target, all stored in ``result``."""
    with Flow("to-the-store", result=result) as f:
        calls = Parameter("calls")
        Parameter("tag")
        stored_total(stored_square.map(list(range(5))), calls)
    return f


if __name__ == "__main__":  # run by the restart test in a subprocess
    import sys

    root, calls, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
    state = restartable_flow(root).run(parameters={"calls": calls, "pause": pause})
    print(type(state).__name__)
