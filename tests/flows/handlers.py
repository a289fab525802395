"""Flows whose state handlers raise (tests/engine/test_handlers.py)."""

from __future__ import annotations

from typing import Any

from headwater import Flow, signals, task
from headwater.model.states import State


@task
def one() -> int:
    return 1


@task
def add(x: int, y: int) -> int:
    return x + y


def refuse_success(obj: Any, old: State, new: State) -> None:
    if new.is_successful():
        raise ValueError("no success here")


def skip_on_running(obj: Any, old: State, new: State) -> None:
    if new.is_running():
        raise signals.SKIP("skipped by its handler")


def refuse_running(obj: Any, old: State, new: State) -> None:
    if new.is_running():
        raise RuntimeError("not today")


@task(state_handlers=[skip_on_running])
def skipped_by_handler() -> int:
    return 2


def build(flow_handlers: list[Any]) -> tuple[Flow, Any, Any]:
    """A flow of three tasks (one handler skips one of them) with the given flow handlers."""
    with Flow("handled", state_handlers=flow_handlers) as f:
        a = one()
        b = add(a, 1)
        skipped_by_handler()
    return f, a, b


@task
def fails_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two is not welcome")
    return x * 10


def mapped_failing(**flow_options: Any) -> tuple[Flow, Any]:
    """A flow whose reference task is a map of three children, the second of which fails."""
    with Flow("mapped", **flow_options) as f:
        m = fails_on_two.map([1, 2, 3])
    return f, m


def refuse_running_odd(obj: Any, old: State, new: State) -> None:
    """Fails the odd children as they start."""
    if new.is_running() and (new.map_index or 0) % 2:
        raise RuntimeError(f"odd child {new.map_index}")


def skip_even(obj: Any, old: State, new: State) -> None:
    """Skips the even children as they start."""
    if new.is_running() and not (new.map_index or 0) % 2:
        raise signals.SKIP(f"even child {new.map_index} skipped by its handler")


def refuse_the_map(obj: Any, old: State, new: State) -> None:
    """Refuses the mapped task's own state (its children pass)."""
    if new.is_mapped():
        raise ValueError("no maps here")


def fail_the_map(obj: Any, old: State, new: State) -> None:
    """Fails the mapped task's own state with a signal."""
    if new.is_mapped():
        raise signals.FAIL("the map failed by its handler")


def fail_success(obj: Any, old: State, new: State) -> None:
    if new.is_successful():
        raise signals.FAIL("failed by its handler")


def retry_on_running(obj: Any, old: State, new: State) -> None:
    if new.is_running():
        raise signals.RETRY("again, says the handler")


def loop_on_finished(obj: Any, old: State, new: State) -> None:
    if new.is_finished():
        raise signals.LOOP("loop, says the handler")


@task
def double(x: int) -> int:
    return 2 * x


def mapped(batch_size: int | None) -> tuple[Flow, dict[str, Any]]:
    """Maps whose children's handlers raise (an exception, a signal) and maps whose own
    handler raises, unbatched or in batches of ``batch_size``."""
    with Flow("handled-maps") as f:
        xs = list(range(5))
        tasks = {
            name: double.map(xs, batch_size=batch_size, task_args={"state_handlers": [h]})
            for name, h in (
                ("children_refused", refuse_running_odd),
                ("children_skipped", skip_even),
                ("map_refused", refuse_the_map),
                ("map_failed", fail_the_map),
            )
        }
        tasks["retry"] = one(task_args={"state_handlers": [retry_on_running], "name": "retry"})
        tasks["loop"] = one(task_args={"state_handlers": [loop_on_finished], "name": "loop"})
    return f, tasks
