"""Collecting a run's states, and repairing what a lost worker took down with it.

Design note
-----------
At the end of a run (and while waiting for a map's shape) the flow runner asks the executor
for the state of every planned key (:func:`settle`). Errors are values
(docs/notices/0008-compilation.md): a key whose node was lost with its worker comes back as
the exception Dask gave up with, and so may every key downstream of it.

A repair resubmits what a lost key took down, under new keys (``key~N``). A *root* (a lost
key none of whose inputs was lost: Dask gave up on it) runs again while its task has retries
left, starting from a Retrying state that waits out the task's ``retry_delay`` and keeps its
run count; otherwise it becomes a Crashed state. Everything downstream of a root in the
submitted graph is submitted again, reading the new keys. After ``MAX_REPAIR_ROUNDS`` rounds
the lost keys left are given up on: each root becomes Crashed and what depends on it runs
once more, reading the Crashed state; whatever is lost even then is Crashed too.

A lost *batch* of mapped children (notice 0010) does not say which child took its worker
down, so it is not run again whole nor Crashed whole: it is split, one child per node
(``<batch key>-child<i>``), and a join node puts their states back together under the
batch's new key, so what reads the batch reads the join unchanged. Each child's node reads
the previous child's key (and ignores its value): the children run one after the other, as
in the batch, so the culprit runs with no sibling queued behind it on its worker (Dask
would count a queued sibling as lost with it). Each child's node starts with the batch's
count of losses; the children before the culprit finish (a checkpointed one reads back the
checkpoint it wrote, on executors that lose results), the culprit is lost alone and is the
root of the next round (it runs again while its task has retries, else it alone is
Crashed), and the children after it run once it is settled. A lost join is seen through:
its lost children are the roots.

Only the states of the tasks the caller asked for come back whole; the others come back
without their results, summarized where the results are (``Executor.gather_summaries``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from headwater.engine.batches import BatchSpec, join_batches, run_batch, split_batch
from headwater.engine.children import ChildStates
from headwater.engine.nodes import NodeSpec, mapped_state, run_node, strip_result
from headwater.engine.plan import Output, annotations_of, as_batch, as_state, is_lost
from headwater.engine.sizing import pace_memory
from headwater.model.retries import retry_wait
from headwater.model.states import Cancelled, Retrying, State
from headwater.model.task import Task
from headwater.taskgraph import dependencies, is_node, renamed

if TYPE_CHECKING:
    from headwater.engine.planner import Planner

logger = logging.getLogger("headwater.flow_runner")

MAX_REPAIR_ROUNDS = 100
"""Bounds the repair loop (each round spends a retry or gives up on every lost key)."""

NOT_RUN = "Not run: the flow run was interrupted."
"""The message of a task that Ctrl-C kept from running."""


def settle(planner: Planner) -> dict[str, Any]:
    """Gather the state of every planned key, repairing lost ones until none is left.

    Returns:
        Output key -> its state, or the exception of a key that could not be repaired.
    """
    plan = planner.plan
    values: dict[str, Any] = {}
    for round_ in range(MAX_REPAIR_ROUNDS + 2):
        values = gather_states(planner, plan.outputs, plan.settled)
        plan.settled.update(values)
        lost = {k: v for k, v in values.items() if is_lost(v)}
        if (
            not lost
            or round_ > MAX_REPAIR_ROUNDS
            or not repair(planner, lost, give_up=round_ == MAX_REPAIR_ROUNDS)
        ):
            break
    return values


def collect(planner: Planner) -> dict[Task, State]:
    """Every planned task's final state (see :func:`settle`), the executor's copies released."""
    values = settle(planner)
    planner.executor.release(planner.plan.submitted)
    memory = pace_memory(planner.executor)
    if memory is not None:  # the pace of each adaptive map, for its next run (notice 0018)
        for task, out in planner.plan.outputs.items():
            if out.batches is not None and task.batch_size is None:
                memory.note(task, (values.get(k) for k in out.batches))
    return states_of(planner, values)


def cancel(planner: Planner) -> dict[Task, State]:
    """After Ctrl-C: cancel everything, keep the states that are final, and say Cancelled
    for the rest (tasks never planned included)."""
    plan, executor = planner.plan, planner.executor
    stop = getattr(executor, "cancel", None)
    if stop is not None:
        stop(plan.submitted)
    values = gather_states(planner, plan.outputs)
    executor.release(plan.submitted)
    states = states_of(planner, values)
    for task in planner.flow.tasks:
        if task not in states:
            states[task] = Cancelled(NOT_RUN)
    return states


def states_of(planner: Planner, values: Mapping[str, Any]) -> dict[Task, State]:
    """Each planned task's state from the values of its output keys."""
    states: dict[Task, State] = {}
    for task, out in planner.plan.outputs.items():
        if out.batches is not None and out.starts is not None:
            starts = out.starts
            parts = [
                as_batch(values[k], task, starts[j], starts[j + 1])
                for j, k in enumerate(out.batches)
            ]
            states[task] = mapped_state(task, ChildStates(parts))
        elif out.children is None:
            states[task] = as_state(values[out.single or ""], task)
        else:
            children = [as_state(values[k], task, i) for i, k in enumerate(out.children)]
            states[task] = mapped_state(task, children)
    return states


