"""A timeline (Gantt chart) of a flow run, as self-contained HTML with inline SVG.

Design note
-----------
The chart is drawn from :class:`~headwater.journal.TaskRecord` values, so a live flow State
and a journaled run (:func:`headwater.journal.load_run`) give the same picture. Rows are the
places where task runs happened: one row per (host, worker, thread), grouped by worker, so
the concurrency a run reached is visible at a glance. Each task run (mapped children
included; a mapped task's summary is not a run) is one bar from the first call of its
function to its final state, filled with its state's color; a run that never called its
function (Skipped, TriggerFailed, Cached...) is a thin tick at the time it ended. Hovering a
bar shows the task, state, duration and message (an SVG ``<title>``).

No script, style sheet or font is fetched: the file opens anywhere, and the same fragment is
shown inline in Jupyter (the returned string's ``_repr_html_``). Every text is escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headwater.runtime.records import RunRecord, TaskRecord, is_flow_state, task_records

WIDTH = 960
"""The chart's width in pixels (the plot area is narrower by the row labels)."""

ROW_HEIGHT = 20
"""The height of one row in pixels."""

MAX_LABEL = 34
"""Row labels longer than this are shortened (the full name is in the tooltip)."""


class HTMLDocument(str):
    """A whole HTML document (a ``str``) that Jupyter displays inline as its ``fragment``.

    Args:
        document: the full document.
        fragment: the part to show inside a notebook.
    """

    fragment: str

    def __new__(cls, document: str, fragment: str) -> HTMLDocument:
        """Make the document string, keeping its fragment."""
        self = super().__new__(cls, document)
        self.fragment = fragment
        return self

    def __init__(self, document: str, fragment: str) -> None:
        super().__init__()

    def _repr_html_(self) -> str:
        return self.fragment


def _records(run: Any) -> tuple[str, list[TaskRecord]]:
    if isinstance(run, RunRecord):
        return f"{run.flow_name} · run {run.run_id[:8]} · {run.state}", list(run.tasks)
    if is_flow_state(run):
        return f"{type(run).__name__}: {run.message or ''}", task_records(run)
    raise TypeError(
        "timeline() draws a flow run: pass the State that flow.run() returned or a RunRecord "
        f"from headwater.journal.load_run(), not {run!r}"
    )


def _e(text: Any) -> str:
    from headwater.model.secrets import redact

    return html.escape(redact(str(text)), quote=True)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.3g} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


def _row_key(t: TaskRecord) -> tuple[str, str, str]:
    return (t.host or "?", t.worker or "?", t.thread or "?")


