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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from headwater.engine.hooks import UNKNOWN, FinishedRuns, RunHook
from headwater.errors import JournalError
from headwater.runtime.records import (
    MAX_CHILDREN_ENV,
    RunRecord,
    TaskRecord,
    count_states,
    is_flow_state,
    json_default,
    json_safe,
    max_children,
    run_record,
    state_color,
    task_records,
)

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State

FORMAT_VERSION = 1
"""The version written in every run line; readers refuse newer versions."""

DIR_ENV = "HEADWATER_JOURNAL_DIR"
"""The environment variable naming the journal folder."""

SWITCH_ENV = "HEADWATER_JOURNAL"
"""The environment variable that turns the journal off (``false``, ``0``, ``no``, ``off``)."""

logger = logging.getLogger("headwater.journal")


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


def run_path(folder: Path, run_id: str, start: _dt.datetime | None) -> Path:
    """The journal file of run ``run_id`` started at ``start`` (now when None) in ``folder``."""
    stamp = (start or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    return folder / f"{stamp:%Y%m%dT%H%M%S%f}Z-{run_id}.jsonl"


def _dumps(line: Mapping[str, Any]) -> str:
    from headwater.model.secrets import has_secrets

    if not has_secrets():
        return json.dumps(line, default=json_default, separators=(",", ":")) + "\n"
    # mask the texts, not the JSON: a mask across JSON's quotes or in a number would break it
    masked = _masked(line)
    return (
        json.dumps(masked, default=lambda v: _masked(json_default(v)), separators=(",", ":")) + "\n"
    )


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


class JournalHook(RunHook):
    """A run hook that journals the run as it goes and when it finishes; it never fails the
    run and passes the state on as it is.

    When the run starts it writes the run's first line (state ``Running``, ``finished``:
    false, the parameters); as task runs finish it appends a ``done`` line each (flushed per
    finished task or batch of children, so a driver killed mid-run leaves what finished);
    when the run ends, :func:`record_safely` replaces the file atomically with the finished
    run's lines. A problem with the file is logged once and the journal of that run stops.
    """

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.start: _dt.datetime | None = None
        self.parameters: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._limit = 0
        self._lines: dict[str, int] = {}

    def on_run_started(
        self,
        *,
        flow: Flow,
        run_id: str,
        parameters: Mapping[str, Any],
        start: _dt.datetime,
    ) -> None:
        """Remember the run's id, start and parameters, and write the run's first line."""
        self.run_id, self.start, self.parameters = run_id, start, dict(parameters)
        try:
            if not is_enabled():
                return
            self._limit = max_children()
            folder = journal_dir()
            folder.mkdir(parents=True, exist_ok=True)
            self._file = run_path(folder, run_id, start).open("a", encoding="utf-8")
            self._write(started_line(flow, run_id, start, parameters))
        except Exception as exc:
            self._give_up(flow.name, exc)

    def on_task_runs_finished(self, *, runs: Sequence[FinishedRuns]) -> None:
        """Append a ``done`` line per finished task run (or batch of children)."""
        if self._file is None:
            return
        lines = []
        for r in runs:
            slug = r.task.slug
            if r.map_index is not None:  # a map's children: at most max_children lines
                seen = self._lines[slug] = self._lines.get(slug, 0) + 1
                if seen > self._limit:
                    continue
            lines.append(done_line(r))
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
        record_safely(flow, state, self.parameters, run_id=self.run_id, start=self.start)
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
    ``count`` for a batch of children), and the state's class name when it is known."""
    line: dict[str, Any] = {"kind": "done", "task": runs.task.name, "slug": runs.task.slug}
    if runs.map_index is not None:
        line["map_index"] = runs.map_index
    if runs.count != 1:
        line["count"] = runs.count
    if runs.state != UNKNOWN:
        line["state"] = runs.state
    return line


