"""run_on_schedule with a fake clock: waiting, stopping, limits, skipping, errors."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from headwater.errors import ScheduleError
from headwater.schedules import DatesClock, IntervalClock, Schedule, ScheduleEvent, run_on_schedule

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FakeTime:
    """A clock that moves only when something sleeps (or a run takes time)."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)


def never(*args: object) -> None:
    pytest.fail("must not be called")


EVERY_10_S = Schedule([IntervalClock(timedelta(seconds=10), start_date=T0)])


def test_runs_each_event_when_it_comes_due() -> None:
    fake = FakeTime()
    seen: list[tuple[datetime, datetime]] = []

    def run(event: ScheduleEvent) -> int:
        seen.append((event.start_time, fake.now()))
        return len(seen)

    results = run_on_schedule(EVERY_10_S, run, max_runs=3, now=fake.now, sleep=fake.sleep)
    assert results == [1, 2, 3]
    assert [s for s, _ in seen] == [T0 + timedelta(seconds=s) for s in (10, 20, 30)]
    assert all(at == start for start, at in seen)  # not early, not late


def test_sleeps_in_bounded_slices() -> None:
    fake = FakeTime()
    run_on_schedule(
        EVERY_10_S, lambda e: None, max_runs=1, now=fake.now, sleep=fake.sleep, max_sleep=3
    )
    assert fake.sleeps == [3, 3, 3, 1]


def test_the_first_event_is_strictly_after_now() -> None:
    fake = FakeTime(T0 + timedelta(seconds=10))
    (first,) = run_on_schedule(
        EVERY_10_S, lambda e: e.start_time, max_runs=1, now=fake.now, sleep=fake.sleep
    )
    assert first == T0 + timedelta(seconds=20)


def test_stops_when_the_schedule_ends() -> None:
    fake = FakeTime()
    schedule = Schedule([DatesClock([T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)])])
    assert run_on_schedule(
        schedule, lambda e: e.start_time.second, now=fake.now, sleep=fake.sleep
    ) == [1, 2]


def test_max_runs_zero_runs_nothing() -> None:
    fake = FakeTime()
    assert run_on_schedule(EVERY_10_S, never, max_runs=0, now=fake.now, sleep=fake.sleep) == []
    assert fake.sleeps == []


def test_stop_set_by_a_run_ends_the_loop() -> None:
    fake = FakeTime()
    stop = threading.Event()

    def run(event: ScheduleEvent) -> int:
        stop.set()
        return 1

    assert run_on_schedule(EVERY_10_S, run, now=fake.now, sleep=fake.sleep, stop=stop) == [1]


def test_stop_set_while_waiting_ends_the_loop_without_running() -> None:
    fake = FakeTime()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if fake.now() >= T0 + timedelta(seconds=4):
            stop.set()

    results = run_on_schedule(EVERY_10_S, never, now=fake.now, sleep=sleep, stop=stop, max_sleep=2)
    assert results == []
    assert fake.now() == T0 + timedelta(seconds=4)  # noticed within one slice


def test_stop_already_set_runs_nothing() -> None:
    stop = threading.Event()
    stop.set()
    assert run_on_schedule(EVERY_10_S, never, stop=stop, sleep=never) == []


def test_stop_from_another_thread_with_real_sleep() -> None:
    # Real threads and time.sleep, but no waiting: the event is an hour away and stop is
    # already being set; max_sleep keeps each nap to a millisecond.
    stop = threading.Event()
    far = Schedule([DatesClock([datetime.now(UTC) + timedelta(hours=1)])])
    results: list[list[object]] = []
    worker = threading.Thread(
        target=lambda: results.append(run_on_schedule(far, never, stop=stop, max_sleep=0.001))
    )
    worker.start()
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive() and results == [[]]


def test_events_due_during_a_long_run_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()

    def slow_run(event: ScheduleEvent) -> datetime:
        fake.current += timedelta(seconds=25)  # the run takes 25 s: two events come due
        return event.start_time

    with caplog.at_level(logging.WARNING, logger="headwater.schedules"):
        results = run_on_schedule(EVERY_10_S, slow_run, max_runs=2, now=fake.now, sleep=fake.sleep)
    assert results == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=40)]
    assert "events due while it ran are skipped" in caplog.text


def test_a_run_ending_before_the_next_event_skips_nothing(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()

    def run(event: ScheduleEvent) -> datetime:
        fake.current += timedelta(seconds=3)
        return event.start_time

    with caplog.at_level(logging.WARNING, logger="headwater.schedules"):
        results = run_on_schedule(EVERY_10_S, run, max_runs=3, now=fake.now, sleep=fake.sleep)
    assert results == [T0 + timedelta(seconds=s) for s in (10, 20, 30)]
    assert caplog.text == ""


def test_parameter_defaults_reach_the_run() -> None:
    fake = FakeTime()
    schedule = Schedule([DatesClock([T0 + timedelta(seconds=1)], parameter_defaults={"x": 1})])
    assert run_on_schedule(
        schedule, lambda e: e.parameter_defaults, now=fake.now, sleep=fake.sleep
    ) == [{"x": 1}]


def test_an_error_in_a_run_propagates() -> None:
    fake = FakeTime()

    def boom(event: ScheduleEvent) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_on_schedule(EVERY_10_S, boom, now=fake.now, sleep=fake.sleep)


def test_refuses_negative_max_runs() -> None:
    with pytest.raises(
        ScheduleError, match=r"max_runs must be 0 or more, or None for no limit; got -1"
    ):
        run_on_schedule(EVERY_10_S, print, max_runs=-1)


@pytest.mark.parametrize("max_sleep", [0, -1.0])
def test_refuses_a_max_sleep_that_is_not_positive(max_sleep: float) -> None:
    with pytest.raises(ScheduleError, match=r"max_sleep must be a positive number of seconds"):
        run_on_schedule(EVERY_10_S, print, max_sleep=max_sleep)


@pytest.mark.parametrize("value", [datetime(2024, 1, 1), "2024-01-01T00:00:00Z", None])
def test_refuses_a_now_that_is_not_aware(value: object) -> None:
    with pytest.raises(
        ScheduleError, match=r"now\(\) returned .*; it must return an aware datetime"
    ):
        run_on_schedule(EVERY_10_S, print, now=lambda: value)  # type: ignore[arg-type,return-value]
