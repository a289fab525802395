"""Running something on a schedule: wait for each event, run, repeat.

Design note
-----------
:func:`run_on_schedule` is the loop behind ``flow.run(run_on_schedule=True)``, kept apart from
flows so that it is tested alone, with an injected clock (``now``) and ``sleep``: tests never
wait. It asks the schedule for one event at a time, so a schedule's JSON is all its state.

- The first event is the first one strictly after ``now()`` when the loop starts.
- Waiting sleeps in slices of at most ``max_sleep`` seconds and checks ``stop`` before each,
  so setting ``stop`` ends the loop within ``max_sleep`` seconds, without running again.
- One run at a time, no backlog: after a run, the next event is the first one strictly after
  both the event just run and ``now()``. Events that came due while a run was still going are
  skipped (logged), as Prefect Core 1 did, rather than fired in a burst.
- The loop ends after ``max_runs`` runs, when ``stop`` is set, or when the schedule has no more
  events. An exception from ``run`` ends it too, and propagates.

>>> from datetime import datetime, timedelta, timezone
>>> from headwater.schedules import DatesClock, Schedule
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> clock = [t0]
>>> def fake_sleep(seconds):
...     clock[0] += timedelta(seconds=seconds)
>>> schedule = Schedule([DatesClock([t0 + timedelta(seconds=5), t0 + timedelta(seconds=9)])])
>>> run_on_schedule(schedule, lambda e: e.start_time.second, now=lambda: clock[0],
...                 sleep=fake_sleep)
[5, 9]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from headwater.errors import ScheduleError
from headwater.schedules._common import utc, zoned
from headwater.schedules.clocks import ScheduleEvent, now_utc

if TYPE_CHECKING:
    from headwater.schedules.schedule import Schedule

__all__ = ["run_on_schedule"]

logger = logging.getLogger("headwater.schedules")


def _now(now: Callable[[], datetime]) -> datetime:
    value = now()
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ScheduleError(
            f"now() returned {value!r}; it must return an aware datetime, "
            f"e.g. datetime.now(timezone.utc)."
        )
    return utc(zoned(value, "now()"))


def _wait_until(
    when: datetime,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    stop: threading.Event | None,
    max_sleep: float,
) -> bool:
    """Sleep until ``when``; False if ``stop`` was set first."""
    while True:
        if stop is not None and stop.is_set():
            return False
        remaining = (utc(when) - _now(now)).total_seconds()
        if remaining <= 0:
            return True
        sleep(min(remaining, max_sleep))


def run_on_schedule(
    schedule: Schedule,
    run: Callable[[ScheduleEvent], Any],
    *,
    max_runs: int | None = None,
    now: Callable[[], datetime] = now_utc,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
    max_sleep: float = 1.0,
) -> list[Any]:
    """Call ``run(event)`` at each event of ``schedule``, one run at a time; return the results.

    Args:
        schedule: when to run.
        run: called with each event once its start time has come.
        max_runs: stop after this many runs; None runs until ``stop`` or the schedule ends.
        now: the current time, aware (injectable for tests).
        sleep: sleeps a number of seconds (injectable for tests).
        stop: when set, the loop ends before the next run, within ``max_sleep`` seconds.
        max_sleep: the longest single sleep, in seconds.

    Returns:
        The values ``run`` returned, in order.

    Raises:
        ScheduleError: ``max_runs`` is negative, ``max_sleep`` is not positive, or ``now()``
            returns a naive datetime; and whatever ``schedule.next`` or ``run`` raise.
    """
    if max_runs is not None and max_runs < 0:
        raise ScheduleError(f"max_runs must be 0 or more, or None for no limit; got {max_runs}.")
    if not max_sleep > 0:
        raise ScheduleError(f"max_sleep must be a positive number of seconds; got {max_sleep}.")
    results: list[Any] = []
    after = _now(now)
    while max_runs is None or len(results) < max_runs:
        if stop is not None and stop.is_set():
            break
        upcoming = schedule.next(1, after=after)
        if not upcoming:
            logger.info("Schedule has no more events after %s; stopping.", after)
            break
        event = upcoming[0]
        logger.info("Next event at %s.", event.start_time)
        if not _wait_until(event.start_time, now, sleep, stop, max_sleep):
            break
        results.append(run(event))
        finished = _now(now)
        after = max(utc(event.start_time), finished)
        if finished > utc(event.start_time):
            missed = schedule.next(1, after=event.start_time)
            if missed and utc(missed[0].start_time) <= finished:
                logger.warning(
                    "The run for %s ended at %s, after the next event (%s) came due; events "
                    "due while it ran are skipped.",
                    event.start_time,
                    finished,
                    missed[0].start_time,
                )
    return results
