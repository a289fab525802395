"""Run records: what the journal keeps of a flow run, made from its states.

Design note
-----------
A :class:`RunRecord` describes one flow run (id, flow, final state, start, end, parameters,
counts by state) and holds a :class:`TaskRecord` per task run (name, state, map index,
message, run count, timings, where it ran, where its result was written). The run journal
(:mod:`headwater.runtime.journal`) writes and reads them; the timeline and the HTML views
draw them like a live flow state. A map of more than ``HEADWATER_JOURNAL_MAX_CHILDREN``
children (10,000 by default) is summarized: its record carries ``child_counts`` and only its
failed children get records (docs/notices/0009-observability.md). Parameter values are kept
as JSON when they are JSON, else as a short repr; secrets as the mask.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.engine.identity import RunIdentity
    from headwater.model.flow import Flow
    from headwater.model.states import State

MAX_CHILDREN_ENV = "HEADWATER_JOURNAL_MAX_CHILDREN"
"""The environment variable for the largest map whose children each get a line."""


DEFAULT_MAX_CHILDREN = 10_000
"""Maps with more children than this are summarized (counts, and the failed children)."""


MAX_VALUE_CHARS = 2000
"""Parameter values whose JSON is longer are written as a shortened repr."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task run (or a mapped task's summary line) as the journal and the views see it.

    Args:
        task: the task's name.
        slug: the task's unique slug in its flow.
        state: the name of the final state's class (``"Success"``, ``"Failed"``, ...).
        map_index: the child's index for a mapped child, else None.
        message: the state's message.
        run_count: how many times the task ran.
        start: when the function was first called (None if it never ran).
        end: when the run reached its final state (None if unknown).
        host: the machine it ran on.
        worker: the Dask worker's address, or ``pid:<id>``.
        thread: the thread's name.
        location: where the result was written, if it was.
        mapped: whether this is a mapped task's summary line (its children follow it).
        child_counts: for a summarized map, its children by state name; then only its
            failed children have records of their own.
    """

    task: str
    slug: str
    state: str
    map_index: int | None = None
    message: str | None = None
    run_count: int = 0
    start: _dt.datetime | None = None
    end: _dt.datetime | None = None
    host: str | None = None
    worker: str | None = None
    thread: str | None = None
    location: str | None = None
    mapped: bool = False
    child_counts: dict[str, int] | None = None

    @property
    def label(self) -> str:
        """The task's name, with ``[i]`` for a mapped child."""
        return self.task if self.map_index is None else f"{self.task}[{self.map_index}]"

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None when the function never ran."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    @property
    def color(self) -> str:
        """The color of the state's class (:attr:`State.color`)."""
        return state_color(self.state)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A flow run as the journal keeps it.

    Args:
        run_id: the run's id (``context["flow_run_id"]`` in its tasks).
        flow_name: the flow's name.
        state: the name of the flow state's class.
        message: the flow state's message.
        start: when the run started.
        end: when it ended.
        parameters: the parameter values (JSON-safe; secrets masked).
        counts: task runs by state name (mapped children counted, their summary lines not).
        tasks: the task records (empty in :func:`list_runs` summaries).
        path: the journal file.
        finished: False for a run whose file holds only what finished so far (it is still
            going, or its driver was stopped); its state is ``"Unfinished"``.
        resumed_from: the id of the run this one resumed, if it did.
        resume: what a resume of this run needs (:func:`resume_block`), when the journal
            has it.
    """

    run_id: str
    flow_name: str
    state: str
    message: str | None
    start: _dt.datetime | None
    end: _dt.datetime | None
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    tasks: tuple[TaskRecord, ...] = ()
    path: Path | None = None
    finished: bool = True
    resumed_from: str | None = None
    resume: dict[str, Any] | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    def is_successful(self) -> bool:
        """Whether the flow run ended Success."""
        return self.state == "Success"

    def _repr_html_(self) -> str:
        from headwater.viz.html import run_html

        return run_html(self)


# -- from states --------------------------------------------------------------------------
def state_color(name: str) -> str:
    """Return the color of the state class called ``name`` (grey for unknown names).

    >>> state_color("Failed")
    '#c62828'
    """
    from headwater.model.states import ALL_STATES

    for cls in ALL_STATES:
        if cls.__name__ == name:
            return cls.color
    return "#999999"


def is_flow_state(state: Any) -> bool:
    """Whether ``state`` is a flow run's State (its result maps tasks to their States)."""
    from headwater.model.states import State
    from headwater.model.task import Task

    if not isinstance(state, State):
        return False
    value = state.result_object.value
    return isinstance(value, dict) and all(isinstance(k, Task) for k in value)


