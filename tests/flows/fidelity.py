"""Tasks written the way a Prefect Core 1 user writes them (the context idioms, loops, pauses),
for the tests of Prefect 1 fidelity; module-level so they run on every executor."""

from __future__ import annotations

import logging
from typing import Any

from headwater import context, signals, task, triggers
from tests.flows.targets import note_call


@task
def noted(calls: str, x: Any = None) -> Any:
    """Note the call in the side-effect file ``calls``; return ``x``."""
    note_call(calls)
    return x


@task
def typed_identity(x: Any) -> Any:
    return x


@task
def count_up_to(limit: int) -> tuple[int, int]:
    """Prefect 1's LOOP idiom: the loop result is absent on the first iteration."""
    n = context.get("task_loop_result", 0) + 1
    if n < limit:
        raise signals.LOOP(result=n)
    return n, context["task_loop_count"]


@task
def loop_keys() -> tuple[bool, int]:
    """Whether ``task_loop_result`` is in the context, and ``task_loop_count``, on the first
    iteration."""
    return "task_loop_result" in context, context["task_loop_count"]


DAY_KEYS = (
    "date",
    "today",
    "yesterday",
    "tomorrow",
    "today_nodash",
    "yesterday_nodash",
    "tomorrow_nodash",
)


@task
def day_keys() -> dict[str, Any]:
    return {k: context[k] for k in DAY_KEYS}


@task
def names(x: Any = None) -> dict[str, Any]:
    """The run's names as a task sees them, and its logger's."""
    logger = context.get("logger")
    assert isinstance(logger, logging.LoggerAdapter)
    logger.info("logged through context['logger']")
    return {
        "task_full_name": context["task_full_name"],
        "flow_run_name": context["flow_run_name"],
        "flow_run_id": context["flow_run_id"],
        "logger": logger.logger.name,
        "listed": "logger" in set(context),
    }


@task(trigger=triggers.manual_only)
def gate() -> int:
    return 1


@task
def double(x: int) -> int:
    return x * 2


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def pause_odd_unless_resumed(x: int, calls: str) -> int:
    """Pause the children of odd elements until they are resumed; note the calls that
    return."""
    if not context.get("resume") and x % 2:
        raise signals.PAUSE(f"child {x} waits")
    note_call(calls)
    return x * 10


@task(trigger=triggers.manual_only)
def gate_list() -> list[int]:
    return [1, 2, 3]


@task
def noted_double(x: int, calls: str) -> int:
    """Note the call (with the map index) in the side-effect file ``calls``; return 2x."""
    note_call(calls)
    return x * 2


@task
def day_and_name(n: int) -> tuple[int, str, str]:
    """Reads the run context as attributes, as Prefect 1's context allowed."""
    return n, context.today, context.task_name
