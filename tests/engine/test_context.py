"""The run context as a Prefect Core 1 flow reads it: parameters given once and checked,
the LOOP keys, the day keys, the run's and task's names and the logger."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from headwater import Flow, HeadwaterError, Parameter, ParameterError
from tests.flows import fidelity as F
from tests.flows.targets import calls_in

# -- parameters given in the context ------------------------------------------------------------


def test_explicit_parameters_win_over_the_context_and_every_value_is_checked(
    executor: object,
) -> None:
    with Flow("params") as f:
        n = F.typed_identity(Parameter("n", annotation=int))
        m = F.typed_identity(Parameter("m", annotation=int, default=0))
    state = f.run(
        parameters={"n": "5"}, context={"parameters": {"n": "zz", "m": "7"}}, executor=executor
    )
    assert state.result[n].result == 5 and state.result[m].result == 7  # coerced: checked


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"n": "many"}, "parameter 'n' got 'many', which is not a valid int"),
        ({"n": 1, "x": 2}, "unknown parameter 'x'"),
        (5, r"context\['parameters'\] must map parameter names to values, got int 5"),
    ],
)
def test_parameters_in_the_context_are_refused_before_anything_runs(
    given: object, problem: str, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    with Flow("params") as f:
        F.noted(str(calls), Parameter("n", annotation=int, default=1))
    with pytest.raises(ParameterError, match=problem):
        f.run(context={"parameters": given})
    assert calls_in(calls) == []


# -- LOOP -----------------------------------------------------------------------------------------


def test_the_loop_result_is_absent_on_the_first_iteration(executor: object) -> None:
    with Flow("loop") as f:
        counted = F.count_up_to(4)
        first = F.loop_keys()
    state = f.run(executor=executor)
    assert state.result[counted].result == (4, 4)  # context.get("task_loop_result", 0) + 1
    assert state.result[first].result == (False, 1)


# -- the day keys -----------------------------------------------------------------------------------


def test_the_day_keys_follow_the_run_date(executor: object) -> None:
    with Flow("days") as f:
        k = F.day_keys()
    keys = f.run(executor=executor).result[k].result
    date = keys["date"]
    assert isinstance(date, dt.datetime) and date.tzinfo is not None
    assert keys["today"] == date.strftime("%Y-%m-%d")
    assert keys["yesterday_nodash"] == (date - dt.timedelta(days=1)).strftime("%Y%m%d")
    assert keys["tomorrow"] == (date + dt.timedelta(days=1)).strftime("%Y-%m-%d")


@pytest.mark.parametrize(
    "given",
    [
        "2024-12-31T23:30:00",
        dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC),
        dt.date(2024, 12, 31),
    ],
)
def test_the_day_keys_follow_a_given_date(given: object, executor: object) -> None:
    with Flow("days") as f:
        k = F.day_keys()
    keys = f.run(context={"date": given}, executor=executor).result[k].result
    assert (keys["yesterday"], keys["today"], keys["tomorrow"]) == (
        "2024-12-30",
        "2024-12-31",
        "2025-01-01",
    )
    assert (keys["yesterday_nodash"], keys["today_nodash"], keys["tomorrow_nodash"]) == (
        "20241230",
        "20241231",
        "20250101",
    )
    if isinstance(given, str):  # parsed, in UTC when the string names no zone
        assert keys["date"] == dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC)
    else:
        assert keys["date"] == given


def test_a_given_day_key_wins_and_a_bad_date_is_refused(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    with Flow("days") as f:
        k = F.day_keys()
        F.noted(str(calls))
    state = f.run(context={"date": "2024-03-01", "today": "the first"})
    assert state.result[k].result["today"] == "the first"
    assert state.result[k].result["tomorrow"] == "2024-03-02"
    with pytest.raises(HeadwaterError, match=r"context\['date'\] must be a datetime.*'next week'"):
        f.run(context={"date": "next week"})
    assert calls_in(calls) == ["noted"]  # only the first run's


# -- names and the logger ---------------------------------------------------------------------------


def test_task_full_name_flow_run_name_and_logger(
    executor: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headwater")
    with Flow("names") as f:
        one = F.names()
        many = F.names.map([1, 2])
    state = f.run(executor=executor)
    got = state.result[one].result
    assert got["task_full_name"] == "names" and got["listed"]
    assert got["flow_run_name"] == got["flow_run_id"]  # unless the context names the run
    assert got["logger"] == "headwater.task.names"
    assert [c.result["task_full_name"] for c in state.result[many].map_states] == [
        "names[0]",
        "names[1]",
    ]
    named = f.run(context={"flow_run_name": "nightly"}, executor=executor).result[one].result
    assert named["flow_run_name"] == "nightly"
    if executor.__class__.__name__ == "LocalExecutor":  # records from workers: test_logs
        assert "logged through context['logger']" in caplog.text


def test_task_run_ids_are_unique_across_worker_processes(executor: object) -> None:
    """Worker processes forked from one forkserver make their own task run ids (they once
    shared the per-process prefix and counter, so two children could get one id)."""
    from headwater import unmapped
    from tests.flows import batched_flows as B

    with Flow("run ids") as f:
        unbatched = B.where_and_how.map(list(range(8)), unmapped(0), batch_size=1)
        batched = B.where_and_how.map(list(range(8)), unmapped(0), batch_size=2)
    state = f.run(executor=executor)
    ids = [c.result[-1] for t in (unbatched, batched) for c in state.result[t].map_states]
    assert len(set(ids)) == 16
