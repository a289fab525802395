"""Tasks that exercise the runner (signals, retries, loops, pauses, timeouts, context) and
report what happened through their results and states, so the same tests run on every
executor."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from headwater import context, get_logger, signals, task, triggers
from headwater.model.states import State


def trace(task: Any, old: State, new: State) -> State:
    """A state handler that appends each state's class name to the message, so the final
    state tells the whole path."""
    path = old.message if (old.message or "").startswith("path:") else "path:" + type(old).__name__
    return new.with_(message=f"{path}>{type(new).__name__}")


@task(max_retries=3, retry_delay=timedelta(milliseconds=1))
def fails_twice() -> int:
    count = context["task_run_count"]
    if count < 3:
        raise ConnectionError(f"try {count}")
    return count


@task(max_retries=5, retry_on=ValueError)
def type_error_once() -> int:
    if context["task_run_count"] == 1:
        raise TypeError("not retried")
    return 1


@task(max_retries=2)
def always_retry() -> None:
    raise signals.RETRY("again")


@task
def loop_to_five() -> int:
    n = context["task_loop_count"]
    total = context.get("task_loop_result") or 0
    if n < 5:
        raise signals.LOOP(result=total + n)
    return total + n


@task
def pause_unless_resumed() -> str:
    if not context.get("resume"):
        raise signals.PAUSE("waiting for a person")
    return "resumed"


@task(trigger=triggers.manual_only)
def approve(x: int) -> int:
    return x + 100


@task
def signal(kind: str) -> None:
    raise getattr(signals, kind)(f"raised {kind}")


@task
def skip_with_result() -> None:
    raise signals.SKIP("skipping", result=42)


@task(timeout=0.3)
def slow(seconds: float) -> str:
    time.sleep(seconds)
    return "finished"


@task(timeout=0.3, max_retries=1)
def slow_then_fast() -> str:
    if context["task_run_count"] == 1:
        time.sleep(5)
    return "second try"


@task
def swallow_signals() -> str:
    try:
        raise signals.FAIL("must not be swallowed")
    except Exception:
        return "swallowed"


@task
def read_context() -> dict[str, Any]:
    keys = [
        "flow_name",
        "task_name",
        "task_run_count",
        "map_index",
        "parameters",
        "task_loop_count",
    ]
    out = {k: context.get(k) for k in keys}
    out["parameters"] = dict(out["parameters"] or {})
    out["has_ids"] = bool(context["flow_run_id"]) and bool(context["task_run_id"])
    return out


@task(log_stdout=True)
def chatty() -> int:
    print("hello from a task")
    get_logger().warning("careful")
    return 1
