"""The run journal: every flow run's task states, timings and parameters, on local disk.

Design note
-----------
``Flow.run`` calls :func:`record_safely` after the flow runner returns, so every run (from
Python, Jupyter or the command line) leaves one file in the journal folder:
``HEADWATER_JOURNAL_DIR``, else ``~/.headwater/runs``; ``HEADWATER_JOURNAL=false`` turns it
off. A journal write never fails a flow run: a problem is logged as a warning.

The format (notice 0009) is JSON lines, one file per run, named
``<UTC start, YYYYmmddTHHMMSSffffff>Z-<run id>.jsonl`` so a listing sorts by time. The first
line is the run (``"kind": "run"``: format version, run id, flow name, final state, message,
start, end, parameters, counts of task runs by state); then one line per task run
(``"kind": "task"``: task name and slug, state, map index, message, run count, start, end,
host, worker, thread, result location). A mapped task has a line of its own (``mapped``:
true) followed by one line per child. A map of more than ``HEADWATER_JOURNAL_MAX_CHILDREN``
children (10,000 by default) is summarized instead: its line carries ``child_counts`` (the
children by state) and only its failed children (the first 10,000) have lines, so a
million-element map costs a few lines, not a million States and hundreds of megabytes. Values are never written, only the parameters: JSON
values as they are, anything else as a short repr; secrets as ``"********"``. Files are
written to a temporary name and renamed, so a reader never sees half a run.

:func:`list_runs` reads only first lines; :func:`load_run` reads one file. Both return
:class:`RunRecord` values, which the timeline and the HTML views draw like a live flow state.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import JournalError

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State

FORMAT_VERSION = 1
"""The version written in every run line; readers refuse newer versions."""

DIR_ENV = "HEADWATER_JOURNAL_DIR"
"""The environment variable naming the journal folder."""

SWITCH_ENV = "HEADWATER_JOURNAL"
"""The environment variable that turns the journal off (``false``, ``0``, ``no``, ``off``)."""

MAX_CHILDREN_ENV = "HEADWATER_JOURNAL_MAX_CHILDREN"
"""The environment variable for the largest map whose children each get a line."""

DEFAULT_MAX_CHILDREN = 10_000
"""Maps with more children than this are summarized (counts, and the failed children)."""

MAX_VALUE_CHARS = 2000
"""Parameter values whose JSON is longer are written as a shortened repr."""

logger = logging.getLogger("headwater.journal")


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


# -- where --------------------------------------------------------------------------------
def journal_dir() -> Path:
    """Return the journal folder: ``HEADWATER_JOURNAL_DIR``, else ``~/.headwater/runs``."""
    configured = os.environ.get(DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".headwater" / "runs"


def is_enabled() -> bool:
    """Whether flow runs are journaled (``HEADWATER_JOURNAL`` is not false).

    Raises:
        ValueError: when ``HEADWATER_JOURNAL`` is neither true nor false.
    """
    value = os.environ.get(SWITCH_ENV, "").strip().lower()
    if value in ("", "1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{SWITCH_ENV}={value!r} is neither true nor false; use true or false")


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
    its line carries ``child_counts`` and only its first ``limit`` failed children follow.

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
            failed = state.failed_indices()[:limit]
            out.extend(_task_record(task, child) for child in state.children(failed))
        elif isinstance(state, Mapped):
            out.append(_task_record(task, state, mapped=True))
            out.extend(_task_record(task, child) for child in state.map_states)
        else:
            out.append(_task_record(task, state))
    return out


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
) -> RunRecord:
    """Describe a finished flow run as a :class:`RunRecord` (nothing is written).

    Args:
        flow: the flow that ran.
        state: the flow run's State.
        parameters: the parameter values given to the run.
        run_id: the run's id.
        start: when the run started (the earliest task start when None).
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
        parameters={k: _json_safe(v) for k, v in values.items()},
        counts=count_states(tasks),
        tasks=tasks,
    )


# -- writing ------------------------------------------------------------------------------
def _default(value: Any) -> Any:
    from headwater.model.secrets import MASK, SecretValue

    if isinstance(value, SecretValue):
        return MASK
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return _short_repr(value)


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return text if len(text) <= 200 else text[:197] + "..."


