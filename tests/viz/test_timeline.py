"""The timeline: one bar per task run, one row per worker thread, colored by state."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from headwater.model.states import Failed, State, Success, TriggerFailed
from headwater.runtime import journal
from headwater.runtime.journal import RunRecord, TaskRecord
from headwater.viz import timeline
from headwater.viz.timeline import HTMLDocument, timeline_svg


def bars(page: str) -> list[tuple[str, str]]:
    return re.findall(r'data-task="([^"]*)" data-state="([^"]*)"', page)


def test_one_bar_per_task_run_mapped_children_included(failed_run: State, tmp_path: Path) -> None:
    out = tmp_path / "timeline.html"
    page = timeline(failed_run, filename=out)
    assert out.read_text() == page and page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    found = bars(page)
    assert len(found) == 10  # 3 parameters, extract, 5 children, load: not the map's summary
    assert ("transform[3]", "Failed") in found and ("load", "TriggerFailed") in found
    assert sum(1 for label, _ in found if label.startswith("transform[")) == 5
    for color in (Success.color, Failed.color, TriggerFailed.color):
        assert f'fill="{color}"' in page
    assert ">Success</text>" in page and ">TriggerFailed</text>" in page  # the legend
    assert f"{threading.current_thread().name}" in page  # the row of the thread it ran in
    assert "10 task runs on 1 thread" in page


def test_inline_in_jupyter_is_the_fragment(failed_run: State) -> None:
    page = timeline(failed_run)
    assert isinstance(page, HTMLDocument) and isinstance(page, str)
    fragment = page._repr_html_()
    assert fragment.startswith('<div class="headwater-timeline"') and "<html" not in fragment
    assert fragment in page


def test_rows_are_worker_threads_and_bars_sit_in_their_row() -> None:
    import datetime as dt

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def rec(
        name: str, worker: str, thread: str, start: float, end: float, state: str = "Success"
    ) -> TaskRecord:
        return TaskRecord(
            name,
            name,
            state,
            start=t0 + dt.timedelta(seconds=start),
            end=t0 + dt.timedelta(seconds=end),
            host="h",
            worker=worker,
            thread=thread,
        )

    tasks = [
        rec("a", "tcp://127.0.0.1:1", "T1", 0, 1),
        rec("b", "tcp://127.0.0.1:1", "T2", 0.5, 2),
        rec("c", "tcp://127.0.0.1:2", "T1", 1, 3, "Failed"),
        TaskRecord(
            "never",
            "never",
            "Skipped",
            end=t0 + dt.timedelta(seconds=3),
            host="h",
            worker="tcp://127.0.0.1:2",
            thread="T1",
        ),
    ]
    svg = timeline_svg(tasks, "three rows")
    assert "4 task runs on 3 threads, 3.00 s from first start to last end" in svg
    labels = re.findall(r"<title>(tcp://[^<]*)</title>", svg)
    assert labels == ["tcp://127.0.0.1:1 / T1", "tcp://127.0.0.1:1 / T2", "tcp://127.0.0.1:2 / T1"]
    ys = {
        t: float(y)
        for y, t in re.findall(r'<rect x="[^"]*" y="([^"]*)"[^>]*data-task="([^"]*)"', svg)
    }
    assert ys["a"] < ys["b"] < ys["c"] == ys["never"]
    widths = dict(
        re.findall(r'width="([^"]*)"[^>]*data-task="([^"]*)"', svg)[i][::-1] for i in range(4)
    )
    assert float(widths["never"]) == 2.0  # never ran: a tick where it ended
    assert float(widths["c"]) == pytest.approx(2 * float(widths["a"]), abs=0.05)


def test_a_journaled_run_draws_the_same_bars(failed_run: State) -> None:
    (summary,) = journal.list_runs()
    loaded = journal.load_run(summary.run_id)
    assert sorted(bars(timeline(loaded))) == sorted(bars(timeline(failed_run)))
    assert f"run {summary.run_id[:8]}" in timeline(loaded)


def test_only_flow_runs_are_drawn() -> None:
    with pytest.raises(TypeError, match="pass the State that flow.run\\(\\) returned"):
        timeline(Success("a task state"))
    empty = timeline(RunRecord("r", "f", "Success", None, None, None))
    assert "no task run has timings" in empty