def result_location(state: State) -> str | None:
    """Return where ``state``'s result was written, or None (nothing persisted)."""
    from headwater.results.base import MemoryResult

    result = state.result_object
    location = getattr(result, "location", None)
    if isinstance(result, MemoryResult) or not isinstance(location, str) or "{" in location:
        return None
    root = getattr(result, "dir", None)
    if root and "://" not in location and not os.path.isabs(location):
        location = os.path.join(str(root), location)
    return location


def max_children() -> int:
    """The largest map whose children each get a record (``HEADWATER_JOURNAL_MAX_CHILDREN``).

    Raises:
        ValueError: when the variable is not a whole number >= 0.
    """
    value = os.environ.get(MAX_CHILDREN_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_CHILDREN
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise ValueError(
            f"{MAX_CHILDREN_ENV}={value!r} is not a whole number >= 0; "
            f"use e.g. {DEFAULT_MAX_CHILDREN}"
        )
    return number


def _task_record(
    task: Any, state: State, mapped: bool = False, child_counts: dict[str, int] | None = None
) -> TaskRecord:
    info = state.run_info
    return TaskRecord(
        task=task.name,
        slug=task.slug,
        state=type(state).__name__,
        map_index=state.map_index,
        message=state.message,
        run_count=state.run_count,
        start=info.start if info else None,
        end=info.end if info else None,
        host=info.host if info else None,
        worker=info.worker if info else None,
        thread=info.thread if info else None,
        location=None if mapped else result_location(state),
        mapped=mapped,
        child_counts=child_counts,
    )


def task_records(flow_state: State, limit: int | None = None) -> list[TaskRecord]:
    """Return one record per task run of a flow run: a mapped task's summary line, then its
    children, in the order the flow state holds the tasks.

    A map of more than ``limit`` children (:func:`max_children` when None) is summarized:
    its line carries ``child_counts`` and only its first ``limit`` children that did not
    succeed follow (failed, skipped, cancelled...).

    Raises:
        TypeError: when ``flow_state`` is not a flow run's State.
    """
    from headwater.model.states import Mapped

    if not is_flow_state(flow_state):
        raise TypeError(
            f"Expected a flow run's State (what flow.run() returns), got {flow_state!r}"
        )
    limit = max_children() if limit is None else limit
    out: list[TaskRecord] = []
    for task, state in flow_state.result_object.value.items():
        if isinstance(state, Mapped) and len(state.map_states) > limit:
            out.append(_task_record(task, state, mapped=True, child_counts=state.counts()))
            out.extend(_task_record(task, child) for child in _not_succeeded(state, limit))
        elif isinstance(state, Mapped):
            out.append(_task_record(task, state, mapped=True))
            out.extend(_task_record(task, child) for child in state.map_states)
        else:
            out.append(_task_record(task, state))
    return out


def _not_succeeded(state: Any, limit: int) -> list[State]:
    """The first ``limit`` children of a Mapped state that did not succeed (a batched map's
    plain successes are not looked at)."""
    children = state.map_states
    fast = getattr(children, "exceptional", None)
    pool = fast() if fast is not None else iter(children)
    return list(itertools.islice((c for c in pool if not c.is_successful()), limit))


def count_states(tasks: Iterable[TaskRecord]) -> dict[str, int]:
    """Count task runs by state name; a mapped task counts as its children (a summarized
    map by its ``child_counts``).

    >>> count_states([TaskRecord("a", "a-1", "Success"), TaskRecord("b", "b-2", "Failed")])
    {'Success': 1, 'Failed': 1}
    """
    tasks = list(tasks)
    summarized = {t.slug for t in tasks if t.mapped and t.child_counts is not None}
    counts: dict[str, int] = {}
    for t in tasks:
        if t.mapped and t.child_counts is not None:
            for name, n in t.child_counts.items():
                counts[name] = counts.get(name, 0) + n
        elif not t.mapped and not (t.slug in summarized and t.map_index is not None):
            counts[t.state] = counts.get(t.state, 0) + 1
    return counts


def parameter_values(
    flow: Flow, state: State, given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The run's parameter values: the given ones, completed by the Parameter tasks' results."""
    given = dict(given or {})
    held = state.result_object.value if is_flow_state(state) else {}
    values: dict[str, Any] = {}
    for p in flow.parameters():  # in the flow's order
        s = held.get(p)
        if s is not None and s.is_successful():
            values[p.name] = s.result
        elif p.name in given:
            values[p.name] = given[p.name]
    return {**values, **{k: v for k, v in given.items() if k not in values}}


def run_record(
    flow: Flow,
    state: State,
    parameters: Mapping[str, Any] | None = None,
    *,
    run_id: str,
    start: _dt.datetime | None = None,
    resume: dict[str, Any] | None = None,
    resumed_from: str | None = None,
) -> RunRecord:
    """Describe a finished flow run as a :class:`RunRecord` (nothing is written).

    Args:
        flow: the flow that ran.
        state: the flow run's State.
        parameters: the parameter values given to the run.
        run_id: the run's id.
        start: when the run started (the earliest task start when None).
        resume: what a resume of the run needs (:func:`resume_block`).
        resumed_from: the id of the run it resumed, if it did.
    """
    tasks = tuple(task_records(state)) if is_flow_state(state) else ()
    starts = [t.start for t in tasks if t.start is not None]
    if start is None and starts:
        start = min(starts)
    values = parameter_values(flow, state, parameters)
    return RunRecord(
        run_id=run_id,
        flow_name=flow.name,
        state=type(state).__name__,
        message=state.message,
        start=start,
        end=state.timestamp,
        parameters={k: json_safe(v) for k, v in values.items()},
        counts=count_states(tasks),
        tasks=tasks,
        resumed_from=resumed_from,
        resume=resume,
    )


# -- what a resume needs ------------------------------------------------------------------
RESTORABLE_CHARS = 65536
"""A parameter or context value whose JSON is longer is kept as a digest (given again on
resume), not as its value."""

_RUN_KEYS = frozenset(
    {"flow_run_id", "flow_run_name", "date", "scheduled_start_time", "parameters"}
)


def _exact(a: Any, b: Any) -> bool:
    """Whether ``b`` (read back from JSON) is ``a``, types included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_exact(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_exact(a[k], b[k]) for k in a)
    return bool(a == b)


def restorable(value: Any) -> dict[str, Any]:
    """How the journal keeps a parameter (or context) value for a resume: ``{"json": v}``
    when its JSON reads back as the very value (types included) and holds no secret, else
    ``{"digest": d}`` (a keyed hash: :func:`headwater.engine.caching.value_hash`), which a
    value given again on resume must match.

    >>> restorable([1, "a", {"b": None}])
    {'json': [1, 'a', {'b': None}]}
    """
    from headwater.model.secrets import redact

    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        back = json.loads(text)
        if len(text) <= RESTORABLE_CHARS and _exact(value, back) and redact(text) == text:
            return {"json": back}
    except (TypeError, ValueError, RecursionError):
        pass
    from headwater.engine.caching import value_hash

    return {"digest": value_hash(value)}


def resume_block(
    flow: Flow, identity: RunIdentity, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """What a later resume of a run needs (written in its journal's run line): the token of
    its signing key, each task's stable id and slug, the flow's graph, the run's name, date
    and start, its parameters and given context as :func:`restorable` values, the earlier
    runs it read from, and the driver's process id and host (to tell a run still going).

    Args:
        flow: the flow.
        identity: what the flow runner told of the run.
        parameters: every parameter's value, checked.
    """
    from headwater.engine import caching
    from headwater.engine.identity import flow_graph, stable_ids
    from headwater.results import FSSpecResult

    try:
        switch = caching.checkpoint_switch()
    except ValueError:
        switch = False

    def checkpointed(task: Any) -> bool:
        result, on = caching.resolve_result(task, flow.result, flow.checkpoint, switch)
        return on and isinstance(result, FSSpecResult)

    ids = stable_ids(flow)
    ctx = identity.context
    given = {k: v for k, v in identity.given.items() if k not in _RUN_KEYS}
    return {
        "token": identity.token,
        "slugs": {ids[t]: t.slug for t in flow.tasks},
        "graph": flow_graph(flow, checkpointed),
        "run_name": str(ctx.get("flow_run_name", "")),
        "date": _iso_or_none(ctx.get("date")),
        "started": _iso_or_none(ctx.get("scheduled_start_time")),
        "parameters": {k: restorable(v) for k, v in parameters.items()},
        "context": {k: restorable(v) for k, v in given.items()},
        "sources": [s.as_json() for s in identity.sources],
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def _iso_or_none(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, _dt.date) else None


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return text if len(text) <= 200 else text[:197] + "..."


def json_safe(value: Any) -> Any:
    """A JSON value standing for ``value``: itself, or a short repr."""
    try:
        text = json.dumps(value, default=json_default, separators=(",", ":"))
    except (TypeError, ValueError):
        return _short_repr(value)
    if len(text) > MAX_VALUE_CHARS:
        return _short_repr(value)
    return json.loads(text)


# -- writing ------------------------------------------------------------------------------
def json_default(value: Any) -> Any:
    """How a value JSON cannot write is written: a secret as the mask, else a short repr."""
    from headwater.model.secrets import MASK, SecretValue

    if isinstance(value, SecretValue):
        return MASK
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return _short_repr(value)


__all__ = [
    "DEFAULT_MAX_CHILDREN",
    "MAX_CHILDREN_ENV",
    "MAX_VALUE_CHARS",
    "RESTORABLE_CHARS",
    "RunRecord",
    "TaskRecord",
    "count_states",
    "is_flow_state",
    "json_default",
    "json_safe",
    "max_children",
    "parameter_values",
    "restorable",
    "result_location",
    "resume_block",
    "run_record",
    "state_color",
    "task_records",
]