# -- reading ------------------------------------------------------------------------------
def _time(value: Any) -> _dt.datetime | None:
    return _dt.datetime.fromisoformat(value) if isinstance(value, str) else None


UNFINISHED = "Unfinished"
"""The state a run's record shows while its file holds no finished run: the run is still
going, or its driver was stopped before it ended."""


def _run_from_line(line: Mapping[str, Any], path: Path, tasks: tuple[TaskRecord, ...]) -> RunRecord:
    if line.get("kind") != "run":
        raise JournalError(f"{path} is not a headwater journal file (no run line first)")
    if int(line.get("version", 0)) > FORMAT_VERSION:
        raise JournalError(
            f"{path} has journal format {line.get('version')}, newer than this headwater "
            f"({FORMAT_VERSION}); upgrade headwater to read it"
        )
    if line.get("finished") is False:
        counts = count_states(tasks)
        return RunRecord(
            run_id=str(line["run_id"]),
            flow_name=str(line["flow"]),
            state=UNFINISHED,
            message=(
                f"The run did not finish: it is still going, or its driver was stopped. "
                f"{sum(counts.values())} task runs had finished."
            ),
            start=_time(line.get("start")),
            end=max((t.end for t in tasks if t.end is not None), default=None),
            parameters=dict(line.get("parameters") or {}),
            counts=counts,
            tasks=tasks,
            path=path,
            finished=False,
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


def _done_from_line(line: Mapping[str, Any]) -> TaskRecord:
    """A ``done`` line as a record: one task run, or a batch of children (a summary line
    whose ``child_counts`` say how many finished, their states unknown)."""
    count = int(line.get("count", 1))
    state = str(line.get("state") or "Finished")
    return TaskRecord(
        task=str(line["task"]),
        slug=str(line.get("slug", line["task"])),
        state=state,
        map_index=line.get("map_index"),
        mapped=count != 1,
        child_counts={state: count} if count != 1 else None,
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
                first = json.loads(fh.readline())
                done: tuple[TaskRecord, ...] = ()
                if first.get("finished") is False:  # rare: count what finished
                    done = tuple(_done_lines(fh))
                run = _run_from_line(first, path, done)
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
        texts = [x for x in path.read_text(encoding="utf-8").splitlines() if x]
        lines = [json.loads(x) for x in texts[:-1]]
        try:
            lines.extend(json.loads(x) for x in texts[-1:])
        except ValueError:  # a last line cut short: only while a run is written, or killed
            if not lines or lines[0].get("finished") is not False:
                raise
    except (OSError, ValueError) as exc:
        raise JournalError(f"Cannot read journal file {path}: {exc}") from exc
    if not lines:
        raise JournalError(f"Journal file {path} is empty")
    if lines[0].get("finished") is False:
        return _run_from_line(lines[0], path, tuple(_done_records(lines[1:])))
    tasks = tuple(_task_from_line(x) for x in lines[1:] if x.get("kind") == "task")
    return _run_from_line(lines[0], path, tasks)


def _done_lines(fh: IO[str]) -> Iterator[TaskRecord]:
    lines = []
    for text in fh:
        try:
            lines.append(json.loads(text))
        except ValueError:  # the last line, being written (or cut by a kill)
            break
    return _done_records(lines)


def _done_records(lines: Sequence[Mapping[str, Any]]) -> Iterator[TaskRecord]:
    """The task runs that finished, from ``done`` lines: the last line of a task run wins
    (a run lost with its worker is Crashed, then its repair's state follows)."""
    last: dict[tuple[str, Any], Mapping[str, Any]] = {}
    for line in lines:
        if line.get("kind") == "done":
            key = (str(line.get("slug")), line.get("map_index"))
            last.pop(key, None)  # keep the order of the latest
            last[key] = line
    return (_done_from_line(x) for x in last.values())


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
    "run_path",
    "run_record",
    "started_line",
    "state_color",
    "task_records",
    "write_run",
]
