"""``headwater.bench`` from Python: the result, its display, its checks of results; the
measures it is made of; Dask's performance report (``DaskExecutor(performance_report_path=)``)."""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy
import pytest

import headwater
from headwater.executors import DaskExecutor, LocalDaskExecutor
from headwater.runtime.bench_runs import differences, same_value, sweep
from tests.flows import bench_flows as B


def test_bench_from_python_measures_every_executor_and_shows_a_table_and_timelines() -> None:
    threads = LocalDaskExecutor("threads", num_workers=3)
    result = headwater.bench(
        B.squares, ["local", threads], parameters={"n": 5}, repeats=2, warmup=0, progress=False
    )
    assert result.ok and result.mismatches == []
    assert [row["executor"] for row in result.rows] == ["local", "threads"]
    assert result.row("threads")["slots"] == 3 and result.row("local")["slots"] == 1
    for row in result.rows:
        assert (row["task_runs"], row["mapped_children"]) == (9, 5)
        assert row["states"] == ["Success", "Success"]
        assert {t["task"] for t in row["slowest"][:5]} == {f"square[{i}]" for i in range(5)}
    # five 20 ms sleeps on three threads: more than one in flight on average
    assert result.row("threads")["mean_in_flight"] > 1.0
    assert result.row("local")["peak_in_flight"] == 1
    fragment = result._repr_html_()
    assert "Benchmark of flow squares" in fragment and fragment.count("headwater-timeline") >= 2
    assert "<th" in fragment and ">threads</td>" in fragment
    table = result.table()
    assert table.splitlines()[2].split()[:3] == ["executor", "wall", "median"]
    assert str(result) == table


def test_bench_from_python_finds_answers_that_differ() -> None:
    result = headwater.bench(B.where, ["threads", "local"], repeats=2, warmup=0, progress=False)
    assert not result.ok
    assert [row["results_match"] for row in result.rows] == [True, False]
    # the first executor is the reference; each timed run on the other is checked
    assert len(result.mismatches) == 2
    assert all(
        m.startswith("local (run ") and "where threads gave 'headwater-" in m
        for m in result.mismatches
    )
    assert "MISMATCH: local (run 1/2)" in result.table()


def test_bench_refuses_bad_arguments_before_running() -> None:
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        headwater.bench(B.squares, ["local"], repeats=0)
    with pytest.raises(ValueError, match="'threads' is given twice"):
        headwater.bench(B.squares, ["threads", "threads"])
    with pytest.raises(ValueError, match="No executor to benchmark"):
        headwater.bench(B.squares, [])


def test_secret_parameters_are_masked_in_the_report() -> None:
    from tests.flows import observed

    result = headwater.bench(
        observed.etl, ["local"], parameters={"token": observed.SECRET}, repeats=1, warmup=0
    )
    assert result.parameters == {"token": "********"}
    assert observed.SECRET not in str(result.to_json()) + result._repr_html_()


def test_sweep_sums_unions_and_counts_overlaps_within_the_run() -> None:
    spans = [(0.0, 2.0), (1.0, 3.0), (5.0, 6.0), (5.5, 5.7)]
    assert sweep(spans) == (pytest.approx(5.2), pytest.approx(4.0), 2)
    assert sweep(spans, lo=1.5, hi=5.6) == (pytest.approx(2.7), pytest.approx(2.1), 2)
    assert sweep([]) == (0.0, 0.0, 0)


def test_results_are_compared_by_value_arrays_and_nan_included() -> None:
    assert same_value(numpy.array([1.0, math.nan]), numpy.array([1.0, math.nan]))
    assert not same_value(numpy.array([1, 2]), numpy.array([1, 3]))
    assert not same_value(numpy.array([1, 2]), numpy.array([[1, 2]]))
    assert same_value({"a": [1, (2, math.nan)]}, {"a": [1, (2, math.nan)]})
    assert not same_value(True, 1) and not same_value([1], (1,))
    lock = threading.Lock()
    assert same_value(lock, lock) and not same_value(lock, threading.Lock())
    expected = {"t": ("Success", [1, 2]), "u": ("Failed", None)}
    assert differences(expected, {"t": ("Success", [1, 2]), "u": ("Failed", None)}) == []
    assert differences(expected, {"t": ("Success", [1, 3]), "u": ("Skipped", None)}) == [
        ("t", "[1, 2]", "[1, 3]"),
        ("u", "Failed", "Skipped"),
    ]


def test_dask_executor_writes_a_performance_report_as_in_prefect_1(
    dask_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert DaskExecutor(client=dask_client).performance_report == ""
    path = tmp_path / "report.html"
    executor = DaskExecutor(client=dask_client, performance_report_path=str(path))
    assert executor.performance_report == ""  # no run yet: nothing to read
    state = B.squares.run(parameters={"n": 3}, executor=executor)
    assert state.is_successful()
    report = executor.performance_report
    assert report == path.read_text(encoding="utf-8")
    assert "Dask Performance Report" in report and "a headwater flow run on DaskExecutor" in report
    # a report that cannot be written is a warning, not the run's failure
    (tmp_path / "a-file").write_text("not a folder")
    nowhere = tmp_path / "a-file" / "report.html"
    caplog.set_level(logging.WARNING, logger="headwater.executors")
    broken = DaskExecutor(client=dask_client, performance_report_path=str(nowhere))
    assert B.squares.run(parameters={"n": 2}, executor=broken).is_successful()
    assert f"could not be written to {str(nowhere)!r}" in caplog.text


def test_bench_on_a_running_scheduler_by_address_and_by_executor(
    dask_client: Any, tmp_path: Path
) -> None:
    address = dask_client.scheduler.address
    result = headwater.bench(
        B.squares,
        [f"dask={address}", DaskExecutor(address=address)],
        parameters={"n": 3},
        repeats=1,
        warmup=0,
        progress=False,
        report_dir=tmp_path / "reports",
    )
    assert result.ok, result.table()
    by_name, by_object = result.rows
    assert by_name["executor"] == f"dask={address}" and by_object["executor"] == "dask"
    workers = set(dask_client.nthreads())
    for row in result.rows:
        assert row["slots"] == sum(dask_client.nthreads().values())
        assert set(row["worker_peak_mib"]) == workers
        report = Path(row["performance_report"])
        assert report.parent == tmp_path / "reports" and "Dask Performance Report" in (
            report.read_text()
        )
    page = result.write_html(tmp_path / "page.html").read_text()
    assert page.count('href="reports/dask-report-') == 2
