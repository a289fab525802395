"""The fast path of a batch: plain children run without the state pipeline.

Design note
-----------
Inside a batch (:func:`headwater.engine.batches.run_batch`) most children are *plain*: their
task has no state handler, no cache, no checkpoint and no target, a trigger that every
successful upstream meets, no timeout, no run name template, no stdout capture, and does
not ask for states; the child starts from scratch, and every upstream state it reads is a
success. For such a child the pipeline of :class:`~headwater.engine.runner.TaskRunner`
decides nothing: the checks pass, there is one try, and a returned value is a plain
``Success``, which the batch stores as columns anyway
(:class:`~headwater.engine.children.StateBatch`). So :class:`PlainChildren` calls the
function directly and appends the value and its two times (start, end) to the batch's
columns: no State, no upstream objects, no per-child copy of the run context.

What every child of the batch shares is made once per batch: the keyword arguments of the
constants and of the upstream values all children take whole, the run context with the
task's keys (:class:`ChildContext` adds a child's own ``map_index``, ``task_full_name`` and
``task_run_id`` when they are read), the signing key of the run, and for each mapped input
the values of the batch's children and the set of children whose upstream state is not a
plain success. A child in that set (or given an initial state) goes through the runner as
before; so does a child whose call raised: its first try is over, and the runner goes on
from the state the exception gives (:class:`~headwater.engine.runner.Tried`), with retries,
LOOP and signals as for any task run. The states are the same as the runner's (a test
compares them, batched against unbatched, on every executor); the times are taken with
``time.time()`` around the call.

A node of an unmapped plain task (or of one child, unbatched) takes the same path
(:func:`run_plain_node`): when every upstream state is a success it calls the function in a
:class:`ChildContext` and builds the ``Success`` itself, and only a call that raises goes on
in the runner. Whether a task is plain is decided once per run, in its
:class:`~headwater.engine.nodes.TaskDef`.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import CoroutineType
from typing import Any

from headwater.engine import caching
from headwater.engine.calls import await_coroutine, new_run_id, run_info, state_of_error
from headwater.engine.children import PLAIN_MESSAGE, Columns, StateBatch
from headwater.engine.context import task_run_context
from headwater.engine.runner import TaskRunner, Tried, Upstream
from headwater.model import signals
from headwater.model.context import current, enter_context, exit_context
from headwater.model.states import Pending, State, Success
from headwater.model.task import FunctionTask, Task
from headwater.model.triggers import all_finished, all_successful
from headwater.results.base import Result
from headwater.results.signing import using as using_run_key

PLAIN_TRIGGERS = frozenset({all_successful, all_finished})
"""Triggers met whenever every upstream task succeeded."""

_FN_RUN = FunctionTask.run


class ChildContext(Mapping[str, Any]):
    """The run context of one plain child: the batch's shared context with the child's own
    ``map_index``, ``task_full_name`` and ``task_run_id`` (made when first read).

    Args:
        shared: the batch's context (the child's keys in it are overwritten here).
        index: the child's map index (None: a task that is not mapped).
        task_name: the task's name.
    """

    __slots__ = ("_shared", "_index", "_name", "_run_id")

    def __init__(self, shared: Mapping[str, Any], index: int | None, task_name: str) -> None:
        self._shared = shared
        self._index = index
        self._name = task_name
        self._run_id: str | None = None

    def run_id(self) -> str:
        """The child's task run id (made on first use, then the same)."""
        if self._run_id is None:
            self._run_id = new_run_id()
        return self._run_id

    def __getitem__(self, key: str) -> Any:
        if key == "map_index":
            return self._index
        if key == "task_run_id":
            return self.run_id()
        if key == "task_full_name":
            return self._name if self._index is None else f"{self._name}[{self._index}]"
        return self._shared[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._shared)

    def __len__(self) -> int:
        return len(self._shared)

    def __repr__(self) -> str:
        return f"<ChildContext {dict(self)!r}>"


def plain_definition(task: Task, result: Result | None, checkpoint: bool) -> bool:
    """Whether the runner's pipeline decides nothing for a run of ``task`` whose upstream
    states are successes (see the module's note): no state handler, no stored result (a
    Result only holding the value is fine), a trigger every success meets, no timeout, no
    run name template, no stdout capture, values rather than states.

    Args:
        task: the task.
        result: the Result its output persists to (resolved by the flow runner).
        checkpoint: whether a successful result is written to ``result``.
    """
    stored = result is not None and (
        task.target is not None or checkpoint or caching.is_cached(task)
    )
    return (
        not stored
        and not (task.state_handlers or task.on_failure or task.on_success)
        and task.trigger in PLAIN_TRIGGERS
        and not task.wants_states
        and task.task_run_name is None
        and task.timeout is None
        and not task.log_stdout
    )


