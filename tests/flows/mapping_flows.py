"""Tasks and flows for the mapping tests (module-level, so every executor can pickle them).

Nothing here keeps state between task runs: behaviour is observed through results, states
and the run context (``map_index``, ``task_run_count``, ``task_run_name``).
"""

from __future__ import annotations

import time
from typing import Any

from headwater import Flow, Parameter, Task, context, flatten, signals, task, triggers
from headwater.model.states import State


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def add3(x: int, y: int, z: int) -> int:
    return x + y + z


@task
def identity(x: Any) -> Any:
    return x


@task
def collect(xs: Any) -> Any:
    """A reduce that returns what it received."""
    return xs


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def count_range(n: int) -> list[int]:
    return list(range(n))


@task
def pair(x: int) -> list[int]:
    return [x, 10 * x]


@task
def repeat(x: int) -> list[int]:
    """``x`` copies of ``x``: lists of different lengths, some empty."""
    return [x] * x


@task
def where_am_i(x: Any) -> tuple[Any, Any]:
    return x, context["map_index"]


@task
def fail_on_one(x: int) -> int:
    if x == 1:
        raise ValueError(f"bad element {x}")
    return x


@task
def skip_odd(x: int) -> int:
    if x % 2:
        raise signals.SKIP(f"{x} is odd")
    return x


@task
def boom() -> int:
    raise ValueError("boom")


@task
def skipper() -> int:
    raise signals.SKIP("not today")


@task
def give(x: Any) -> Any:
    """Return a value given as a constant (for results that are not lists)."""
    return x


@task(task_run_name="fetch-{map_index}")
def fetch_by_index(url: str) -> str:
    return str(context["task_run_name"])


@task(task_run_name="fetch-{url}")
def fetch_by_url(url: str) -> str:
    return str(context["task_run_name"])


def _name_from_inputs(url: str) -> str:
    return f"get {url.upper()}"


@task(task_run_name=_name_from_inputs)
def fetch_by_callable(url: str) -> str:
    return str(context["task_run_name"])


@task(max_retries=3)
def flaky_on_one(x: int) -> tuple[int, int]:
    """Element 1 fails on its first two runs; the others succeed at once."""
    runs = int(context["task_run_count"])
    if x == 1 and runs < 3:
        raise ValueError(f"element 1, run {runs}")
    return x, runs


@task(max_retries=1)
def always_fails_on_one(x: int) -> int:
    if x == 1:
        raise ValueError("still bad")
    return x


@task(timeout=0.3)
def slow_on_one(x: int) -> int:
    if x == 1:
        for _ in range(500):  # short sleeps, so the abandoned call is interrupted soon
            time.sleep(0.01)
    return x


@task(trigger=triggers.any_failed)
def recover(x: Any) -> str:
    """Runs only for the elements whose upstream child failed."""
    return "recovered"


@task(trigger=triggers.all_finished)
def collect_all(xs: Any) -> Any:
    return xs


@task(trigger=triggers.some_successful(at_least=2))
def at_least_two(xs: list[Any]) -> list[Any]:
    return xs


def mark_child(task: Task, old: State, new: State) -> State | None:
    """A state handler: each finished child says which one it is."""
    if new.is_successful() and new.map_index is not None:
        return new.with_(message=f"child {new.map_index} of {task.name} done")
    return None


@task(state_handlers=[mark_child])
def handled(x: int) -> int:
    return x


def pipeline_flow(steps: int = 3, batch_size: int | None = None) -> tuple[Flow, list[Task]]:
    """A per-element pipeline over a runtime-length list: ``n`` -> range -> inc -> inc ...
    (each map with ``batch_size``; None: adaptive).

    Returns the flow and its mapped steps, in order.
    """
    with Flow("pipeline") as f:
        n = Parameter("n", default=4)
        xs = count_range(n)
        mapped = [inc.map(xs, batch_size=batch_size)]
        for _ in range(steps - 1):
            mapped.append(inc.map(mapped[-1], batch_size=batch_size))
        total(mapped[-1])
    return f, mapped


def nested_flow() -> Flow:
    """Maps over a mapped task's lists: element-wise (whole lists) and flattened."""
    with Flow("nested") as f:
        lists = pair.map([1, 2, 3])
        identity.map(lists)
        identity.map(flatten(lists))
    return f
