"""Batches of mapped children: several children per graph node (notice 0010).

Design note
-----------
The planner cuts a map into batch nodes, each calling :func:`run_batch` for a run of
consecutive children (how many: ``batch_size``, or adaptively, :mod:`headwater.engine.sizing`).
``run_batch`` runs every child as a task run of its own, one after the other, and returns
their states as one compact :class:`~headwater.engine.children.StateBatch`. A plain child
(no handler, cache, checkpoint or target, a default trigger, upstream successes) takes the
fast path (:mod:`headwater.engine.plain`): its function is called directly and its value
and times go into the batch's columns; any other child goes through the same
:class:`~headwater.engine.runner.TaskRunner` as an unbatched child (its own trigger, retries,
handlers, targets and context), and so does a plain child whose call raised, from the state
that gave. How a child takes an input is described per input (:class:`BatchInput`), never
per child, except for ``flatten``.

A child to retry after a delay does not hold up its batch: the runner hands it back Retrying
(``TaskRunner.defer_retries``), the others run, and it runs again when due; the wait leaves
the worker's slot (:func:`~headwater.engine.runner.wait_for_retry`). Children of one batch share
its thread: a batch of slow children runs serially (docs/notices/0010-batched-maps.md).

A batch lost with its worker does not say which child killed the worker, so the flow runner
runs it again split, one child per node (:func:`split_batch`), reading the same upstream
keys; :func:`join_batches` puts their states back together as the lost batch's, so nothing
downstream changes (:mod:`headwater.engine.collect`). Only the culprit is lost again.
A batch node's arguments past those of its inputs are not read (the split children take
the previous child's key there, to run in order).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from headwater import pickling
from headwater.engine.calls import wait_for_retry
from headwater.engine.children import ChildStates, Columns, StateBatch
from headwater.engine.nodes import (
    PLAIN_TYPES,
    FlowContext,
    TaskDef,
    picklable_state,
    to_check,
)
from headwater.engine.plain import plain_children, where_here
from headwater.engine.runner import TaskRunner, Tried, Upstream
from headwater.model.states import Retrying, State
from headwater.results.signing import using as using_run_key


@dataclass(frozen=True, slots=True)
class BatchInput:
    """How the children of a batch take one input.

    ``kind`` is ``"whole"`` (every child takes the same state(s): an unmapped input, a gate,
    a wait), ``"range"`` (child ``i`` takes element ``i`` of the one upstream state's
    value), ``"span"`` (child ``i`` takes the state of child ``i`` of a mapped upstream,
    from the ``count`` states or batches given) or ``"explicit"`` (child ``start + j`` takes
    ``explicit[j]``: the offset of its state among this input's arguments, the position in a
    batch or None, and the index into the value).
    """

    key: str | None
    kind: str
    count: int = -1
    flattened: bool = False
    gate: bool = False
    batched: bool = False
    explicit: tuple[tuple[int, int | None, int | tuple[int, ...] | None], ...] = ()


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """A batch node's children ``start .. stop - 1`` and how they take their inputs.

    Every child starts from ``initial_state``, or, when the task was given a Mapped state
    or is resumed, from its own in ``initial_states`` (None: from scratch; a finished one
    is kept). In a resumed run, the children in ``fresh`` (map indexes) run without reading
    back an earlier run's checkpoint.
    """

    start: int
    stop: int
    inputs: tuple[BatchInput, ...] = ()
    initial_state: State | None = None
    initial_states: tuple[State | None, ...] | None = None
    fresh: frozenset[int] = frozenset()


def run_batch(
    task_def: TaskDef, flow_context: FlowContext, spec: BatchSpec, *values: Any
) -> StateBatch:
    """Run children ``spec.start .. spec.stop - 1`` of a mapped task, one after the other.

    Each child is a whole task run (its own trigger, retries, context, handlers, targets);
    plain children take the fast path (:mod:`headwater.engine.plain`). A child to retry
    after a delay does not hold up the others: it ends Retrying, the rest run, and it runs
    again when due (the wait secedes from a distributed worker or lends the slot of
    LocalDaskExecutor's threads).

    Args:
        task_def: the task and its constants.
        flow_context: the flow run's context.
        spec: the children and how ``values`` map onto their inputs.
        *values: the upstream states (or batches of states), in the order of ``spec.inputs``.

    Returns:
        The children's states, compact.
    """
    start, stop = spec.start, spec.stop
    prepared = _prepare(spec, values)
    task = task_def.task
    runner = task_def.runner(flow_context)
    runner.defer_retries = True
    runner.fresh = spec.fresh
    ctx = flow_context.values
    columns = Columns(start, where_here())
    due: list[_Due] = []
    given = spec.initial_states

    def slow(i: int, tried: Tried | None = None) -> None:
        upstream = _child_inputs(prepared, i, start)
        runner.map_index = i
        initial = spec.initial_state if given is None else given[i - start]
        state = runner.run(upstream, ctx, initial, tried=tried)
        if isinstance(state, Retrying):
            heapq.heappush(due, (state.start_time or state.timestamp, i, state, upstream))
        columns.add(state)

    plain = plain_children(
        runner, ctx, _plain_inputs(prepared, spec), start, stop, spec.initial_state, given
    )
    i = start
    while i < stop:
        if plain is not None:
            with using_run_key(flow_context.run_token):
                i = plain.run(i, stop, columns, slow)
            if i >= stop:
                break
        slow(i)
        i += 1
    _run_when_due(runner, ctx, due, columns, start)
    batch = columns.batch()
    if flow_context.ships_values:
        try:
            _check_picklable(batch)
        except Exception:
            batch = StateBatch.of(start, [picklable_state(s, task) for s in batch])
    return batch


def _check_picklable(batch: StateBatch) -> None:
    """Check that a batch can leave the worker: its values that are not plain, and its
    children kept whole (without their plain values); nothing when every value is plain."""
    values = [v for v in batch.results or () if type(v) not in PLAIN_TYPES]
    others = [to_check(s) for s in batch.others.values()]
    if values or others:
        pickling.check((values, others))


_Prepared = list[tuple[BatchInput, Sequence[Any], Any]]
"""Per input: its spec, its upstream values, and what every child shares of it."""

_Due = tuple[_dt.datetime, int, State, list[Upstream]]
"""A child waiting to retry: when, its index, its Retrying state, its inputs."""


def _prepare(spec: BatchSpec, values: Sequence[Any]) -> _Prepared:
    """Split the node's upstream values by input, and make once what every child shares."""
    prepared: _Prepared = []
    pos = 0
    for inp in spec.inputs:
        n_args = 1 if inp.count < 0 else inp.count
        args = values[pos : pos + n_args]
        pos += n_args
        extra: Any = None
        if inp.kind == "whole":
            whole: Any = (
                args[0] if inp.count < 0 else (ChildStates(args) if inp.batched else tuple(args))
            )
            extra = Upstream(inp.key, whole, None, inp.flattened, inp.gate)
        prepared.append((inp, args, extra))
    return prepared


def _plain_inputs(prepared: _Prepared, spec: BatchSpec) -> list[tuple[str, Any]]:
    """What the fast path needs of each input (:func:`headwater.engine.plain.plain_children`)."""
    out: list[tuple[str, Any]] = []
    for inp, given, extra in prepared:
        if inp.kind == "whole":
            out.append(("whole", extra))
        elif inp.kind == "range":
            out.append(("range", Upstream(inp.key, given[0], gate=inp.gate)))
        elif inp.kind == "span":
            out.append(("span", (inp.key, inp.batched, given)))
        else:
            pairs = []
            for offset, at, index in inp.explicit:
                value = given[offset]
                pairs.append((value[at] if at is not None else value, index))
            out.append(("explicit", (inp.key, pairs)))
    return out


def _span_state(given: Sequence[Any], batched: bool, i: int, start: int) -> State:
    """Child ``i``'s upstream state, from the children's states (``start`` first) or the
    upstream batches holding them."""
    if not batched:
        state: State = given[i - start]
        return state
    for b in given:
        if b.start <= i < b.start + b.n:
            found: State = b[i - b.start]
            return found
    raise IndexError(f"no upstream batch holds child {i}")


def _child_inputs(prepared: _Prepared, i: int, start: int) -> list[Upstream]:
    """Child ``i``'s inputs."""
    upstream: list[Upstream] = []
    for inp, given, extra in prepared:
        kind = inp.kind
        if kind == "whole":
            upstream.append(extra)
        elif kind == "span":
            state = _span_state(given, inp.batched, i, start)
            upstream.append(Upstream(inp.key, state, gate=inp.gate))
        elif kind == "range":
            upstream.append(Upstream(inp.key, given[0], i, gate=inp.gate))
        else:
            offset, at, index = inp.explicit[i - start]
            value = given[offset]
            state = value[at] if at is not None else value
            upstream.append(Upstream(inp.key, state, index, gate=inp.gate))
    return upstream


def _run_when_due(
    runner: TaskRunner,
    ctx: Any,
    due: list[_Due],
    columns: Columns,
    start: int,
) -> None:
    """Run the children waiting to retry, each when it is due, until none waits."""
    while due:
        when, i, retry, upstream = heapq.heappop(due)
        wait_for_retry((when - _dt.datetime.now(_dt.UTC)).total_seconds())
        runner.map_index = i
        state = runner.run(upstream, ctx, retry)
        if isinstance(state, Retrying):
            heapq.heappush(due, (state.start_time or state.timestamp, i, state, upstream))
        columns.put(i - start, state)


def split_batch(spec: BatchSpec, args: Sequence[Any]) -> list[tuple[BatchSpec, list[Any]]]:
    """One batch per child of ``spec``, each with the upstream keys it reads.

    Args:
        spec: a batch's spec.
        args: the batch node's upstream keys, in the order of ``spec.inputs``.

    Returns:
        ``(spec, args)`` of each child's batch, in order.
    """
    out = []
    for i in range(spec.start, spec.stop):
        inputs: list[BatchInput] = []
        child_args: list[Any] = []
        pos = 0
        for inp in spec.inputs:
            n_args = 1 if inp.count < 0 else inp.count
            given = list(args[pos : pos + n_args])
            pos += n_args
            if inp.kind == "span" and not inp.batched:  # one state per child
                given = [given[i - spec.start]]
                inp = dataclasses.replace(inp, count=1)
            elif inp.kind == "explicit":
                inp = dataclasses.replace(inp, explicit=(inp.explicit[i - spec.start],))
            inputs.append(inp)
            child_args.extend(given)
        child = dataclasses.replace(spec, start=i, stop=i + 1, inputs=tuple(inputs))
        out.append((child, child_args))
    return out


def join_batches(*parts: StateBatch) -> StateBatch:
    """The states of consecutive batches as one batch (the batch they were split from).

    Args:
        *parts: batches of consecutive children, in order.
    """
    return StateBatch.of(parts[0].start, [s for part in parts for s in part])


__all__ = [
    "BatchInput",
    "BatchSpec",
    "join_batches",
    "run_batch",
    "split_batch",
]
