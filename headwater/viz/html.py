"""Rich display in Jupyter: HTML for flows, flow-run States and journaled runs.

Design note
-----------
``Flow._repr_html_``, ``State._repr_html_`` and ``RunRecord._repr_html_`` are one-line
hooks that import this module when a notebook first displays one of them, so
``import headwater`` stays light. The HTML is plain tables with inline styles (notebooks,
JupyterLab and VS Code strip or isolate style sheets differently), at most
:data:`MAX_ROWS` rows per table, and every piece of text goes through :func:`_e`:
``html.escape`` after masking secrets, so a task name, message or parameter value can neither
inject markup nor show a secret.

- A flow: its name and size, the DAG picture (inline SVG, when Graphviz's ``dot`` is
  installed; otherwise a note saying how to install it), its parameters and a task table.
- A flow run's State: its state and message, counts of task runs by state, the timeline, and
  a table of task runs with state, duration (from ``run_info``), run count, message and a
  link to the result's location when the result was persisted. A run that did not succeed
  and was journaled shows how to resume it (``flow.run(resume=...)``, ``headwater run
  ... --resume``), as does a journaled run's record.
- A task's State: its class, message, timings and result location.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headwater.runtime.records import (
    RunRecord,
    TaskRecord,
    count_states,
    is_flow_state,
    result_location,
    state_color,
    task_records,
)

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State

MAX_ROWS = 200
"""Tables show at most this many rows, then say how many were left out."""

MAX_MESSAGE = 300
"""Messages longer than this are shortened in tables."""

_TABLE = 'style="border-collapse:collapse;font-size:12px;margin:4px 0"'
_TH = 'style="text-align:left;padding:2px 8px;border-bottom:1px solid #999"'
_TD = 'style="text-align:left;padding:2px 8px;border-bottom:1px solid #eee;vertical-align:top"'


def _e(text: Any) -> str:
    from headwater.model.secrets import redact

    return html.escape(redact(str(text)), quote=True)


def _short(text: str | None, limit: int = MAX_MESSAGE) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _badge(state: str, count: int | None = None) -> str:
    from headwater.viz.graph import text_color

    color = state_color(state)
    label = f"{state}: {count}" if count is not None else state
    return (
        f'<span style="background:{_e(color)};color:{text_color(color)};border-radius:3px;'
        f'padding:1px 6px;margin-right:4px;font-size:12px;white-space:nowrap">{_e(label)}</span>'
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], total: int) -> str:
    """A table of already-escaped cells; ``total`` rows existed (a note when more than shown)."""
    head = "".join(f"<th {_TH}>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td {_TD}>{cell}</td>" for cell in row) + "</tr>" for row in rows
    )
    more = ""
    if total > MAX_ROWS:
        more = (
            f'<div style="font-size:11px;color:#777">… and {total - MAX_ROWS} more rows '
            "(see the run journal: headwater runs show ID)</div>"
        )
    return f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _link(location: str | None) -> str:
    if not location:
        return ""
    if "://" in location:
        href = location
    else:
        href = "file://" + os.path.abspath(location)
    return (
        f'<a href="{_e(href)}" title="{_e(location)}"><code>{_e(_short(location, 60))}</code></a>'
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


# -- flows --------------------------------------------------------------------------------
def _parameter_rows(flow: Flow) -> list[list[str]]:
    from headwater.model.secrets import Secret

    rows = []
    for p in flow.parameters():
        kind = "Secret" if isinstance(p, Secret) else "Parameter"
        annotation = getattr(p.annotation, "__name__", repr(p.annotation))
        rows.append(
            [
                f"<b>{_e(p.name)}</b>",
                _e(kind),
                "" if p.required else f"<code>{_e(_short(repr(p.default), 80))}</code>",
                "yes" if p.required else "",
                _e(annotation) if p.has_annotation() else "",
            ]
        )
    return rows


def flow_html(flow: Flow) -> str:
    """Return HTML describing ``flow``: the DAG picture (when Graphviz's ``dot`` is
    installed), its parameters and its tasks."""
    from headwater.errors import GraphvizNotFoundError
    from headwater.model.parameter import Parameter
    from headwater.viz.graph import INSTALL_HINT, svg

    parts = [
        f'<div class="headwater-flow"><div style="font-size:14px"><b>Flow {_e(flow.name)}</b>: '
        f"{len(flow.tasks)} tasks, {len(flow.edges)} edges</div>"
    ]
    try:
        parts.append(f'<div style="overflow-x:auto">{svg(flow)}</div>')
    except (GraphvizNotFoundError, ImportError) as exc:
        hint = INSTALL_HINT if isinstance(exc, GraphvizNotFoundError) else str(exc)
        parts.append(f'<div style="font-size:11px;color:#777">(No DAG picture: {_e(hint)}.)</div>')
    params = _parameter_rows(flow)
    if params:
        parts.append('<div style="font-size:13px;margin-top:6px"><b>Parameters</b></div>')
        parts.append(
            _table(["name", "kind", "default", "required", "type"], params[:MAX_ROWS], len(params))
        )
    tasks = [t for t in flow.sorted_tasks() if not isinstance(t, Parameter)]
    rows = []
    for t in tasks[:MAX_ROWS]:
        ups = ", ".join(u.name for u in flow.upstream_tasks(t))
        rows.append(
            [
                f"<b>{_e(t.name)}</b>",
                "mapped" if flow.is_mapped(t) else "",
                _e(ups),
                _e(", ".join(sorted(t.tags))),
                _e(t.max_retries) if t.max_retries else "",
            ]
        )
    parts.append('<div style="font-size:13px;margin-top:6px"><b>Tasks</b></div>')
    parts.append(_table(["task", "map", "upstream", "tags", "retries"], rows, len(tasks)))
    parts.append("</div>")
    return "".join(parts)


# -- runs ---------------------------------------------------------------------------------
def _run_body(
    title: str,
    state: str,
    message: str | None,
    tasks: Sequence[TaskRecord],
    parameters: Mapping[str, Any],
    run_id: str | None = None,
) -> str:
    from headwater.viz.timeline import timeline_svg

    counts = count_states(tasks)
    parts = [
        '<div class="headwater-run">',
        f'<div style="font-size:14px">{_badge(state)} <b>{_e(title)}</b></div>',
    ]
    if message:
        parts.append(f'<div style="font-size:12px;margin:4px 0">{_e(_short(message))}</div>')
    if run_id is not None and state != "Success":
        parts.append(resume_hint(run_id))
    parts.append(
        '<div style="margin:4px 0">'
        + "".join(_badge(name, n) for name, n in counts.items())
        + f'<span style="font-size:12px;color:#555">{sum(counts.values())} task runs</span></div>'
    )
    if parameters:
        items = ", ".join(
            f"{_e(k)}=<code>{_e(_short(repr(v), 80))}</code>" for k, v in parameters.items()
        )
        parts.append(f'<div style="font-size:12px">Parameters: {items}</div>')
    if any(t.start is not None for t in tasks):
        parts.append(f'<div style="overflow-x:auto">{timeline_svg(tasks, "Timeline")}</div>')
    rows = []
    for t in tasks[:MAX_ROWS]:
        name = _e(t.label) if t.map_index is None else f"&nbsp;&nbsp;{_e(t.label)}"
        rows.append(
            [
                f"<b>{name}</b>" if t.map_index is None else name,
                _badge(t.state),
                _duration(t.duration),
                _e(t.run_count),
                _e(_short(t.message)),
                _link(t.location),
            ]
        )
    parts.append(
        _table(["task", "state", "duration", "runs", "message", "result"], rows, len(tasks))
    )
    parts.append("</div>")
    return "".join(parts)


def state_html(state: State) -> str:
    """Return HTML for a State: a whole flow run (counts, timeline, task table) when it is
    what ``flow.run()`` returned, else the one task run's state."""
    if is_flow_state(state):
        from headwater.model.parameter import Parameter

        held: Mapping[Any, State] = state.result_object.value
        params = {
            t.name: s.result
            for t, s in held.items()
            if isinstance(t, Parameter) and s.is_successful()
        }
        from headwater.runtime.journal import run_id_of

        return _run_body(
            "Flow run",
            type(state).__name__,
            state.message,
            task_records(state),
            params,
            run_id_of(state),
        )
    info = state.run_info
    rows = [["state", _badge(type(state).__name__)], ["message", _e(_short(state.message))]]
    if state.map_index is not None:
        rows.append(["map index", _e(state.map_index)])
    if state.run_count:
        rows.append(["runs", _e(state.run_count)])
    if info is not None:
        rows.append(["duration", _duration(info.duration if info.start else None)])
        rows.append(["where", _e(f"{info.host} / {info.worker} / {info.thread}")])
    location = result_location(state)
    if location:
        rows.append(["result", _link(location)])
    body = "".join(f"<tr><th {_TH}>{k}</th><td {_TD}>{v}</td></tr>" for k, v in rows)
    return f'<table {_TABLE} class="headwater-state">{body}</table>'