def is_plain_task(task: Task, runner: TaskRunner) -> bool:
    """:func:`plain_definition` for the task a runner runs.

    Args:
        task: the task.
        runner: its runner.
    """
    stored = runner.stored
    if stored is None:
        return plain_definition(task, None, False)
    if stored.resume is not None:  # its runs may read back an earlier run's checkpoint
        return False
    return plain_definition(task, stored.result, stored.checkpoint)


_Getter = tuple[str, Sequence[Any], int]
"""A mapped input of the batch's children: the argument, its values, and the map index of
``values[0]`` (child ``i`` takes ``values[i - offset]``)."""


class PlainChildren:
    """What the plain children of one batch share, and the loop that runs them.

    Made by :func:`plain_children`, which returns None when the batch's children cannot be
    plain (the task, or an input every child shares).

    Args:
        runner: the batch's runner (for the children that are not plain, and the state of
            a call that raised).
        kwargs: the arguments every child takes as they are.
        fresh: the arguments each child takes anew (a list of results built per child, as
            the runner does).
        getters: the mapped inputs.
        blocked: the map indices of the children that go through the runner.
        shared: the run context every child reads (:class:`ChildContext`).
    """

    def __init__(
        self,
        runner: TaskRunner,
        kwargs: dict[str, Any],
        fresh: list[tuple[str, Any]],
        getters: list[_Getter],
        blocked: set[int],
        shared: Mapping[str, Any],
    ) -> None:
        self.runner = runner
        self.kwargs = kwargs
        self.fresh = fresh
        self.getters = getters
        self.blocked = blocked
        self.shared = shared

    def run(
        self, i: int, stop: int, columns: Columns, slow: Callable[[int, Tried | None], None]
    ) -> int:
        """Run children ``i``, ``i + 1``, ... into ``columns`` until one is not plain (its
        index is returned; ``stop`` when none); ``slow(i, tried)`` finishes a child whose
        call raised.

        Args:
            i: the first child's map index (``columns`` holds the children before it).
            stop: the map index after the last child of the batch.
            columns: the batch's columns.
            slow: runs child ``i`` through the runner, from ``tried`` when given.
        """
        task = self.runner.task
        name = task.name
        # a function task's run only calls its function: call it directly
        fn = task.fn if isinstance(task, FunctionTask) and type(task).run is _FN_RUN else task.run
        kwargs, fresh, getters, blocked, shared = (
            self.kwargs,
            self.fresh,
            self.getters,
            self.blocked,
            self.shared,
        )
        results, times, now = columns.results, columns.times, time.time
        while i < stop:
            if i in blocked:
                return i
            args = kwargs.copy()
            for key, values, offset in getters:
                args[key] = values[i - offset]
            for key, up in fresh:
                args[key] = up.value()
            child = ChildContext(shared, i, name)
            token = enter_context(child)
            t0 = now()
            try:
                value = fn(**args)
                if type(value) is CoroutineType:
                    value = await_coroutine(value, name)
            except (Exception, signals.HeadwaterSignal) as exc:
                exit_context(token)
                started = _dt.datetime.fromtimestamp(t0, _dt.UTC)
                slow(i, Tried(self.runner.state_of_error(exc, 1), started, child.run_id()))
                i += 1
                continue
            t1 = now()
            exit_context(token)
            results.append(value)
            times.extend((t1, t0, t1))
            i += 1
        return i


def plain_children(
    runner: TaskRunner,
    context: Mapping[str, Any],
    inputs: Sequence[tuple[Any, Any]],
    start: int,
    stop: int,
    initial: State | None,
    given: Sequence[State | None] | None,
) -> PlainChildren | None:
    """The fast path of a batch of children ``start .. stop - 1``, or None when none of
    them can take it.

    Args:
        runner: the batch's runner.
        context: the flow run's context.
        inputs: per input, its kind and what the batch knows of it: ``("whole", Upstream)``,
            ``("range", Upstream of the one upstream state)``, ``("span", (key, batched,
            states))`` with the states of the children ``start .. stop - 1`` or the
            upstream batches holding them, or ``("explicit", (key, [(state, index)...]))``
            with each child's upstream state and the index of its element.
        start: the batch's first map index.
        stop: the map index after its last child.
        initial: every child's initial state (None: from scratch).
        given: each child's initial state, when given one by one.
    """
    task = runner.task
    if initial is not None or not is_plain_task(task, runner):
        return None
    kwargs = dict(runner.constants)
    fresh: list[tuple[str, Any]] = []
    getters: list[_Getter] = []
    blocked = {start + j for j, s in enumerate(given or ()) if s is not None}
    for kind, what in inputs:
        if kind in ("whole", "range"):
            if not _all_successful(what.states()):
                return None
            if kind == "range":
                if what.key is not None:
                    getters.append((what.key, what.state.result, 0))
            elif what.key is None:
                pass
            elif isinstance(what.state, State) and not what.flattened and what.index is None:
                kwargs[what.key] = what.state.result
            else:
                fresh.append((what.key, what))
            continue
        key, values, bad = _per_child(kind, what, start, stop)
        blocked |= bad
        if key is not None:
            getters.append((key, values, start))
    return PlainChildren(runner, kwargs, fresh, getters, blocked, _shared(context, task, start))


