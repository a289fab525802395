"""A benchmark as one self-contained HTML page, and its fragment for Jupyter.

Design note
-----------
The page (``headwater bench ... --html PATH``, :meth:`BenchResult.write_html
<headwater.runtime.bench_report.BenchResult.write_html>`) opens from disk with no server and
fetches nothing: inline styles, inline SVG, no script. It shows the machine's facts, any
problem (a mismatch of results, a run that did not succeed) in a red box at the top, the
comparison table (the terminal table's cells), and for each executor the timeline of its
median run (:func:`~headwater.viz.timeline.timeline_svg`: one lane per worker thread), its
slowest task runs, and on Dask a link to Dask's own performance report of its timed runs
(a page of its own, written by Dask next to ours; it needs its bokeh scripts). Jupyter
shows the same body without the page around it. Every text is escaped (secrets masked).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.runtime.bench_report import (
    COLUMNS,
    problems,
    seconds_text,
    table_rows,
)
from headwater.viz.html import badge, escape, table
from headwater.viz.timeline import HTMLDocument, html_page, timeline_svg

if TYPE_CHECKING:
    from headwater.runtime.bench_report import BenchResult

_BOX = (
    'style="border:2px solid #c62828;background:#fdecea;color:#8e1b1b;padding:6px 10px;'
    'margin:8px 0;font-size:13px"'
)


def _facts(result: BenchResult) -> str:
    facts = result.machine
    versions = ", ".join(f"{k} {v}" for k, v in (facts.get("versions") or {}).items() if v)
    params = ", ".join(f"{k}={v!r}" for k, v in result.parameters.items()) or "defaults"
    return (
        '<div style="font-size:12px;color:#444;margin:4px 0">'
        f"{escape(facts.get('date'))} on {escape(facts.get('host'))}: "
        f"{escape(facts.get('cpus'))} CPUs, load {escape(facts.get('load'))} before and "
        f"{escape(facts.get('load_after'))} after; Python {escape(facts.get('python'))}; "
        f"{escape(versions)}.<br>Parameters: {escape(params)}. {result.repeats} timed run(s) "
        f"per executor after {result.warmup} warm-up(s); results of "
        f"{escape(', '.join(result.reference_tasks))} compared with the first executor.</div>"
    )


def _href(path: str, page_dir: Path | None) -> str:
    target = Path(path).resolve()
    if page_dir is not None:
        try:
            return Path(os.path.relpath(target, page_dir)).as_posix()
        except ValueError:  # another drive
            pass
    return target.as_uri()


def _executor_section(row: Mapping[str, Any], page_dir: Path | None) -> str:
    label = str(row["executor"])
    runs = ", ".join(seconds_text(s) for s in row["runs_s"])
    parts = [
        f'<h3 style="font-size:14px;margin:16px 0 4px" id="executor-{escape(label)}">'
        f"{escape(label)}</h3>",
        f'<div style="font-size:12px;color:#444">timed runs: {escape(runs)}; the timeline is '
        f"run {row['median_run'] + 1}, the median</div>",
    ]
    records = row.get("records") or []
    title = f"{label}: median run, {seconds_text(row['wall_median_s'])}"
    parts.append(f'<div style="overflow-x:auto">{timeline_svg(records, title)}</div>')
    slowest = row.get("slowest") or []
    if slowest:
        cells = [
            [
                f"<b>{escape(t['task'])}</b>",
                badge(t["state"]),
                escape(seconds_text(t["seconds"])),
                escape(f"{t['worker']} / {t['thread']}"),
            ]
            for t in slowest
        ]
        parts.append('<div style="font-size:13px;margin-top:6px"><b>Slowest task runs</b></div>')
        parts.append(table(["task", "state", "duration", "where"], cells, len(cells)))
    report = row.get("performance_report")
    if report:
        parts.append(
            f'<div style="font-size:12px;margin-top:6px"><a href="{escape(_href(report, page_dir))}">'
            f"Dask's performance report</a> of these timed runs ({escape(report)})</div>"
        )
    return "".join(parts)


def bench_fragment(result: BenchResult, page_dir: Path | None = None) -> str:
    """The benchmark's HTML without the page around it (what Jupyter shows).

    Args:
        result: the benchmark.
        page_dir: the folder the page is saved in (links to Dask's reports are relative to
            it); None for absolute links.
    """
    parts = [
        '<div class="headwater-bench">',
        f'<div style="font-size:15px"><b>Benchmark of flow {escape(result.flow_name)}</b></div>',
        _facts(result),
    ]
    found = problems(result.rows)
    if found:
        items = "".join(f"<li>{escape(p)}</li>" for p in found)
        parts.append(f'<div {_BOX}><b>Problems</b><ul style="margin:4px 0">{items}</ul></div>')
    cells = [[escape(c) for c in row] for row in table_rows(result.rows)]
    parts.append(table(list(COLUMNS), cells, len(cells)))
    parts += [_executor_section(row, page_dir) for row in result.rows]
    parts.append("</div>")
    return "".join(parts)


def bench_page(result: BenchResult, page_dir: str | os.PathLike[str] | None = None) -> HTMLDocument:
    """The benchmark as a self-contained HTML page (a ``str``; Jupyter shows its fragment).

    Args:
        result: the benchmark.
        page_dir: the folder the page will be saved in (links to Dask's reports are relative
            to it); the current folder when None.
    """
    folder = Path(page_dir).resolve() if page_dir is not None else Path.cwd()
    title = f"Benchmark of {result.flow_name}"
    document = html_page(title, bench_fragment(result, folder), "headwater bench")
    return HTMLDocument(document, bench_fragment(result))


__all__ = ["bench_fragment", "bench_page"]
