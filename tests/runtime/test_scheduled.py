"""Running a flow on its schedule: real schedules, real sleeping, bounded in time.

Each test builds its schedule from ``datetime.now()`` so that its events are a second or two
away; nothing of ours is replaced. Ctrl-C is a real SIGINT sent to a real Python process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow, FlowDefinitionError, Parameter, ParameterError, flow, journal
from headwater.errors import FlowValidationError, ScheduleError
from headwater.runtime.scheduled import ScheduledRun, ScheduledRuns, run_flow_on_schedule
from headwater.schedules import CronClock, DatesClock, IntervalClock, Schedule
from tests.flows.scheduled import report, ticking, unscheduled

ROOT = Path(__file__).resolve().parents[2]


def seconds_from_now(*offsets: float, **defaults: Any) -> DatesClock:
    now = datetime.now(UTC)
    return DatesClock([now + timedelta(seconds=s) for s in offsets], parameter_defaults=defaults)


def outputs(runs: ScheduledRuns) -> list[dict[str, Any]]:
    found = []
    for run in runs:
        (state,) = [s for t, s in run.state.result.items() if t.name == "report"]
        found.append(state.result)
    return found


@pytest.fixture
def unscheduled_copy() -> Iterator[Flow]:
    """``unscheduled``, which tests may give a schedule without touching the shared one."""
    yield unscheduled.copy()


# -- running ---------------------------------------------------------------------------------


def test_runs_at_each_event_of_an_interval_clock_then_stops_at_max_runs() -> None:
    begun = time.monotonic()
    runs = ticking.run(run_on_schedule=True, max_runs=3)
    took = time.monotonic() - begun
    assert isinstance(runs, ScheduledRuns) and len(runs) == 3 and not runs.interrupted
    assert 1.5 < took < 15, took  # three events one second apart, the first within a second
    starts = [run.event.start_time for run in runs]
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [timedelta(seconds=1)] * 2
    assert all(run.state.is_successful() for run in runs) and runs.is_successful()
    assert [o["scheduled_start_time"] for o in outputs(runs)] == starts
    assert len({run.run_id for run in runs}) == 3
    recorded = {r.run_id for r in journal.list_runs(50, flow_name="ticking")}
    assert {run.run_id for run in runs} <= recorded


def test_the_result_reads_like_a_list_of_runs() -> None:
    runs = ticking.run(run_on_schedule=True, max_runs=1)
    (only,) = runs
    assert isinstance(only, ScheduledRun) and runs[0] is only and runs[-1] is only
    assert runs.states == [only.state] and runs.last_state is only.state
    assert repr(runs) == "<ScheduledRuns: 1 run (1 Success)>"
    assert ScheduledRuns().last_state is None and repr(ScheduledRuns()) == "<ScheduledRuns: 0 runs>"


def test_explicit_parameters_win_over_the_clocks_defaults(unscheduled_copy: Flow) -> None:
    unscheduled_copy.schedule = Schedule(
        [seconds_from_now(0.5, n=2, label="from the clock"), seconds_from_now(1.0, n=3)]
    )
    runs = unscheduled_copy.run(n=7, run_on_schedule=True)
    assert [(o["n"], o["label"]) for o in outputs(runs)] == [(7, "from the clock"), (7, "x")]


def test_a_functional_flow_takes_parameters_as_a_mapping() -> None:
    with Flow("f", schedule=Schedule([seconds_from_now(0.5, n=2)])) as f:
        report(Parameter("n"), Parameter("label", default="x"), False)
    runs = f.run({"label": "given"}, run_on_schedule=True)
    assert [(o["n"], o["label"]) for o in outputs(runs)] == [(2, "given")]


def test_a_failed_run_does_not_stop_the_schedule(unscheduled_copy: Flow) -> None:
    unscheduled_copy.schedule = Schedule(
        [seconds_from_now(0.5, fail=True), seconds_from_now(1.0, fail=False)]
    )
    runs = unscheduled_copy.run(run_on_schedule=True, max_runs=5)
    assert [type(s).__name__ for s in runs.states] == ["Failed", "Success"]
    assert not runs.is_successful() and runs.last_state is runs[1].state


def test_each_start_and_finish_is_logged(
    unscheduled_copy: Flow, caplog: pytest.LogCaptureFixture
) -> None:
    unscheduled_copy.schedule = Schedule(
        [seconds_from_now(0.5, fail=True), seconds_from_now(1.0, fail=False)]
    )
    with caplog.at_level("INFO", logger="headwater.schedules"):
        unscheduled_copy.run(run_on_schedule=True)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    started = [m for level, m in messages if m.endswith("starting.")]
    finished = [(level, m) for level, m in messages if " finished: " in m]
    assert [m.split(" (")[0] for m in started] == ["Scheduled run 1", "Scheduled run 2"]
    assert [level for level, _ in finished] == ["WARNING", "INFO"]
    assert "finished: Failed:" in finished[0][1] and "finished: Success:" in finished[1][1]
    assert any(m.startswith("Next event at ") for _, m in messages)


def test_a_run_that_cannot_start_becomes_a_failed_run(unscheduled_copy: Flow) -> None:
    class Broken:
        """Not an executor: flow.run refuses it, every time."""

    unscheduled_copy.schedule = Schedule([seconds_from_now(0.6, 1.0)])
    runs = run_flow_on_schedule(unscheduled_copy, executor=Broken())
    assert [type(s).__name__ for s in runs.states] == ["Failed", "Failed"]
    assert "could not start: TypeError: executor must be an Executor" in runs[0].state.message
    assert isinstance(runs[0].state.exception, TypeError)


def test_on_run_sees_each_run_as_it_finishes_and_stop_ends_the_loop(
    unscheduled_copy: Flow,
) -> None:
    stop = threading.Event()
    seen: list[ScheduledRun] = []

    def on_run(run: ScheduledRun) -> None:
        seen.append(run)
        stop.set()

    schedule = Schedule([IntervalClock(timedelta(seconds=1), start_date=datetime.now(UTC))])
    runs = run_flow_on_schedule(unscheduled_copy, schedule=schedule, stop=stop, on_run=on_run)
    assert list(runs) == seen and len(seen) == 1 and not runs.interrupted


def test_the_context_keeps_the_callers_keys(unscheduled_copy: Flow) -> None:
    unscheduled_copy.schedule = Schedule([seconds_from_now(0.6)])
    runs = unscheduled_copy.run(
        run_on_schedule=True, context={"flow_run_id": "mine", "team": "data"}
    )
    assert runs[0].run_id != "mine"  # each run gets its own id


# -- dates at the edges ------------------------------------------------------------------------


def test_dates_in_the_past_are_not_run_and_the_loop_ends_with_the_dates(
    unscheduled_copy: Flow,
) -> None:
    unscheduled_copy.schedule = Schedule([seconds_from_now(-3600, -1, 0.6, 1.0)])
    begun = time.monotonic()
    runs = unscheduled_copy.run(run_on_schedule=True)
    assert len(runs) == 2 and time.monotonic() - begun < 10
    assert all(run.event.start_time > datetime.now(UTC) - timedelta(seconds=5) for run in runs)


def test_a_schedule_whose_dates_have_all_passed_runs_nothing(unscheduled_copy: Flow) -> None:
    unscheduled_copy.schedule = Schedule([seconds_from_now(-60, -0.001)])
    begun = time.monotonic()
    runs = unscheduled_copy.run(run_on_schedule=True)
    assert len(runs) == 0 and runs.is_successful() and not runs.interrupted
    assert time.monotonic() - begun < 2


def test_max_runs_zero_runs_nothing(unscheduled_copy: Flow) -> None:
    unscheduled_copy.schedule = Schedule([seconds_from_now(3600)])
    assert len(unscheduled_copy.run(run_on_schedule=True, max_runs=0)) == 0


# -- refused before any wait -----------------------------------------------------------------


def far_away() -> Schedule:
    return Schedule([seconds_from_now(3600)])


def test_a_bad_parameter_is_refused_before_the_first_wait(unscheduled_copy: Flow) -> None:
    unscheduled_copy.schedule = far_away()
    begun = time.monotonic()
    with pytest.raises(ParameterError, match="parameter 'n' got 'many', which is not a valid int"):
        unscheduled_copy.run(n="many", run_on_schedule=True)
    assert time.monotonic() - begun < 2


def test_a_clocks_bad_defaults_are_refused_before_the_first_wait(
    unscheduled_copy: Flow,
) -> None:
    unscheduled_copy.schedule = Schedule(
        [CronClock("0 9 * * *"), seconds_from_now(3600, colour="blue")]
    )
    with pytest.raises(
        ParameterError,
        match=r"unknown parameter 'colour'(.|\n)*clocks\[1\]: \{\"colour\": \"blue\"\}",
    ):
        unscheduled_copy.run(run_on_schedule=True)


def test_a_required_parameter_may_come_from_the_clock() -> None:
    @flow(schedule=Schedule([seconds_from_now(0.6, n=4)]))
    def needs_n(n: int, label: str = "x") -> Any:
        return report(n, label, False)

    with pytest.raises(ParameterError, match="'n' is required"):
        needs_n.run()
    assert [o["n"] for o in outputs(needs_n.run(run_on_schedule=True))] == [4]


def test_a_flow_with_problems_is_refused_before_the_first_wait() -> None:
    f = Flow("broken", schedule=far_away())
    f.add_task(report)  # its arguments are never bound
    with pytest.raises(FlowValidationError, match="missing arguments"):
        f.run(run_on_schedule=True)


def test_running_on_schedule_without_a_schedule_is_refused() -> None:
    with pytest.raises(ScheduleError, match=r"Flow 'unscheduled' has no schedule to run on: give"):
        unscheduled.run(run_on_schedule=True)


def test_max_runs_without_run_on_schedule_is_refused() -> None:
    with pytest.raises(ScheduleError, match="add run_on_schedule=True, or drop max_runs"):
        ticking.run(max_runs=2)


def test_a_schedule_runs_only_when_asked() -> None:
    state = ticking.run()
    assert state.is_successful() and state.result  # one run, now: a State


# -- the schedule's type ---------------------------------------------------------------------


def test_a_clock_is_refused_as_a_schedule_naming_the_fix() -> None:
    with pytest.raises(TypeError, match=r"wrap the clock in a Schedule: schedule=Schedule\(\[Int"):
        Flow("f", schedule=IntervalClock(timedelta(hours=1)))


def test_a_cron_string_is_refused_as_a_schedule_naming_the_fix() -> None:
    with pytest.raises(TypeError, match=r"Schedule\(\[CronClock\('0 9 \* \* \*'\)\]\)"):

        @flow(schedule="0 9 * * *")
        def f() -> None:
            return None


def test_setting_a_bad_schedule_later_is_refused(unscheduled_copy: Flow) -> None:
    with pytest.raises(TypeError, match="schedule must be a headwater.schedules.Schedule or None"):
        unscheduled_copy.schedule = {"clocks": []}  # type: ignore[assignment]
    unscheduled_copy.schedule = None
    assert unscheduled_copy.schedule is None


def test_run_keywords_are_kept_from_flow_arguments() -> None:
    with pytest.raises(FlowDefinitionError, match="'max_runs', which flow.run"):

        @flow
        def f(max_runs: int = 1) -> None:
            return None


# -- Ctrl-C, a real SIGINT -------------------------------------------------------------------


SCRIPT = """
import logging, sys
from datetime import UTC, datetime, timedelta
from headwater.schedules import DatesClock, Schedule
from tests.flows.scheduled import sleepy

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
now = datetime.now(UTC)
sleepy.schedule = Schedule([DatesClock([now + timedelta(seconds=s) for s in (1, 3600)])])
runs = sleepy.run(seconds={seconds}, run_on_schedule=True)
print(repr(runs), [type(s).__name__ for s in runs.states], flush=True)
"""


def interrupt_when(seconds: float, marker: str) -> subprocess.CompletedProcess[str]:
    """Run SCRIPT, send SIGINT once ``marker`` shows on stderr, and return what it did."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT.format(seconds=seconds))],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if marker in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(30), "".join(lines)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)  # stderr belongs to the reader; stdout is a line or two
        assert proc.stdout is not None
        stdout = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, "".join(lines))


def test_ctrl_c_while_waiting_returns_the_runs_so_far() -> None:
    done = interrupt_when(0, "finished: Success")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert "<ScheduledRuns: 1 run (1 Success), interrupted> ['Success']" in done.stdout
    assert "schedule stopped by an interrupt after 1 run" in done.stderr


def test_ctrl_c_during_a_run_cancels_it_and_stops_the_schedule() -> None:
    begun = time.monotonic()
    done = interrupt_when(60, "Scheduled run 1 (")
    assert time.monotonic() - begun < 40
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert "<ScheduledRuns: 1 run (1 Cancelled), interrupted> ['Cancelled']" in done.stdout
