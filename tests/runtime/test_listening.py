"""The listening loop: run slots and backpressure, failures, parameters, schedules with
listeners, stopping on SIGTERM/SIGINT after the runs in flight (in a subprocess), and what a
hard kill leaves behind."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headwater import journal
from headwater.errors import ListenerError, ParameterError, ScheduleError
from headwater.executors import LocalDaskExecutor, LocalExecutor
from headwater.listeners import (
    END,
    Event,
    FolderListener,
    IterableListener,
    Listener,
    QueueListener,
)
from headwater.runtime.scheduled import ScheduledRuns
from headwater.schedules import DatesClock, Schedule
from tests.flows import listening as flows
from tests.support.listening import listening, reap, stop_during_a_run, wait_for

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("journal_dir")  # tests/runtime/conftest.py


def outputs(runs: ScheduledRuns, task: str = "count") -> list[Any]:
    found = []
    for run in runs:
        (state,) = [s for t, s in run.state.result.items() if t.name == task]
        found.append(state.result)
    return found


# -- run slots --------------------------------------------------------------------------------


def test_one_slot_never_has_two_runs_in_flight_and_takes_events_as_runs_finish() -> None:
    flows.INTERVALS.clear()
    flows.PULLED.clear()
    flows.SEEN_PULLED.clear()

    def events() -> Iterator[dict[str, Any]]:
        for n in range(5):
            flows.PULLED.append(n)
            yield {"n": n}

    runs = flows.timed.run(listen=IterableListener(events()), max_concurrent_runs=1)
    assert runs.is_successful() and len(runs) == 5
    spans = sorted(flows.INTERVALS, key=lambda span: span[1])
    assert [n for n, _, _ in spans] == [0, 1, 2, 3, 4]
    for (_, _, end), (_, start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, spans  # each run's task ended before the next one's began
    # Backpressure: when run n starts, at most one more event has been taken from the source.
    assert all(flows.SEEN_PULLED[n] <= n + 2 for n in range(5)), flows.SEEN_PULLED


def test_two_slots_run_two_at_once_with_an_executor_made_for_each_run() -> None:
    made: list[object] = []

    def executor() -> LocalDaskExecutor:
        made.append(LocalDaskExecutor("threads", num_workers=1))
        return made[-1]  # type: ignore[return-value]

    listener = IterableListener([1, 2], parameter="n")
    runs = flows.paired.run(listen=listener, max_concurrent_runs=2, executor=executor)
    assert runs.is_successful(), runs.states  # both tasks met at the barrier: two in flight
    assert len(made) == 2 and made[0] is not made[1]


def test_one_executor_for_several_slots_is_refused() -> None:
    with pytest.raises(ListenerError, match=r"executor=lambda: LocalExecutor\(\.\.\.\)"):
        flows.counted.run(
            listen=IterableListener([1], parameter="n"),
            max_concurrent_runs=2,
            executor=LocalExecutor(),
        )


# -- runs and their parameters --------------------------------------------------------------------


def test_a_failed_run_is_journaled_and_the_listener_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = flows.counted.run(listen=IterableListener([-1, 2, "bad", 3], parameter="n"))
    assert [type(s).__name__ for s in runs.states] == ["Failed", "Success", "Success"]
    assert not runs.is_successful() and not runs.interrupted
    assert [journal.load_run(run.run_id).state for run in runs] == ["Failed", "Success", "Success"]
    assert "parameter 'n' got 'bad'" in caplog.text  # the bad event was reported and skipped


def test_events_win_over_the_parameters_given_to_run() -> None:
    events = IterableListener([{"n": 1}, {"n": 2, "label": "own"}])
    runs = flows.counted.run(parameters={"label": "shared"}, listen=events)
    labels = [journal.load_run(run.run_id).parameters["label"] for run in runs]
    assert labels == ["shared", "own"]


def test_a_queue_listener_runs_each_item_until_end() -> None:
    q: queue.Queue[Any] = queue.Queue()
    for item in ({"n": 1}, Event({"n": 2}, key="two"), Event({"n": 2}, key="two"), END):
        q.put(item)
    runs = flows.counted.run(listen=QueueListener(q), max_runs=5)
    assert outputs(runs) == [1, 2]  # the second event keyed "two" is the same event


def test_max_runs_stops_a_listener_that_never_ends() -> None:
    q: queue.Queue[Any] = queue.Queue()
    for n in range(4):
        q.put({"n": n})
    runs = flows.counted.run(listen=QueueListener(q), max_runs=2)
    assert outputs(runs) == [0, 1]
    assert q.qsize() == 2  # the item offered when the loop stopped was put back


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"max_concurrent_runs": 2},
            ListenerError,
            "max_concurrent_runs=2 is for runs started by listeners",
        ),
        ({"listen": ["not a listener"]}, TypeError, "listen= takes a listener or a list of them"),
        ({"listen": [], "max_runs": 1}, ListenerError, "has no listener to listen to"),
        (
            {"listen": IterableListener([]), "parameters": {"nope": 1}},
            ParameterError,
            "cannot listen.*unknown parameter 'nope'",
        ),
        (
            {"listen": IterableListener([], parameter="n"), "parameters": {"label": 3}},
            ParameterError,
            "parameter 'label' got 3, which is not a valid str",
        ),
        ({"listen": IterableListener([]), "max_concurrent_runs": 0}, ListenerError, "1 or more"),
        (
            {"listen": IterableListener([]), "run_on_schedule": True},
            ScheduleError,
            "has no schedule to run on",
        ),
    ],
)
def test_bad_listening_options_are_refused_before_anything_listens(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"(?s){message}"):
        flows.counted.run(**kwargs)


def test_a_listener_that_raises_stops_the_loop_with_a_listener_error() -> None:
    class Broken(Listener):
        def listen(self, sink: Any, stop: threading.Event) -> None:
            sink.put(Event({"n": 1}))
            raise RuntimeError("the source went away")

    with pytest.raises(
        ListenerError, match=r"failed, so flow 'counted' stopped listening.*went away"
    ):
        flows.counted.run(listen=Broken())
    assert [r.state for r in journal.list_runs()] == ["Success"]  # the run in flight finished


def test_a_run_that_cannot_start_is_failed_journaled_and_not_remembered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.csv").write_text("a")

    def unreachable() -> Any:
        raise ConnectionError("no scheduler at tcp://10.0.0.1:8786")

    listener = FolderListener(str(tmp_path), poll=0.05)
    runs = flows.echo.run(listen=listener, executor=unreachable, max_runs=1)
    assert "could not start: ConnectionError: no scheduler" in runs[0].state.message
    assert journal.load_run(runs[0].run_id).state == "Failed"
    assert "is not remembered (its run could not start)" in caplog.text
    again = flows.echo.run(listen=FolderListener(str(tmp_path), poll=0.05), max_runs=1)
    assert again.is_successful() and again[0].event.key == runs[0].event.key


# -- schedules with listeners ----------------------------------------------------------------------


def test_a_schedule_with_clocks_and_listeners_runs_for_both() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=0.5)
    copy = flows.counted.copy()
    copy.schedule = Schedule(
        [DatesClock([soon], parameter_defaults={"n": 10})],
        listeners=[IterableListener([1, 2], parameter="n")],
    )
    runs = copy.run(run_on_schedule=True)
    assert sorted(outputs(runs)) == [1, 2, 10]
    clock_run = next(run for run in runs if run.event.parameters == {"n": 10})
    assert clock_run.event.time == soon and clock_run.event.label.startswith("scheduled for")


def test_a_schedule_with_listeners_is_not_written_as_json(tmp_path: Path) -> None:
    schedule = Schedule(listeners=[FolderListener(str(tmp_path))])
    with pytest.raises(ScheduleError, match="listeners are live objects.*model_copy"):
        schedule.model_dump_json()
    timed = schedule.model_copy(update={"listeners": ()})
    assert timed.listeners == () and schedule.next(1) == []
    with pytest.raises(
        ScheduleError, match="listeners are live objects and are not read from JSON"
    ):
        Schedule.model_validate_json('{"clocks": [], "listeners": [{"url": "/tmp"}]}')
    with pytest.raises(ScheduleError, match="needs at least one clock.*or a listener"):
        Schedule()


# -- stopping ---------------------------------------------------------------------------------------

SCRIPT = """
import sys
from headwater.listeners import FolderListener
from tests.flows.listening import gated

