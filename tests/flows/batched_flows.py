"""Tasks and flows for the batched-map tests (module-level, so every executor can pickle them).

A child's fate is decided by its element and the sets given unmapped: it fails (raises),
skips (raises SKIP), fails its first try only (and is retried), or succeeds. Nothing keeps
state between task runs.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from headwater import (
    Flow,
    Parameter,
    Task,
    context,
    filter_results,
    flatten,
    signals,
    task,
    triggers,
    unmapped,
)


@task(max_retries=1, retry_delay=0.01)
def step(x: int, fail: Collection[int], skip: Collection[int], flaky: Collection[int]) -> int:
    """x * 10, unless x is in ``fail`` (raises), ``skip`` (SKIP) or ``flaky`` (first try
    raises; retried after a short delay, so a batch defers it behind its other children)."""
    if x in skip:
        raise signals.SKIP(f"skip {x}")
    if x in fail:
        raise ValueError(f"element {x} is bad")
    if x in flaky and context["task_run_count"] == 1:
        raise RuntimeError(f"element {x} fails its first try")
    return x * 10


@task
def plus_index(y: int) -> tuple[int, int | None]:
    """y with the child's map index from the run context."""
    return y + 1, context["map_index"]


@task(trigger=triggers.all_finished)
def count_finished(ys: list[Any]) -> int:
    """The number of children's results (a reduce that runs whatever they ended)."""
    return len(ys)


@task
def total(ys: list[Any]) -> int:
    """The sum of the first items."""
    return sum(y[0] if isinstance(y, tuple) else y for y in ys)


@task
def chunks(n: int) -> list[list[int]]:
    """n lists of growing length: [[], [0], [0, 1], ...]."""
    return [list(range(i % 4)) for i in range(n)]


def element_wise(
    n: int,
    batch_size: int | None,
    fail: Collection[int] = (),
    skip: Collection[int] = (),
    flaky: Collection[int] = (),
    second_batch_size: int | None = None,
) -> tuple[Flow, dict[str, Task]]:
    """step.map(range(n)) -> plus_index.map(...) -> reduces; ``second_batch_size`` for the
    second map (the first's size when None)."""
    with Flow(f"batched-{n}-{batch_size}") as f:
        a = step.map(
            list(range(n)),
            unmapped(frozenset(fail)),
            unmapped(frozenset(skip)),
            unmapped(frozenset(flaky)),
            batch_size=batch_size,
        )
        b = plus_index.map(a, batch_size=second_batch_size or batch_size)
        everything = count_finished(b)
        summed = total(b)
        kept = filter_results(b)
    return f, {"a": a, "b": b, "count": everything, "total": summed, "kept": kept}


def runtime_length(batch_size: int | None) -> tuple[Flow, dict[str, Task]]:
    """Maps whose length is known only at run time: over a Parameter, and flattened."""
    with Flow("runtime-length") as f:
        xs = Parameter("xs", default=list(range(9)))
        a = step.map(xs, unmapped(()), unmapped(()), unmapped(()), batch_size=batch_size)
        parts = chunks(7)
        flat = plus_index.map(flatten(parts), batch_size=batch_size)
        b = plus_index.map(a, batch_size=batch_size)
        summed = total(b)
    return f, {"a": a, "flat": flat, "b": b, "total": summed}


@task
def die_at(x: int, fatal: int) -> int:
    """Kills the worker process running it when ``x == fatal`` (after a second, so the other
    batches are done); else x."""
    if x == fatal:
        import os
        import time

        time.sleep(1)
        os._exit(1)
    return x


@task
def nap(x: int, seconds: float) -> int:
    """Sleep ``seconds`` (a slow child), then x."""
    import time

    time.sleep(seconds)
    return x


@task(max_retries=2, retry_delay=0.0)
def where_and_how(x: int, loops: int) -> tuple[Any, ...]:
    """What the run context says of this child, after LOOPing ``loops`` times and failing
    its first try when x is 3 (a plain child whose call raises goes on in the runner)."""
    if context["task_loop_count"] <= loops:
        raise signals.LOOP(result=x)
    if x == 3 and context["task_run_count"] == 1:
        raise RuntimeError("the first try of element 3 fails")
    return (
        context["map_index"],
        context["task_full_name"],
        context["task_run_count"],
        context["task_loop_count"],
        context.get("task_loop_result"),
        context["task_run_name"],
        context["resume"],
        context["flow_name"],
        context["task_slug"],
        context["task_run_id"],
    )


@task
async def awaited(x: int) -> int:
    """An ``async def`` child: awaited in the batch."""
    import asyncio

    await asyncio.sleep(0)
    if x == 2:
        raise signals.SKIP("two skips")
    return x * 2


def context_flow(n: int, batch_size: int | None) -> tuple[Flow, dict[str, Task]]:
    """Children reporting their run context (and LOOPing, and a failed first try), and
    async children."""
    with Flow("context-in-batches") as f:
        looped = where_and_how.map(list(range(n)), unmapped(1), batch_size=batch_size)
        plain = where_and_how.map(list(range(n)), unmapped(0), batch_size=batch_size)
        coroutines = awaited.map(list(range(n)), batch_size=batch_size)
    return f, {"looped": looped, "plain": plain, "async": coroutines}
