"""Resuming a journaled run: ``flow.run(resume=RUN_ID)``, ``headwater run ... --resume``.

Design note
-----------
A resume is a new run that continues an earlier one (docs/notices/0013-resume.md). Before
anything runs, :func:`prepare_resume`:

1. finds the run in the journal (an id, a unique prefix of one, or ``"last"``: the newest run
   of this flow) and refuses one journaled without what a resume needs, of another flow, or
   still going (its driver's process is alive on this machine);
2. refuses a changed flow, naming what changed (:func:`headwater.engine.identity.graph_changes`
   between the graph the run journaled and this flow's);
3. takes the run's parameters and context as they were: a value the journal holds as JSON is
   given again; one it holds as a digest (not JSON, a secret, very long) must be given again
   (a secret is found again where it was); each value of the resumed run must be the
   original's, else the resume is refused naming it. The run's date and start are the
   original's, so locations and tasks see the same day;
4. reads how each task run ended from the journal (its ``done`` lines for a run that did not
   finish, else its task lines) and sorts them (:func:`headwater.engine.resume.decide`).

The resumed run gets a new run id and names the run it resumed (``resumed_from``); its
journal holds the earlier runs it may read checkpoints from, so that a resume of a resume
finds them. :func:`describe_resume` says the same for ``headwater runs show`` without the
flow's code, from the graph the run journaled.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwater.engine.identity import Source, flow_graph, graph_changes, stable_ids
from headwater.engine.resume import KEEP, RUN, ResumePlan, TaskStatus, decide, topological
from headwater.errors import JournalError, ParameterError, ResumeError
from headwater.runtime.journal_read import find_run, journal_dir, list_runs, load_run
from headwater.runtime.records import RunRecord, TaskRecord, restorable

if TYPE_CHECKING:
    from headwater.model.flow import Flow

LAST = "last"
"""``resume="last"``: the newest journaled run of the flow."""

_SUCCEEDED = frozenset({"Success", "Cached"})


@dataclass(frozen=True)
class Prepared:
    """What a resumed run starts with.

    Args:
        parameters: the original run's parameter values (checked again by the run).
        context: the original run's date, start and given context keys, with the caller's.
        plan: the decisions for the planner.
        record: the journaled run resumed.
    """

    parameters: dict[str, Any]
    context: dict[str, Any]
    plan: ResumePlan
    record: RunRecord


def find_resumed(flow_name: str, resume: str) -> RunRecord:
    """The journaled run ``resume`` names (an id, a unique prefix, or ``"last"``), read whole.

    Raises:
        JournalError: when no such run is journaled, or the id is ambiguous.
    """
    if not isinstance(resume, str) or not resume.strip():
        raise JournalError(
            f"resume= takes a run id (see `headwater runs list`) or 'last', got {resume!r}"
        )
    if resume.strip() == LAST:
        found = list_runs(1, flow_name=flow_name)
        if not found:
            raise JournalError(
                f"No run of flow {flow_name!r} in the journal at {journal_dir()} to resume"
            )
        return load_run(found[0].run_id)
    path = find_run(resume)
    return load_run(path.stem.split("Z-", 1)[1])


def why_not_resumable(record: RunRecord) -> str | None:
    """Why ``record`` cannot be resumed (None when it can)."""
    if record.resume is None:
        return (
            f"run {record.run_id} was journaled without what a resume needs (by a headwater "
            "older than resume, or its journal line was cut short)"
        )
    block = record.resume
    if not record.finished and block.get("host") == socket.gethostname():
        pid = block.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
            return (
                f"run {record.run_id} is still going (its driver, process {pid} on this "
                "machine, is alive); wait for it to end or stop it first"
            )
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def statuses(record: RunRecord) -> dict[str, TaskStatus]:
    """How each task's runs ended in ``record``, by stable id (see the module's note).

    Args:
        record: a journaled run with its task records (:func:`load_run`).
    """
    block = record.resume or {}
    by_slug = {str(slug): str(sid) for sid, slug in dict(block.get("slugs") or {}).items()}
    out: dict[str, TaskStatus] = {}
    summaries: dict[str, TaskRecord] = {}
    batches: dict[str, list[TaskRecord]] = {}
    kids: dict[str, dict[int, str]] = {}
    for t in record.tasks:
        sid = by_slug.get(t.slug)
        if sid is None:
            continue
        s = out.setdefault(sid, TaskStatus())
        if t.map_index is None:
            s.whole, s.message = t.state, t.message
            if t.mapped:  # a finished map: its children follow, or are counted
                summaries[sid] = t
        elif t.mapped:  # a batch of children, journaled as the run went
            batches.setdefault(sid, []).append(t)
        else:
            kids.setdefault(sid, {})[t.map_index] = t.state
    for sid, s in out.items():
        if sid in summaries:
            _finished_children(s, summaries[sid], kids.get(sid, {}))
        elif sid in batches or sid in kids:
            _journaled_children(s, batches.get(sid, []), kids.get(sid, {}))
    return out


def _not_succeeded(counts: Mapping[str, int]) -> int:
    return sum(n for name, n in counts.items() if name not in _SUCCEEDED)


def _finished_children(s: TaskStatus, summary: TaskRecord, kids: Mapping[int, str]) -> None:
    """A finished map's children: every one has a line, or the map is summarized (its
    counts, and the children that did not succeed)."""
    if summary.child_counts is None:
        n = max(kids, default=-1) + 1
        s.set_children(0, n, None)
    else:
        n = sum(summary.child_counts.values())
        listed = sum(1 for name in kids.values() if name not in _SUCCEEDED)
        everyone = listed >= _not_succeeded(summary.child_counts)
        s.set_children(0, n, "Success" if everyone else None)
    for i, name in kids.items():
        s.set_children(i, 1, name)
    s.complete = True


def _journaled_children(s: TaskStatus, batches: list[TaskRecord], kids: Mapping[int, str]) -> None:
    """A map's children from ``done`` lines: one per child, or per batch (all succeeded;
    counts and the children that did not; or only that they finished)."""
    s.children = bytearray()
    for b in batches:
        counts = b.child_counts or {}
        start, n = int(b.map_index or 0), sum(counts.values())
        named = sum(
            1 for i, name in kids.items() if start <= i < start + n and name not in _SUCCEEDED
        )
        if "Finished" in counts:  # the driver learned only that they finished
            known = False
        else:  # every child that did not succeed is named (the others succeeded)
            known = named >= _not_succeeded(counts)
        s.set_children(start, n, "Success" if known else None)
    for i, name in kids.items():
        s.set_children(i, 1, name)


def _parse_date(text: str | None) -> Any:
    if not text:
        return None
    if len(text) == 10:
        return _dt.date.fromisoformat(text)
    return _dt.datetime.fromisoformat(text)


def _values(
    flow: Flow, record: RunRecord, parameters: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The resumed run's parameters and context: the original's, checked against what the
    caller gave (see the module's note)."""
    from headwater.model.parameter import resolve_parameters
    from headwater.model.secrets import Secret

    block = record.resume or {}
    original = dict(block.get("parameters") or {})
    given = dict(parameters)
    secrets = {p.name for p in flow.parameters() if isinstance(p, Secret)}  # found again
    problems = [
        _differs("parameter", name, entry, False, record)
        for name, entry in original.items()
        if "json" not in entry and name not in given and name not in secrets
    ]
    if problems:
        _refuse(flow, record, problems)
    for name, entry in original.items():
        if name not in given and "json" in entry:
            given[name] = entry["json"]
    values = resolve_parameters(flow.name, flow.parameters(), given)
    for name, entry in original.items():
        if name in values and restorable(values[name]) != entry:
            problems.append(_differs("parameter", name, entry, name in parameters, record))
    ctx: dict[str, Any] = {}
    for key, field in (("date", "date"), ("scheduled_start_time", "started")):
        if block.get(field):
            ctx[key] = _parse_date(block[field])
    kept = dict(block.get("context") or {})
    for key, value in context.items():
        if key == "flow_run_id":
            if str(value) == record.run_id:
                problems.append(
                    f"context flow_run_id {value!r} is the resumed run's id; a resumed run is a "
                    "new run: give it another id, or none"
                )
            ctx[key] = value
        elif key in ctx:
            if value != ctx[key]:
                problems.append(f"context {key!r} was {ctx[key]!r} in run {record.run_id}")
        elif key not in kept:
            problems.append(f"context {key!r} was not given to run {record.run_id}")
    for key, entry in kept.items():
        if key in context:
            ctx[key] = context[key]
        elif "json" in entry:
            ctx[key] = entry["json"]
        else:
            problems.append(_differs("context", key, entry, False, record))
            continue
        if restorable(ctx[key]) != entry:
            problems.append(_differs("context", key, entry, key in context, record))
    if problems:
        _refuse(flow, record, problems)
    return given, ctx


