"""Reading the run journal: where it is, the runs it holds, one run with its task records.

Design note
-----------
The journal's files are written by :mod:`headwater.runtime.journal` (the format: notice
0009, docs/notices/0009-observability.md). :func:`list_runs` reads only first lines (and the
``done`` lines of a run that did not finish); :func:`load_run` reads one file. A file whose
first line says ``finished: false`` is a run still going, or whose driver was stopped: its
record is ``Unfinished``, with a record per finished task run from its ``done`` lines (the
last line of a task run wins; a batch of children is a summary record, followed by a record
per child that did not succeed when the line names them). Unreadable files are skipped with
a warning; a file of a newer format is refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from headwater.errors import JournalError
from headwater.runtime.records import RunRecord, TaskRecord, count_states

FORMAT_VERSION = 1
"""The version written in every run line; readers refuse newer versions."""

DIR_ENV = "HEADWATER_JOURNAL_DIR"
"""The environment variable naming the journal folder."""

logger = logging.getLogger("headwater.journal")


def journal_dir() -> Path:
    """Return the journal folder: ``HEADWATER_JOURNAL_DIR``, else ``~/.headwater/runs``."""
    configured = os.environ.get(DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".headwater" / "runs"


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
            resumed_from=line.get("resumed_from"),
            resume=line.get("resume"),
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
        resumed_from=line.get("resumed_from"),
        resume=line.get("resume"),
    )


def _done_from_line(line: Mapping[str, Any]) -> Iterator[TaskRecord]:
    """A ``done`` line as records: one task run, or a batch of children (a summary record
    whose ``child_counts`` say how many finished and, when known, in which states; then a
    record per child the line names as not succeeded)."""
    count = int(line.get("count", 1))
    state = str(line.get("state") or "Finished")
    task, slug = str(line["task"]), str(line.get("slug", line["task"]))
    counts = line.get("counts")
    yield TaskRecord(
        task=task,
        slug=slug,
        state=state,
        map_index=line.get("map_index"),
        mapped=count != 1,
        child_counts=(dict(counts) if counts else {state: count}) if count != 1 else None,
    )
    for index, name in line.get("children") or ():
        yield TaskRecord(task=task, slug=slug, state=str(name), map_index=int(index))


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
    return (record for x in last.values() for record in _done_from_line(x))


__all__ = [
    "DIR_ENV",
    "FORMAT_VERSION",
    "UNFINISHED",
    "find_run",
    "journal_dir",
    "list_runs",
    "load_run",
]
