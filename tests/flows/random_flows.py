"""Random flows for the executor-equivalence property test: a plain-data description
(:class:`Node` list, drawn by hypothesis) and :func:`build`, which turns it into a Flow of
module-level tasks (so every executor can pickle them).

Every task's outcome depends only on its inputs and its ``mode``: ``ok`` returns a number,
``raise`` raises, ``skip`` / ``fail`` raise the SKIP / FAIL signals, ``retry`` fails its first
run and succeeds on the retry. Mapped children apply their mode only to odd elements, so a
map mixes outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from headwater import Flow, Task, case, context, signals, task, triggers

MODES = ("ok", "ok", "ok", "raise", "skip", "fail", "retry")
TRIGGERS = {
    "all_successful": triggers.all_successful,
    "all_finished": triggers.all_finished,
    "any_failed": triggers.any_failed,
    "no_failed": triggers.no_failed,
    "any_successful": triggers.any_successful,
}


def total(x: Any) -> int:
    """The sum of a number, or of the numbers in (nested) lists; None counts 0."""
    if x is None:
        return 0
    if isinstance(x, list | tuple):
        return sum(total(v) for v in x)
    return int(x)


def behave(mode: str, value: int) -> int:
    """Do what ``mode`` says, returning ``value`` when it says to succeed."""
    if mode == "raise":
        raise ValueError(f"raised on {value}")
    if mode == "skip":
        raise signals.SKIP(f"skipped on {value}")
    if mode == "fail":
        raise signals.FAIL(f"failed on {value}")
    if mode == "retry" and context["task_run_count"] < 2:
        raise RuntimeError("first try fails")
    return value


@task(max_retries=1, retry_delay=timedelta(0))
def combine(k: int, a: Any = None, b: Any = None, mode: str = "ok") -> int:
    """``k`` plus the totals of its inputs, or what ``mode`` says."""
    return behave(mode, k + total(a) + total(b))


@task(max_retries=1, retry_delay=timedelta(0))
def child(x: Any, k: int, mode: str = "ok") -> int:
    """One mapped element: ``x + k``; ``mode`` applies to odd totals only."""
    value = total(x) + k
    return behave(mode if value % 2 else "ok", value)


@task
def make_list(n: int, k: int) -> list[int]:
    """``[k, k + 1, ..., k + n - 1]``."""
    return list(range(k, k + n))


@task
def is_even(x: Any) -> bool:
    """Whether the total of ``x`` is even."""
    return total(x) % 2 == 0


@dataclass(frozen=True)
class Node:
    """One task of a random flow.

    ``kind``: ``plain`` (combine of up to two earlier nodes), ``list`` (make_list),
    ``map`` (child mapped over an earlier list or mapped node, or over a constant list),
    ``case`` (a plain node that runs only when an earlier node's total is even).
    """

    kind: str
    k: int
    mode: str = "ok"
    trigger: str = "all_successful"
    inputs: tuple[int, ...] = ()
    length: int = 0


def build(nodes: list[Node]) -> tuple[Flow, list[Task]]:
    """The flow the nodes describe, and its tasks in node order."""
    made: list[Task] = []
    with Flow("random") as f:
        for node in nodes:
            ups = [made[i] for i in node.inputs]
            options = {"trigger": TRIGGERS[node.trigger]}
            if node.kind == "list":
                t = make_list(node.length, node.k)
            elif node.kind == "map":
                over: Any = ups[0] if ups else list(range(node.k, node.k + node.length))
                t = child.map(over, node.k, node.mode, task_args=options)
            elif node.kind == "case" and ups:
                with case(is_even(ups[0]), True):
                    t = combine(node.k, *ups[1:2], mode=node.mode, task_args=options)
            else:
                t = combine(node.k, *ups[:2], mode=node.mode, task_args=options)
            made.append(t)
    return f, made