def run_html(run: RunRecord) -> str:
    """Return HTML for a journaled run: counts, timeline and its task table."""
    title = f"{run.flow_name} · run {run.run_id}"
    if run.start is not None:
        title += f" · {run.start:%Y-%m-%d %H:%M:%S} UTC"
    tasks = list(run.tasks)
    if not tasks and run.counts:  # a summary from list_runs()
        body = "".join(_badge(name, n) for name, n in run.counts.items())
        return f'<div class="headwater-run">{_badge(run.state)} <b>{_e(title)}</b> {body}</div>'
    from headwater.runtime.resume import why_not_resumable

    resumable = run.run_id if why_not_resumable(run) is None else None  # not one still going
    return _run_body(title, run.state, run.message, tasks, run.parameters, resumable)


def resume_hint(run_id: str) -> str:
    """HTML saying how to resume the journaled run ``run_id`` (docs/engine.md, "Resuming
    runs")."""
    short = run_id[:8]
    return (
        '<div style="font-size:12px;margin:4px 0" class="headwater-resume">Resume this run: '
        f"<code>flow.run(resume={_e(repr(run_id))})</code>, or from a terminal "
        f"<code>headwater run FILE.py --resume {_e(short)}</code></div>"
    )


# the pieces other pages are drawn with (the benchmark's: headwater.viz.bench)
escape = _e
badge = _badge
table = _table

__all__ = [
    "MAX_ROWS",
    "badge",
    "escape",
    "flow_html",
    "resume_hint",
    "run_html",
    "state_html",
    "table",
]