def run_plain_node(
    task_def: Any, flow_context: Any, upstream: Sequence[Upstream], map_index: int | None
) -> State | None:
    """Run a node of a plain task (``task_def.plain``, from scratch) without the state
    pipeline when every upstream state is a success; None when one is not (the runner
    decides then). A call that raises goes on in the runner.

    Args:
        task_def: the task's definition (:class:`~headwater.engine.nodes.TaskDef`).
        flow_context: the flow run's context (:class:`~headwater.engine.nodes.FlowContext`).
        upstream: the node's inputs.
        map_index: the child's index, or None.
    """
    kwargs = dict(task_def.constants)
    for up in upstream:
        if not _all_successful(up.states()):
            return None
        if up.key is not None:
            kwargs[up.key] = up.value()
    task = task_def.task
    child = ChildContext(_shared(flow_context.values, task, map_index), map_index, task.name)
    started = _dt.datetime.now(_dt.UTC)
    with using_run_key(flow_context.run_token):
        token = enter_context(child)
        try:
            value = task.run(**kwargs)
            if type(value) is CoroutineType:
                value = await_coroutine(value, task.name)
        except (Exception, signals.HeadwaterSignal) as exc:
            exit_context(token)
            runner = task_def.runner(flow_context, map_index)
            tried = Tried(state_of_error(task, exc, 1), started, child.run_id())
            return runner.run(upstream, flow_context.values, tried=tried)
        exit_context(token)
    info = run_info(started)
    return Success(
        PLAIN_MESSAGE,
        value,
        timestamp=info.end,
        run_count=1,
        map_index=map_index,
        run_info=info,
    )


def _all_successful(states: Sequence[State]) -> bool:
    classes = getattr(states, "classes", None)
    if classes is not None:
        return all(issubclass(k, Success) for k in classes())
    return all(isinstance(s, Success) for s in states)


def _per_child(
    kind: str, what: Any, start: int, stop: int
) -> tuple[str | None, list[Any], set[int]]:
    """A mapped input's values for children ``start .. stop - 1``, and the children whose
    upstream state is not a success (they take the runner's path)."""
    if kind == "span" and what[1]:  # the upstream batches this batch overlaps
        return (what[0], *_from_batches(what[2], start, stop))
    if kind == "span":
        pairs: Sequence[tuple[State, Any]] = [(s, None) for s in what[2]]
    else:
        pairs = what[1]
    bad: set[int] = set()
    values: list[Any] = []
    for j, (state, index) in enumerate(pairs):
        if not isinstance(state, Success):
            bad.add(start + j)
            values.append(None)
            continue
        value = state.result
        for k in index if isinstance(index, tuple) else () if index is None else (index,):
            value = value[k]
        values.append(value)
    return what[0], values, bad


def _from_batches(
    batches: Sequence[StateBatch], start: int, stop: int
) -> tuple[list[Any], set[int]]:
    """The values of children ``start .. stop - 1`` read from the columns of the upstream
    batches holding them, and the children kept whole there (not plain)."""
    values: list[Any] = []
    bad: set[int] = set()
    for b in batches:
        lo, hi = max(start, b.start), min(stop, b.start + b.n)
        if lo >= hi:
            continue
        if b.results is None:  # values dropped (only ever in the driver's summaries)
            bad.update(range(lo, hi))
            values.extend([None] * (hi - lo))
            continue
        values.extend(b.results[lo - b.start : hi - b.start])
        bad.update(b.start + p for p in b.others if lo <= b.start + p < hi)
    return values, bad


def _shared(context: Mapping[str, Any], task: Task, start: int | None) -> dict[str, Any]:
    """The run context every plain child of the batch reads: the current one, the flow
    run's, the task's keys (a first try, no LOOP), as the runner layers them."""
    keys = task_run_context(
        context,
        task,
        _PENDING,
        task_run_id="",
        run_count=1,
        map_index=start,
        loop_count=1,
        loop_result=None,
    )
    keys["task_run_name"] = None
    return {**current(), **keys}


def where_here() -> tuple[str, str, str]:
    """Host, worker and thread of the children run in this thread."""
    info = run_info(None)
    return (info.host, info.worker, info.thread)


_PENDING = Pending()

__all__ = [
    "PLAIN_TRIGGERS",
    "ChildContext",
    "PlainChildren",
    "is_plain_task",
    "plain_children",
    "plain_definition",
    "run_plain_node",
    "where_here",
]
