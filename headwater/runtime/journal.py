"""The run journal: every flow run's task states, timings and parameters, on local disk.

Design note
-----------
The runtime gives every run a :class:`JournalHook`, which writes the run's file as it goes
(a first line with ``finished: false`` and the parameters, then a ``done`` line per finished
task run or batch of children, flushed) and calls :func:`record_safely` when the run
finishes, which replaces it with the finished run's lines; so every run (from Python,
Jupyter or the command line) leaves one file in the journal folder, even a run whose driver
was killed (readers show it ``Unfinished``, notice 0009's amendment):
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
million-element map costs a few lines, not a million States and hundreds of megabytes.
Values are never written, only the parameters: JSON values as they are, anything else as a
short repr; secrets as ``"********"`` (the records: :mod:`headwater.runtime.records`). The
finished file is written to a temporary name and renamed, so it appears whole; while a run
goes, a reader sees its first line and the ``done`` lines so far.

:func:`list_runs` reads only first lines; :func:`load_run` reads one file. Both return
:class:`RunRecord` values, which the timeline and the HTML views draw like a live flow state.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from headwater.engine.hooks import UNKNOWN, FinishedRuns, RunHook
from headwater.errors import JournalError
from headwater.runtime.journal_read import (
    DIR_ENV,
    FORMAT_VERSION,
    UNFINISHED,
    find_run,
    journal_dir,
    list_runs,
    load_run,
)
from headwater.runtime.records import (
    MAX_CHILDREN_ENV,
    RunRecord,
    TaskRecord,
    count_states,
    is_flow_state,
    json_default,
    json_safe,
    max_children,
    resume_block,
    run_record,
    state_color,
    task_records,
)

if TYPE_CHECKING:
    from headwater.engine.identity import RunIdentity
    from headwater.model.flow import Flow
    from headwater.model.states import State

SWITCH_ENV = "HEADWATER_JOURNAL"
"""The environment variable that turns the journal off (``false``, ``0``, ``no``, ``off``)."""

logger = logging.getLogger("headwater.journal")


# -- where --------------------------------------------------------------------------------
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


def _iso(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _lines(run: RunRecord) -> Iterator[dict[str, Any]]:
    first = {
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
        "resumed_from": run.resumed_from,
        "resume": run.resume,
    }
    yield {k: v for k, v in first.items() if v is not None or k in ("message", "end")}
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


def run_path(folder: Path, run_id: str, start: _dt.datetime | None) -> Path:
    """The journal file of run ``run_id`` started at ``start`` (now when None) in ``folder``."""
    stamp = (start or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    return folder / f"{stamp:%Y%m%dT%H%M%S%f}Z-{run_id}.jsonl"


def _dumps(line: Mapping[str, Any]) -> str:
    from headwater.model.secrets import has_secrets

    if not has_secrets():
        return json.dumps(line, default=json_default, separators=(",", ":")) + "\n"
    # mask the texts, not the JSON: a mask across JSON's quotes or in a number would break it
    masked = _masked_line(line)
    return (
        json.dumps(masked, default=lambda v: _masked(json_default(v)), separators=(",", ":")) + "\n"
    )


_LINE_IDS = frozenset({"version", "run_id", "resumed_from", "slug", "start", "end"})
"""A line's keys whose values headwater makes (ids, times): never masked, as a secret's text
inside them (digits in a timestamp, hex in an id) is chance, and masking it would make the
run unreadable."""

_RESUME_IDS = frozenset({"token", "slugs", "graph", "date", "started", "sources", "pid"})
"""The same in a run line's ``resume`` block (its parameters and context hold no secret: a
value with one is kept as a digest, :func:`headwater.runtime.records.restorable`)."""


def _masked_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """A journal line with known secrets masked in its texts, except its ids and times."""
    out: dict[str, Any] = {}
    for key, value in line.items():
        if key in _LINE_IDS:
            out[key] = value
        elif key == "resume" and isinstance(value, dict):
            out[key] = {k: v if k in _RESUME_IDS else _masked(v) for k, v in value.items()}
        else:
            out[_masked(key)] = _masked(value)
    return out


def _masked(value: Any) -> Any:
    """``value`` with known secrets masked in every text it holds (dict keys included)."""
    from headwater.model.secrets import redact

    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_masked(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def write_run(run: RunRecord, directory: Path | None = None) -> Path:
    """Write ``run`` to the journal atomically and return its file.

    Args:
        run: the run.
        directory: the journal folder (:func:`journal_dir` by default).
    """
    folder = Path(directory) if directory is not None else journal_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = run_path(folder, run.run_id, run.start or run.end)
    text = "".join(_dumps(line) for line in _lines(run))
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
    resume: dict[str, Any] | None = None,
    resumed_from: str | None = None,
) -> Path | None:
    """Journal a finished flow run; return its file, or None when the journal is off.

    Args:
        flow: the flow that ran.
        state: the flow run's State.
        parameters: the parameter values given to the run.
        run_id: the run's id (a new one when None).
        start: when the run started.
        directory: the journal folder (:func:`journal_dir` by default).
        resume: what a resume of the run needs (:func:`~headwater.runtime.records.resume_block`).
        resumed_from: the id of the run it resumed, if it did.
    """
    if directory is None and not is_enabled():
        return None
    if run_id is None:
        import uuid

        run_id = str(uuid.uuid4())
    run = run_record(
        flow,
        state,
        parameters,
        run_id=run_id,
        start=start,
        resume=resume,
        resumed_from=resumed_from,
    )
    return write_run(run, directory)


def record_safely(
    flow: Flow,
    state: State,
    parameters: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    start: _dt.datetime | None = None,
    resume: dict[str, Any] | None = None,
    resumed_from: str | None = None,
) -> Path | None:
    """:func:`record`, but a failure is logged as a warning instead of raised (what
    ``Flow.run`` calls: a journal write never fails a flow run)."""
    try:
        return record(
            flow,
            state,
            parameters,
            run_id=run_id,
            start=start,
            resume=resume,
            resumed_from=resumed_from,
        )
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


class JournalHook(RunHook):
    """A run hook that journals the run as it goes and when it finishes; it never fails the
    run and passes the state on as it is.

    When the run starts it writes the run's first line (state ``Running``, ``finished``:
    false, the parameters, what a resume needs); as task runs finish it appends a ``done``
    line each (flushed per finished task or batch of children, so a driver killed mid-run
    leaves what finished); when the run ends, :func:`record_safely` replaces the file
    atomically with the finished run's lines. A problem with the file is logged once and the
    journal of that run stops.
    """

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.start: _dt.datetime | None = None
        self.parameters: dict[str, Any] = {}
        self.resume: dict[str, Any] | None = None
        self.resumed_from: str | None = None
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._limit = 0
        self._lines: dict[str, int] = {}
        self._listed: dict[str, int] = {}

    def on_run_started(
        self,
        *,
        flow: Flow,
        run_id: str,
        parameters: Mapping[str, Any],
        start: _dt.datetime,
        identity: RunIdentity | None = None,
    ) -> None:
        """Remember the run's id, start and parameters, and write the run's first line."""
        self.run_id, self.start, self.parameters = run_id, start, dict(parameters)
        try:
            if not is_enabled():
                return
            if identity is not None:
                self.resume = resume_block(flow, identity, parameters)
                self.resumed_from = identity.resumed_from
            self._limit = max_children()
            folder = journal_dir()
            folder.mkdir(parents=True, exist_ok=True)
            self._file = run_path(folder, run_id, start).open("a", encoding="utf-8")
            line = started_line(flow, run_id, start, parameters)
            line.update(resumed_from=self.resumed_from, resume=self.resume)
            self._write({k: v for k, v in line.items() if v is not None})
        except Exception as exc:
            self._give_up(flow.name, exc)

    def follows_task_runs(self) -> bool:
        """Whether this run is journaled (the journal may be off, or failed to start)."""
        return self._file is not None

    def on_task_runs_finished(self, *, runs: Sequence[FinishedRuns]) -> None:
        """Append a ``done`` line per finished task run (or batch of children)."""
        if self._file is None:
            return
        lines = []
        for r in runs:
            slug = r.task.slug
            line = done_line(r)
            if r.map_index is not None and r.count == 1:  # at most max_children child lines
                seen = self._lines[slug] = self._lines.get(slug, 0) + 1
                if seen > self._limit:
                    continue
            elif r.others:  # a batch's line (there are few), naming at most max_children
                listed = self._listed[slug] = self._listed.get(slug, 0) + len(r.others)
                if listed > self._limit:
                    line.pop("children", None)
            lines.append(line)
        if lines:
            try:
                self._write(*lines)
            except Exception as exc:
                self._give_up("", exc)

    def on_run_finished(self, *, flow: Flow, state: State, counts: Mapping[str, int]) -> State:
        """Journal the finished run (replacing the lines written as it went); ``state``
        passes on as it is."""
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
        written = record_safely(
            flow,
            state,
            self.parameters,
            run_id=self.run_id,
            start=self.start,
            resume=self.resume,
            resumed_from=self.resumed_from,
        )
        if written is not None and self.run_id is not None:
            remember_run(state, self.run_id)
        return state

    def _write(self, *lines: Mapping[str, Any]) -> None:
        text = "".join(_dumps(line) for line in lines)
        with self._lock:
            if self._file is not None:
                self._file.write(text)
                self._file.flush()

    def _give_up(self, flow_name: str, exc: Exception) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
            self._file = None
        logger.warning(
            "Could not journal run %s of flow %r as it goes in %s: %s: %s (set %s=false to "
            "turn the journal off)",
            self.run_id,
            flow_name,
            os.environ.get(DIR_ENV) or journal_dir(),
            type(exc).__name__,
            exc,
            SWITCH_ENV,
        )


def started_line(
    flow: Flow, run_id: str, start: _dt.datetime, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """The first line of a run's file while it runs (``finished``: false)."""
    return {
        "kind": "run",
        "version": FORMAT_VERSION,
        "run_id": run_id,
        "flow": flow.name,
        "state": "Running",
        "finished": False,
        "start": _iso(start),
        "parameters": {k: json_safe(v) for k, v in parameters.items()},
    }


