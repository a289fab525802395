"""Tasks and flows for the tests of unmapped plain nodes (issue 14's fast path): tasks the
runner's pipeline decides nothing for, and tasks next to them that need it (handlers,
retries, checkpoints, caches, signals, failures). Module-level, so every executor pickles
them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from headwater import Flow, Task, context, signals, task
from headwater.model.states import State
from headwater.results import LocalResult


def _where() -> tuple[Any, ...]:
    return (
        context["task_name"],
        context["task_full_name"],
        context["map_index"],
        context["task_run_count"],
        context["task_slug"],
        context["flow_name"],
        context["task_run_id"],
    )


@task
def source() -> int:
    """A plain task with no input."""
    return 2


@task
def double(x: int) -> tuple[int, tuple[Any, ...]]:
    """A plain task: 2 x, and the context it saw."""
    return x * 2, _where()


def keep(task: Task, old: State, new: State) -> State:
    """A state handler that changes nothing (its presence keeps the runner's path)."""
    return new


@task(state_handlers=[keep])
def double_handled(x: int) -> tuple[int, tuple[Any, ...]]:
    """As double, with a state handler."""
    return x * 2, _where()


def plain_flow() -> tuple[Flow, dict[str, Task]]:
    """The same task on the fast path and, with a handler, on the runner's path."""
    with Flow("plain-nodes") as f:
        s = source()
        a = double(s)
        b = double_handled(s)
    return f, {"source": s, "plain": a, "handled": b}


def mark(task: Task, old: State, new: State) -> State:
    """A state handler that says it ran in the state's message."""
    if new.is_successful():
        return new.with_(message=f"handled: {new.message}")
    return new


@task(state_handlers=[mark])
def handled(x: int) -> int:
    """x + 1, its success marked by a handler."""
    return x + 1


@task(max_retries=1, retry_delay=timedelta(0))
def flaky(x: int) -> int:
    """Fails its first try, then x + 1."""
    if context["task_run_count"] == 1:
        raise RuntimeError("first try")
    return x + 1


@task
def broken(x: int) -> int:
    """Always fails."""
    raise ValueError(f"bad {x}")


@task
def skipper(x: int) -> int:
    """Skips."""
    raise signals.SKIP(f"skip {x}")


@task
def after(x: int) -> int:
    """x + 1 (downstream of a failure or a skip)."""
    return x + 1


@task(checkpoint=True)
def kept(x: int) -> int:
    """x + 1, checkpointed."""
    return x + 1


@task(cache_for=timedelta(hours=1))
def cached(x: int) -> int:
    """x + 1, cached for an hour."""
    return x + 1


def pipeline_flow(folder: str) -> tuple[Flow, dict[str, Task]]:
    """Unmapped tasks that each need the runner's pipeline, next to plain ones."""
    with Flow("pipeline-nodes", result=LocalResult(dir=folder, location="{task_name}.bin")) as f:
        s = source()
        tasks = {
            "handled": handled(s),
            "flaky": flaky(s),
            "broken": broken(s),
            "after_broken": None,
            "skipper": skipper(s),
            "after_skip": None,
            "kept": kept(s),
            "cached": cached(s),
        }
        tasks["after_broken"] = after(tasks["broken"])
        tasks["after_skip"] = after(tasks["skipper"])
    return f, {k: v for k, v in tasks.items() if v is not None}


def mapped_pipeline_flow(folder: str) -> tuple[Flow, dict[str, Task]]:
    """Maps of 6 children in batches of 4 whose tasks need the runner's pipeline (a handler,
    retries, a checkpoint, a cache), next to a plain one."""
    result = LocalResult(dir=folder, location="{task_name}-{map_index}.bin")
    xs = list(range(6))
    with Flow("mapped-pipeline", result=result) as f:
        tasks = {
            "plain": after.map(xs, batch_size=4),
            "handled": handled.map(xs, batch_size=4),
            "flaky": flaky.map(xs, batch_size=4),
            "kept": kept.map(xs, batch_size=4),
            "cached": cached.map(xs, batch_size=4),
        }
    return f, tasks