def _refuse(flow: Flow, record: RunRecord, problems: list[str]) -> None:
    lines = "\n".join(f"  - {p}" for p in problems)
    raise ParameterError(
        f"Flow {flow.name!r} cannot resume run {record.run_id}: a resume runs with the "
        f"original run's parameters and context ({len(problems)} problem"
        f"{'s' if len(problems) > 1 else ''}):\n{lines}"
    )


def _differs(what: str, name: str, entry: Mapping[str, Any], given: bool, record: RunRecord) -> str:
    if "json" in entry:
        return (
            f"{what} {name!r} was {entry['json']!r} in run {record.run_id}; drop it to use "
            "that value"
        )
    if given:
        return f"{what} {name!r} is not the value run {record.run_id} had"
    option = "parameters" if what == "parameter" else "context"
    return (
        f"{what} {name!r} of run {record.run_id} is journaled as a digest only (not JSON, a "
        f"secret, or long): give it again, the same value ({option}={{{name!r}: ...}})"
    )


def prepare_resume(
    flow: Flow,
    resume: str,
    parameters: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Prepared:
    """Everything a resumed run of ``flow`` starts with (see the module's note).

    Args:
        flow: the flow.
        resume: the run to resume: its id, a unique prefix, or ``"last"``.
        parameters: values the caller gave (each must be the original's).
        context: context keys the caller gave (each must be the original's, but
            ``flow_run_id``, which names the new run).

    Raises:
        JournalError: no such run is journaled (or the id is ambiguous).
        ResumeError: the run cannot be resumed (named why), or the flow changed since
            (named what).
        ParameterError: a parameter or context value is not the original's.
    """
    record = find_resumed(flow.name, resume)
    if record.flow_name != flow.name:
        raise ResumeError(
            f"Run {record.run_id} is a run of flow {record.flow_name!r}, not {flow.name!r}: "
            "resume it with that flow"
        )
    why = why_not_resumable(record)
    if why is not None:
        raise ResumeError(f"Flow {flow.name!r} cannot resume: {why}")
    block = record.resume or {}
    changes = graph_changes(block.get("graph") or {}, flow_graph(flow))
    if changes:
        lines = "\n".join(f"  - {c}" for c in changes)
        raise ResumeError(
            f"Flow {flow.name!r} changed since run {record.run_id}, so that run cannot be "
            f"resumed (a resume runs the same task graph; run the flow anew instead):\n{lines}"
        )
    values, ctx = _values(flow, record, parameters or {}, context or {})
    ids = stable_ids(flow)
    by_id = {sid: t for t, sid in ids.items()}
    decisions = decide(block["graph"], statuses(record))
    newest = Source(
        record.run_id,
        block.get("token"),
        str(block.get("run_name") or record.run_id),
        dict(block.get("slugs") or {}),
    )
    sources = [newest, *(Source.from_json(s) for s in block.get("sources") or ())]
    plan = ResumePlan(
        record.run_id,
        {by_id[sid]: d for sid, d in decisions.items() if sid in by_id},
        ids,
        sources,
        when=record.start,
    )
    return Prepared(values, ctx, plan, record)


def describe_resume(record: RunRecord) -> list[str]:
    """What a resume of ``record`` would do, task by task, as lines of text (``headwater runs
    show``): whether it can be resumed, then per task how many of its runs are kept, read
    back from a checkpoint (or run, when it is missing), and run again."""
    why = why_not_resumable(record)
    if why is not None:
        return [f"Cannot be resumed: {why}."]
    block = record.resume or {}
    graph = block["graph"]
    decisions = decide(graph, statuses(record))
    flags = {t[0]: t[1] for t in graph["tasks"]}
    rows: list[tuple[str, str, str, str]] = []
    totals = {"keep": 0, "read": 0, "run": 0}
    for sid in topological(list(flags), graph["edges"]):
        d = decisions[sid]
        keep, read, run, more = _tally(d)
        if "c" not in flags[sid]:  # nothing to read back: it runs
            run, read = run + read, 0
        totals["keep"] += keep
        totals["read"] += read
        totals["run"] += run
        rows.append(
            (sid, _n(keep), _n(read), _n(run) + (" + children not journaled" if more else ""))
        )
    head = (
        f"Can be resumed: headwater run FILE.py --resume {record.run_id[:8]} "
        f"(or flow.run(resume={record.run_id[:8]!r}))"
    )
    if totals["read"] == totals["run"] == 0 and not any(r[3].endswith("journaled") for r in rows):
        head += "; nothing would run again"
    width = max(len(r[0]) for r in rows) if rows else 4
    lines = [head, "", f"{'task':<{width}}  {'kept':>8}  {'read back':>9}  run again"]
    lines.extend(f"{a:<{width}}  {b:>8}  {c:>9}  {d}" for a, b, c, d in rows)
    return lines


def _n(count: int) -> str:
    return f"{count:,}" if count else "-"


def _tally(d: Any) -> tuple[int, int, int, bool]:
    """Kept, read and run task runs of one decision; whether children past the journaled
    ones will run too."""
    if not d.children_known:
        return {KEEP: (1, 0, 0), RUN: (0, 0, 1)}.get(d.of_task(), (0, 1, 0)) + (False,)
    kids = d.status.children or b""
    keep = read = run = 0
    for i in range(len(kids)):
        which = d.of_child(i)
        keep += which == KEEP
        run += which == RUN
        read += which not in (KEEP, RUN)
    return keep, read, run, not d.status.complete


__all__ = [
    "LAST",
    "Prepared",
    "describe_resume",
    "find_resumed",
    "prepare_resume",
    "statuses",
    "why_not_resumable",
]