def done_line(runs: FinishedRuns) -> dict[str, Any]:
    """The line of task runs that finished while the run goes: the task, the map index (and
    ``count`` for a batch of children), and the state's class name when it is known (for a
    batch whose children's states are known otherwise: ``counts`` by state, and
    ``children``: ``[map index, state]`` of each that did not succeed)."""
    line: dict[str, Any] = {"kind": "done", "task": runs.task.name, "slug": runs.task.slug}
    if runs.map_index is not None:
        line["map_index"] = runs.map_index
    if runs.count != 1:
        line["count"] = runs.count
    if runs.state != UNKNOWN:
        line["state"] = runs.state
    elif runs.counts is not None:
        line["counts"] = dict(runs.counts)
        line["children"] = [list(c) for c in runs.others]
    return line


_RUNS_OF_STATES: dict[int, str] = {}


def remember_run(state: State, run_id: str) -> None:
    """Remember that the flow state ``state`` (what ``flow.run()`` returned) is run
    ``run_id``'s, for as long as the state lives (its HTML shows how to resume it)."""
    key = id(state)
    _RUNS_OF_STATES[key] = run_id
    weakref.finalize(state, _RUNS_OF_STATES.pop, key, None)


def run_id_of(state: State) -> str | None:
    """The journaled run the flow state ``state`` came from, if it was journaled in this
    process (:func:`remember_run`)."""
    return _RUNS_OF_STATES.get(id(state))


__all__ = [
    "DIR_ENV",
    "FORMAT_VERSION",
    "JournalHook",
    "MAX_CHILDREN_ENV",
    "SWITCH_ENV",
    "UNFINISHED",
    "JournalError",
    "RunRecord",
    "TaskRecord",
    "count_states",
    "done_line",
    "find_run",
    "is_enabled",
    "is_flow_state",
    "journal_dir",
    "list_runs",
    "load_run",
    "record",
    "record_safely",
    "remember_run",
    "run_id_of",
    "run_path",
    "run_record",
    "started_line",
    "state_color",
    "task_records",
    "write_run",
]