def _ticks(span: float) -> list[float]:
    """About six round tick values from 0 to ``span`` seconds.

    >>> _ticks(1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if span <= 0:
        return [0.0]
    magnitude = 10 ** math.floor(math.log10(span / 6))
    step = magnitude
    for m in (1, 2, 5, 10):
        step = m * magnitude
        if span / step <= 7:
            break
    count = int(span / step + 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def timeline_svg(tasks: Sequence[TaskRecord], title: str = "") -> str:
    """Return the SVG of a timeline of ``tasks`` (an empty chart with a note when no task
    run has timings).

    Args:
        tasks: the task runs (mapped summary lines are ignored).
        title: a caption drawn above the chart.
    """
    runs = [t for t in tasks if not t.mapped and t.end is not None]
    if not runs:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="40">'
            f'<text x="8" y="24" font-family="Helvetica,Arial,sans-serif" font-size="13">'
            f"{_e(title)} (no task run has timings)</text></svg>"
        )
    t0 = min((t.start or t.end) for t in runs if t.end is not None)
    t1 = max(t.end for t in runs if t.end is not None)
    span = max((t1 - t0).total_seconds(), 1e-3)
    hosts = {t.host for t in runs}
    rows = sorted({_row_key(t) for t in runs})
    row_of = {key: i for i, key in enumerate(rows)}
    label_w = 8 * MAX_LABEL // 2 + 40
    plot_w = WIDTH - label_w - 20
    top = 46
    height = top + ROW_HEIGHT * len(rows) + 56
    scale = plot_w / span
    font = 'font-family="Helvetica,Arial,sans-serif"'
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" class="headwater-timeline">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="8" y="18" {font} font-size="13" font-weight="bold">{_e(title)}</text>',
        f'<text x="8" y="34" {font} font-size="11" fill="#555">{len(runs)} task run{"s" if len(runs) != 1 else ""} on '
        f"{len(rows)} thread{'s' if len(rows) != 1 else ''}, {_e(_seconds(span))} from first start to last end</text>",
    ]
    for i, (host, worker, thread) in enumerate(rows):
        y = top + i * ROW_HEIGHT
        if i % 2:
            out.append(
                f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW_HEIGHT}" fill="#f4f6f8"/>'
            )
        name = f"{worker} / {thread}" if len(hosts) == 1 else f"{host} / {worker} / {thread}"
        short = name if len(name) <= MAX_LABEL else "…" + name[-(MAX_LABEL - 1) :]
        out.append(
            f'<text x="{label_w - 6}" y="{y + ROW_HEIGHT - 6}" {font} font-size="10" '
            f'text-anchor="end" fill="#333"><title>{_e(name)}</title>{_e(short)}</text>'
        )
    axis_y = top + ROW_HEIGHT * len(rows)
    for tick in _ticks(span):
        x = label_w + tick * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{axis_y + 14}" {font} font-size="10" text-anchor="middle" '
            f'fill="#555">{_e(_seconds(tick) if tick else "0")}</text>'
        )
    out.append(
        f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#888"/>'
    )
    for t in runs:
        assert t.end is not None
        y = top + row_of[_row_key(t)] * ROW_HEIGHT + 3
        start = t.start or t.end
        x = label_w + (start - t0).total_seconds() * scale
        w = max((t.end - start).total_seconds() * scale, 2.0)
        out.append(_bar(t, x, y, w, font))
    out.append(_legend(runs, float(label_w), axis_y + 36, font))
    out.append("</svg>")
    return "".join(out)


def _bar(t: TaskRecord, x: float, y: float, w: float, font: str) -> str:
    """One task run's bar, with its tooltip, and its label when it fits."""
    duration = t.duration
    tip = f"{t.label}: {t.state}" + (f", {_seconds(duration)}" if duration is not None else "")
    if t.message:
        tip += f" — {t.message}"
    out = (
        f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{ROW_HEIGHT - 6}" '
        f'fill="{_e(t.color)}" stroke="white" stroke-width="0.5" '
        f'data-task="{_e(t.label)}" data-state="{_e(t.state)}"><title>{_e(tip)}</title></rect>'
    )
    if w > 7 * len(t.label) + 6:
        out += (
            f'<text x="{x + 3:.2f}" y="{y + ROW_HEIGHT - 10}" {font} font-size="10" '
            f'fill="{_text_on(t.color)}" pointer-events="none">{_e(t.label)}</text>'
        )
    return out


def _legend(runs: Sequence[TaskRecord], x: float, legend_y: float, font: str) -> str:
    """A swatch and the name of each state the runs ended in, in order of appearance."""
    out: list[str] = []
    for state in dict.fromkeys(t.state for t in runs):
        color = next(t.color for t in runs if t.state == state)
        out.append(
            f'<rect x="{x:.1f}" y="{legend_y - 10}" width="12" height="12" fill="{_e(color)}"/>'
            f'<text x="{x + 16:.1f}" y="{legend_y}" {font} font-size="11">{_e(state)}</text>'
        )
        x += 26 + 7 * len(state)
    return "".join(out)


def _text_on(color: str) -> str:
    from headwater.viz.graph import text_color

    try:
        return text_color(color)
    except ValueError:
        return "black"


def html_page(title: str, body: str, maker: str) -> str:
    """A whole self-contained HTML document around ``body`` (already HTML), with a footer
    saying that ``maker`` made it, and when.

    Args:
        title: the page's title (plain text).
        body: the page's content.
        maker: what made it (``"headwater timeline"``).
    """
    made = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title></head>"
        '<body style="margin:16px;font-family:Helvetica,Arial,sans-serif">'
        f"{body}"
        f'<p style="color:#777;font-size:11px">{_e(maker)}, made {made}</p>'
        "</body></html>\n"
    )


def timeline(run: Any, filename: str | os.PathLike[str] | None = None) -> HTMLDocument:
    """Draw a flow run's timeline: one bar per task run, one row per worker thread.

    Args:
        run: the State that ``flow.run()`` returned, or a journaled
            :class:`~headwater.journal.RunRecord`.
        filename: also write the self-contained HTML page to this file.

    Returns:
        The HTML page (a ``str``); in Jupyter it displays the chart inline.

    Raises:
        TypeError: when ``run`` is neither a flow run's State nor a RunRecord.
    """
    title, tasks = _records(run)
    chart = timeline_svg(tasks, title)
    fragment = f'<div class="headwater-timeline" style="overflow-x:auto">{chart}</div>'
    document = html_page(title, fragment, "headwater timeline")
    if filename is not None:
        Path(filename).write_text(document, encoding="utf-8")
    return HTMLDocument(document, fragment)


__all__ = ["HTMLDocument", "html_page", "timeline", "timeline_svg"]