def gather_states(
    planner: Planner,
    outputs: Mapping[Task, Output],
    known: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The values of the output keys of ``outputs``: whole for the tasks the caller asked
    for, without their results for the others (made where the results are:
    ``Executor.gather_summaries``), so no result nobody asked for reaches the driver. Keys in
    ``known`` are not asked again."""
    known = known or {}
    executor = planner.executor
    whole: list[str] = []
    stripped: list[str] = []
    for task, out in outputs.items():
        for k in out.keys():
            if k not in known:
                (whole if task in planner.plan.wanted else stripped).append(k)
    values = {k: known[k] for out in outputs.values() for k in out.keys() if k in known}
    both = getattr(executor, "gather_with_summaries", None)
    if callable(both):  # stripped first (or at once): the last tasks may still be running
        values.update(both(whole, stripped, strip_result))
        return values
    if stripped:
        values.update(_stripped(executor, stripped))
    if whole:
        values.update(executor.gather(whole))
    return values


def _stripped(executor: Any, keys: list[str]) -> dict[str, Any]:
    """The values of ``keys`` without their results, made where the results are."""
    summaries = getattr(executor, "gather_summaries", None)
    if callable(summaries):
        return dict(summaries(keys, strip_result))
    got = executor.gather(keys)  # a duck-typed executor: strip here
    return {k: strip_result(v) for k, v in got.items()}


def repair(planner: Planner, lost: Mapping[str, BaseException], give_up: bool = False) -> bool:
    """Resubmit what the ``lost`` keys took down with them, under new keys (see the module's
    note); return False when there is nothing to repair (no root).

    Args:
        planner: the run's planner.
        lost: lost key -> the exception it was lost with.
        give_up: make every root Crashed instead of running it again.
    """
    plan = planner.plan
    owner = {k: t for t, out in plan.outputs.items() for k in out.keys()}
    lost = _through_joins(planner, lost, owner)
    roots = [k for k in lost if not any(d in lost for d in dependencies(plan.nodes.get(k)))]
    if not roots:
        return False
    rename: dict[str, str] = {}
    batch: dict[str, Any] = {}
    for r in roots:
        node = plan.nodes.get(r)
        if not give_up and node is not None and _is_split(node):
            _split(planner, r, node, lost[r], rename, batch, owner)
        else:
            batch[_new_key(planner, r, rename)] = _rerun_or_crash(
                planner, owner[r], r, lost[r], give_up
            )
    closure = _downstream(plan.nodes, roots)
    for k, node in list(plan.nodes.items()):
        if k in closure and k not in rename:
            batch[_new_key(planner, k, rename)] = (node[0], *(renamed(a, rename) for a in node[1:]))
    annotations: dict[str, dict[str, Any]] = {}
    was = {new: old for old, new in rename.items()}
    for key, node in batch.items():
        task = owner.get(was.get(key, key))
        ann = annotations_of(task) if task is not None and is_node(node) else None
        if ann and node[0] is not join_batches:
            annotations[key] = ann
    _follow_renames(planner, rename)
    planner.executor.release(list(rename))
    planner.submit(batch, annotations)
    return True


def _through_joins(
    planner: Planner, lost: Mapping[str, BaseException], owner: dict[str, Task]
) -> dict[str, BaseException]:
    """``lost`` with the lost children of each lost join (a split batch's), so that they,
    not the join, are the roots; ``owner`` learns their task."""
    plan = planner.plan
    out = dict(lost)
    for k in lost:
        node = plan.nodes.get(k)
        if node is None or node[0] is not join_batches:
            continue
        parts = dependencies(node)
        for part, value in _stripped(planner.executor, parts).items():
            if is_lost(value):
                out[part] = value
                owner[part] = owner[k]
    return out


def _is_split(node: tuple[Any, ...] | None) -> bool:
    """Whether a lost node is a batch of several children (run again split)."""
    if node is None or node[0] is not run_batch:
        return False
    spec = node[3]
    return isinstance(spec, BatchSpec) and spec.stop - spec.start > 1


def _split(
    planner: Planner,
    key: str,
    node: tuple[Any, ...],
    exc: BaseException,
    rename: dict[str, str],
    batch: dict[str, Any],
    owner: dict[str, Task],
) -> None:
    """Add to ``batch`` a lost batch's children, one per node, and the join that stands for
    the batch under its new key (see the module's note)."""
    plan = planner.plan
    base = key.split("~", 1)[0]
    crashes = plan.crashes[base] = plan.crashes.get(base, 0) + 1
    task = owner[key]
    spec = node[3]
    logger.warning(
        "A batch of task %r (children %d to %d) was lost (%s); running its children one "
        "per node, so that only the one that took the worker down is lost again",
        task.name,
        spec.start,
        spec.stop - 1,
        exc,
    )
    plan.renames += 1
    parts: list[str] = []
    for child, args in split_batch(spec, node[4:]):
        base_of_child = f"{base}-child{child.start}"
        plan.crashes[base_of_child] = crashes  # the batch's losses count for each child
        part = f"{base_of_child}~{plan.renames}"
        after = parts[-1:]  # read, not used: the children run one after the other
        batch[part] = (node[0], node[1], node[2], child, *args, *after)
        owner[part] = task
        parts.append(part)
    batch[_new_key(planner, key, rename)] = (join_batches, *parts)


def _new_key(planner: Planner, old: str, rename: dict[str, str]) -> str:
    """A new key for ``old``'s node: its original key with the repair's number."""
    planner.plan.renames += 1
    rename[old] = key = f"{old.split('~', 1)[0]}~{planner.plan.renames}"
    return key


def _rerun_or_crash(
    planner: Planner, task: Task, key: str, exc: BaseException, give_up: bool
) -> Any:
    """A lost root's replacement: its node again while it has retries left, else its
    Crashed state (or batch of Crashed children)."""
    plan = planner.plan
    lost_node = plan.nodes.get(key)
    base = key.split("~", 1)[0]
    crashes = plan.crashes[base] = plan.crashes.get(base, 0) + 1
    if (
        lost_node is not None
        and lost_node[0] in (run_node, run_batch)
        and crashes <= task.max_retries
        and not give_up
    ):
        wait = retry_wait(task.retry_delay, crashes)
        logger.warning(
            "Task %r was lost (%s); running it again in %gs", task.name, exc, wait.total_seconds()
        )
        return retry_later(lost_node, task, crashes, exc, wait)
    spec = lost_node[3] if lost_node is not None and len(lost_node) > 3 else None
    if isinstance(spec, BatchSpec):
        return as_batch(exc, task, spec.start, spec.stop, crashes)
    return as_state(exc, task, getattr(spec, "map_index", None), crashes)


def _downstream(nodes: Mapping[str, tuple[Any, ...]], roots: list[str]) -> set[str]:
    """Every key downstream of ``roots`` in the submitted graph."""
    dependents: dict[str, list[str]] = {}
    for k, node in nodes.items():
        for d in dependencies(node):
            dependents.setdefault(d, []).append(k)
    closure: set[str] = set()
    todo = list(roots)
    while todo:
        for d in dependents.get(todo.pop(), ()):
            if d not in closure:
                closure.add(d)
                todo.append(d)
    return closure


def _follow_renames(planner: Planner, rename: Mapping[str, str]) -> None:
    """Make the plan point at the new keys."""
    plan = planner.plan
    for out in [*plan.outputs.values(), *plan.pilots.values()]:
        if out.single is not None:
            out.single = rename.get(out.single, out.single)
        if out.children is not None:
            out.children = [rename.get(k, k) for k in out.children]
        if out.batches is not None:
            out.batches = [rename.get(k, k) for k in out.batches]
    for k in rename:
        plan.nodes.pop(k, None)
        plan.settled.pop(k, None)
    for shape, k in list(plan.shape_keys.items()):
        plan.shape_keys[shape] = rename.get(k, k)


def retry_later(
    node: tuple[Any, ...], task: Task, crashes: int, exc: BaseException, wait: _dt.timedelta
) -> Any:
    """The lost node of a task run again: a plain task starts from a Retrying state that
    carries its run count (so its own retries count the lost runs) and waits ``wait``
    (what its ``retry_delay`` gives for retry number ``crashes``); a batch of children runs
    again at once.

    Args:
        node: the lost node.
        task: its task.
        crashes: how many times it was lost so far.
        exc: what it was lost with.
        wait: how long to wait before running it again.
    """
    spec = node[3] if len(node) > 3 else None
    if node[0] is not run_node or not isinstance(spec, NodeSpec) or spec.initial_state:
        return node
    retry = Retrying(
        f"Lost with its worker ({type(exc).__name__}); run {crashes + 1} of "
        f"{task.max_retries + 1} after {wait.total_seconds():g}s",
        start_time=_dt.datetime.now(_dt.UTC) + wait,
        run_count=crashes,
        map_index=spec.map_index,
    )
    return (*node[:3], dataclasses.replace(spec, initial_state=retry), *node[4:])


__all__ = [
    "MAX_REPAIR_ROUNDS",
    "NOT_RUN",
    "cancel",
    "collect",
    "gather_states",
    "repair",
    "retry_later",
    "settle",
    "states_of",
]