runs = gated.run(signals={signals!r}, listen=FolderListener({inbox!r}, poll=0.05))
print("RESULT", len(runs), runs.interrupted, [type(s).__name__ for s in runs.states], flush=True)
"""


def start_listener(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    inbox, signals = tmp_path / "inbox", tmp_path / "signals"
    inbox.mkdir(exist_ok=True)
    signals.mkdir(exist_ok=True)
    code = textwrap.dedent(SCRIPT.format(signals=str(signals), inbox=str(inbox)))
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return proc, inbox, signals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_listener_after_the_run_in_flight_finishes(
    tmp_path: Path, signum: signal.Signals
) -> None:
    proc, inbox, signals = start_listener(tmp_path)
    out, err = stop_during_a_run(proc, inbox, signals, signum)
    assert proc.returncode == 0, err
    assert "RESULT 1 True ['Success']" in out, out + err
    assert "Traceback" not in err, err
    assert not (signals / "started-b.csv").exists()
    assert [r.state for r in journal.list_runs()] == ["Success"]


def test_after_a_hard_kill_the_run_in_flight_runs_again_on_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proc, inbox, signals = start_listener(tmp_path)
    try:
        (inbox / "a.csv").write_text("a")
        wait_for((signals / "started-a.csv").exists, timeout=30, what="the run's start")
    finally:
        reap(proc)  # SIGKILL: nothing can finish, nothing is recorded as finished
    (signals / "release").write_text("")
    listener = FolderListener(str(inbox), poll=0.05)
    runs = flows.gated.run(signals=str(signals), listen=listener, max_runs=1)
    assert runs.is_successful() and runs[0].event.parameters["path"] == str(inbox / "a.csv")
    assert "which never finished (the listener was killed); it runs again" in caplog.text
    with listening(
        flows.gated,
        listeners=FolderListener(str(inbox), poll=0.05),
        parameters={"signals": str(signals)},
    ) as loop:
        (inbox / "b.csv").write_text("b")  # a new file runs; a.csv, now finished, does not
        assert [run.event.parameters["path"] for run in loop.wait_runs(1)] == [str(inbox / "b.csv")]
        loop.finish()