def _json_safe(value: Any) -> Any:
    """A JSON value standing for ``value``: itself, or a short repr."""
    try:
        text = json.dumps(value, default=_default, separators=(",", ":"))
    except (TypeError, ValueError):
        return _short_repr(value)
    if len(text) > MAX_VALUE_CHARS:
        return _short_repr(value)
    return json.loads(text)


def _iso(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _lines(run: RunRecord) -> Iterator[dict[str, Any]]:
    yield {
        "kind": "run",
        "version": FORMAT_VERSION,
        "run_id": run.run_id,
        "flow": run.flow_name,
        "state": run.state,
        "message": run.message,
        "start": _iso(run.start),
        "end": _iso(run.end),
        "parameters": run.parameters,
        "counts": run.counts,
    }
    for t in run.tasks:
        line: dict[str, Any] = {
            "kind": "task",
            "task": t.task,
            "slug": t.slug,
            "state": t.state,
            "map_index": t.map_index,
            "message": t.message,
            "run_count": t.run_count,
            "start": _iso(t.start),
            "end": _iso(t.end),
            "host": t.host,
            "worker": t.worker,
            "thread": t.thread,
            "location": t.location,
        }
        if t.mapped:
            line["mapped"] = True
        if t.child_counts is not None:
            line["child_counts"] = t.child_counts
        yield {k: v for k, v in line.items() if v is not None}


def write_run(run: RunRecord, directory: Path | None = None) -> Path:
    """Write ``run`` to the journal atomically and return its file.

    Args:
        run: the run.
        directory: the journal folder (:func:`journal_dir` by default).
    """
    from headwater.model.secrets import redact

    folder = Path(directory) if directory is not None else journal_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (run.start or run.end or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    path = folder / f"{stamp:%Y%m%dT%H%M%S%f}Z-{run.run_id}.jsonl"
    text = "".join(
        redact(json.dumps(line, default=_default, separators=(",", ":"))) + "\n"
        for line in _lines(run)
    )
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def record(
    flow: Flow,
    state: State,
    parameters: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    start: _dt.datetime | None = None,
    directory: Path | None = None,
) -> Path | None:
    """Journal a finished flow run; return its file, or None when the journal is off.

    Args:
        flow: the flow that ran.
        state: the flow run's State.
        parameters: the parameter values given to the run.
        run_id: the run's id (a new one when None).
        start: when the run started.
        directory: the journal folder (:func:`journal_dir` by default).
    """
    if directory is None and not is_enabled():
        return None
    if run_id is None:
        import uuid

        run_id = str(uuid.uuid4())
    run = run_record(flow, state, parameters, run_id=run_id, start=start)
    return write_run(run, directory)


def record_safely(
    flow: Flow,
    state: State,
    parameters: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    start: _dt.datetime | None = None,
) -> Path | None:
    """:func:`record`, but a failure is logged as a warning instead of raised (what
    ``Flow.run`` calls: a journal write never fails a flow run)."""
    try:
        return record(flow, state, parameters, run_id=run_id, start=start)
    except Exception as exc:
        logger.warning(
            "Could not journal run %s of flow %r in %s: %s: %s (set %s=false to turn the "
            "journal off)",
            run_id,
            flow.name,
            os.environ.get(DIR_ENV) or journal_dir(),
            type(exc).__name__,
            exc,
            SWITCH_ENV,
        )
        return None


# -- reading ------------------------------------------------------------------------------
def _time(value: Any) -> _dt.datetime | None:
    return _dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def _run_from_line(line: Mapping[str, Any], path: Path, tasks: tuple[TaskRecord, ...]) -> RunRecord:
    if line.get("kind") != "run":
        raise JournalError(f"{path} is not a headwater journal file (no run line first)")
    if int(line.get("version", 0)) > FORMAT_VERSION:
        raise JournalError(
            f"{path} has journal format {line.get('version')}, newer than this headwater "
            f"({FORMAT_VERSION}); upgrade headwater to read it"
        )
    return RunRecord(
        run_id=str(line["run_id"]),
        flow_name=str(line["flow"]),
        state=str(line["state"]),
        message=line.get("message"),
        start=_time(line.get("start")),
        end=_time(line.get("end")),
        parameters=dict(line.get("parameters") or {}),
        counts=dict(line.get("counts") or {}),
        tasks=tasks,
        path=path,
    )


def _task_from_line(line: Mapping[str, Any]) -> TaskRecord:
    return TaskRecord(
        task=str(line["task"]),
        slug=str(line.get("slug", line["task"])),
        state=str(line["state"]),
        map_index=line.get("map_index"),
        message=line.get("message"),
        run_count=int(line.get("run_count", 0)),
        start=_time(line.get("start")),
        end=_time(line.get("end")),
        host=line.get("host"),
        worker=line.get("worker"),
        thread=line.get("thread"),
        location=line.get("location"),
        mapped=bool(line.get("mapped", False)),
        child_counts=dict(line["child_counts"]) if "child_counts" in line else None,
    )


def _files(directory: Path | None) -> list[Path]:
    folder = Path(directory) if directory is not None else journal_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*Z-*.jsonl"), reverse=True)


def list_runs(
    limit: int | None = None, *, flow_name: str | None = None, directory: Path | None = None
) -> list[RunRecord]:
    """Return the journaled runs, newest first, as summaries (``tasks`` is empty).

    Unreadable files are skipped with a warning.

    Args:
        limit: return at most this many runs.
        flow_name: only runs of this flow.
        directory: the journal folder (:func:`journal_dir` by default).
    """
    out: list[RunRecord] = []
    for path in _files(directory):
        try:
            with path.open(encoding="utf-8") as fh:
                run = _run_from_line(json.loads(fh.readline()), path, ())
        except (OSError, ValueError, KeyError, JournalError) as exc:
            logger.warning("Skipping unreadable journal file %s: %s", path, exc)
            continue
        if flow_name is not None and run.flow_name != flow_name:
            continue
        out.append(run)
        if limit is not None and len(out) >= limit:
            break
    return out


def find_run(run_id: str, directory: Path | None = None) -> Path:
    """Return the journal file of the run whose id is or starts with ``run_id``.

    Raises:
        JournalError: when no run, or more than one, matches.
    """
    wanted = run_id.strip()
    if not wanted:
        raise JournalError("A run id is needed (see `headwater runs list`)")
    matches = [p for p in _files(directory) if p.stem.split("Z-", 1)[1].startswith(wanted)]
    folder = directory if directory is not None else journal_dir()
    if not matches:
        raise JournalError(f"No run {wanted!r} in the journal at {folder}")
    exact = [p for p in matches if p.stem.split("Z-", 1)[1] == wanted]
    if len(exact) == 1:
        return exact[0]
    if len(matches) > 1:
        ids = ", ".join(p.stem.split("Z-", 1)[1][:12] for p in matches[:5])
        raise JournalError(f"Run id {wanted!r} is ambiguous in {folder}: {ids}; give more of it")
    return matches[0]


def load_run(run_id: str, directory: Path | None = None) -> RunRecord:
    """Return a journaled run with its task records.

    Args:
        run_id: the run's id, or a unique prefix of it.
        directory: the journal folder (:func:`journal_dir` by default).

    Raises:
        JournalError: when no run (or more than one) matches, or its file cannot be read.
    """
    path = find_run(run_id, directory)
    try:
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    except (OSError, ValueError) as exc:
        raise JournalError(f"Cannot read journal file {path}: {exc}") from exc
    if not lines:
        raise JournalError(f"Journal file {path} is empty")
    tasks = tuple(_task_from_line(x) for x in lines[1:] if x.get("kind") == "task")
    return _run_from_line(lines[0], path, tasks)


__all__ = [
    "DIR_ENV",
    "FORMAT_VERSION",
    "MAX_CHILDREN_ENV",
    "SWITCH_ENV",
    "JournalError",
    "RunRecord",
    "TaskRecord",
    "count_states",
    "find_run",
    "is_enabled",
    "is_flow_state",
    "journal_dir",
    "list_runs",
    "load_run",
    "record",
    "record_safely",
    "run_record",
    "state_color",
    "task_records",
    "write_run",
]
