"""Rich display: HTML for flows, flow-run States, task States and journaled runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from headwater import Flow, journal, task
from headwater.model.states import State, Success
from tests.flows import observed


def test_a_flow_shows_its_dag_parameters_and_tasks() -> None:
    page = observed.etl._repr_html_()
    assert "<b>Flow etl</b>: 6 tasks" in page
    assert "<svg" in page and "No DAG picture" not in page
    for name in ("extract", "transform", "load", "token", "fail_at"):
        assert f"<b>{name}</b>" in page, name
    assert "Secret" in page and "SecretValue(********)" in page
    assert "not-the-real-token" not in page


def test_without_dot_the_picture_is_left_out_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    page = observed.etl._repr_html_()
    assert "<svg" not in page
    assert "No DAG picture" in page and "apt-get install graphviz" in page
    assert "<b>transform</b>" in page


def test_a_flow_run_shows_counts_timeline_and_a_row_per_task_run(failed_run: State) -> None:
    page = failed_run._repr_html_()
    assert "Failed" in page and "Some reference tasks failed: &#x27;load&#x27;." in page
    assert "Success: 8" in page and "Failed: 1" in page and "TriggerFailed: 1" in page
    assert "10 task runs" in page
    assert 'class="headwater-timeline"' in page
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    labels = [re.sub(r"<[^>]+>|&nbsp;", "", r.split("</td>")[0]) for r in rows if "<td" in r]
    assert labels == [
        "n",
        "fail_at",
        "token",
        "extract",
        "transform",
        "transform[0]",
        "transform[1]",
        "transform[2]",
        "transform[3]",
        "transform[4]",
        "load",
    ]
    failed_row = next(r for r in rows if "transform[3]" in r)
    assert "ValueError" in failed_row and " ms" in failed_row
    assert "token=<code>SecretValue(********)</code>" in page


def test_a_task_state_shows_its_state_timing_and_result_location(
    failed_run: State, tmp_path: Path
) -> None:
    page = failed_run.result[observed.ys].map_states[0]._repr_html_()
    assert "Success" in page and "duration" in page and "where" in page and "map index" in page

    from headwater.results.base import Result

    class Stored(Result):
        """A Result that says where it was written (no backend needed to look at it)."""

    stored = Success("written", result=Stored(1, location=str(tmp_path / "out <1>.pkl")))
    page = stored._repr_html_()
    assert f'href="file://{tmp_path}/out &lt;1&gt;.pkl"' in page
    url = Success("written", result=Stored(1, location="s3://bucket/x.pkl"))._repr_html_()
    assert 'href="s3://bucket/x.pkl"' in url
    template = Success("not written", result=Stored(1, location="{task_name}.pkl"))
    assert "href" not in template._repr_html_()


def test_everything_is_escaped() -> None:
    @task(name="<script>alert(1)</script>")
    def evil(x: str) -> None:
        raise ValueError(x)

    with Flow("<b>flow</b>") as f:
        evil("<img src=x onerror=alert(2)>")
    state = f.run()
    pages = [f._repr_html_(), state._repr_html_(), state.result[f.tasks[0]]._repr_html_()]
    for page in pages:
        assert "<script>" not in page and "<img" not in page and "<b>flow</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[1]


def test_a_journaled_run_displays_like_a_live_one(failed_run: State) -> None:
    (summary,) = journal.list_runs()
    short = summary._repr_html_()
    assert "etl" in short and "Failed: 1" in short
    page = journal.load_run(summary.run_id)._repr_html_()
    assert summary.run_id in page and "transform[3]" in page and "Success: 8" in page
    assert "token=<code>&#x27;********&#x27;</code>" in page


def test_tables_stop_at_max_rows() -> None:
    @task
    def one(x: int) -> int:
        return x

    with Flow("wide") as f:
        one.map(list(range(250)))
    page = f.run()._repr_html_()
    assert "… and 52 more rows" in page  # 1 constant + 1 mapped line + 250 children - 200
    assert Success.color in page
