"""Clocks: the sources of candidate times for a Schedule.

Design note
-----------
A clock is a frozen pydantic model that yields its times, strictly increasing, strictly after a
given instant (:meth:`Clock.times`); it may carry ``parameter_defaults`` for the flow runs its
events start. Three kinds, told apart in JSON by ``type``:

- :class:`IntervalClock` — ``start_date`` plus whole multiples of ``interval``. An interval of
  whole days (``timedelta(days=1)``, which is also ``timedelta(hours=24)``, or ``weeks=1``)
  steps on the local calendar of ``start_date``'s zone and keeps its wall-clock time across DST
  changes (18:00 stays 18:00); any other interval (``timedelta(hours=1)``, ``hours=36``) steps
  in elapsed time, so an hourly clock fires every 60 minutes through DST changes and shows
  01:00 twice on the night clocks go back. ``start_date`` defaults to 2019-01-01 00:00 UTC, as
  in Prefect Core 1.
- :class:`CronClock` — a cron expression (croniter) read on the local wall clock of
  ``start_date``'s zone (UTC without one). It fires once for each local time the expression
  matches, at the first instant clocks show that time: a time repeated when clocks go back
  fires once (its first occurrence); a time skipped when clocks go forward fires when the
  clocks jump over it (02:30 becomes 03:00). Hourly crons thus pause two hours on the night
  clocks go back; use an IntervalClock for "every 60 elapsed minutes".
- :class:`DatesClock` — the given dates.

Each time is yielded in the clock's zone, so filters read the clock's local calendar. Clocks
work on instants (``utc``) when ordering; see :mod:`headwater.schedules._common`.

>>> from datetime import datetime, timezone
>>> clock = IntervalClock(timedelta(hours=6))
>>> times = clock.times(datetime(2024, 1, 1, tzinfo=timezone.utc))
>>> [next(times).hour for _ in range(3)]
[6, 12, 18]
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from croniter import CroniterBadDateError, CroniterError, croniter
from pydantic import field_validator, model_validator

from headwater.schedules._common import (
    UTC,
    Spec,
    ZonedDatetime,
    check_json_value,
    first_instant,
    is_whole_days,
    python_init,
    spec_repr,
    tagged_union,
    utc,
    wall,
    zoned,
)

__all__ = ["Clock", "CronClock", "DatesClock", "IntervalClock", "ScheduleEvent"]

DEFAULT_START = datetime(2019, 1, 1, tzinfo=UTC)
"""Where an IntervalClock without a start_date counts from (Prefect Core 1's choice)."""


@dataclass(frozen=True)
class ScheduleEvent:
    """One time a schedule fires, with the parameter defaults for the run it starts.

    Args:
        start_time: when, timezone-aware, in the zone of the clock that emitted it.
        parameter_defaults: parameter values for the run (from the clock).
    """

    start_time: datetime
    parameter_defaults: dict[str, Any] = field(default_factory=dict)


def now_utc() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


class Clock(Spec):
    """Base of every clock: a source of candidate times, with parameter defaults."""

    tag = "type"
    type: str
    parameter_defaults: dict[str, Any] = {}

    @python_init
    def __init__(self, **data: Any) -> None:
        super().__init__(**data)  # typed here so that subclasses may pass their own fields

    @field_validator("parameter_defaults")
    @classmethod
    def _check_parameter_defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_json_value(value, "parameter_defaults")
        return value

    def times(self, after: datetime) -> Iterator[datetime]:
        """Yield this clock's times strictly after ``after``, strictly increasing.

        Args:
            after: an aware datetime.
        """
        raise NotImplementedError

    def events(self, after: datetime | None = None) -> Iterator[ScheduleEvent]:
        """Yield this clock's events strictly after ``after`` (default: now), in time order.

        Args:
            after: an aware datetime.

        Raises:
            ScheduleError: ``after`` is naive.
        """
        after = now_utc() if after is None else zoned(after, "after")
        for t in self.times(after):
            yield ScheduleEvent(t, copy.deepcopy(self.parameter_defaults))


def _check_order(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and utc(end) < utc(start):
        raise ValueError(
            f"end_date {end.isoformat()} is before start_date {start.isoformat()}; "
            f"swap them or leave end_date out"
        )


class IntervalClock(Clock):
    """Fire at ``start_date`` and every ``interval`` after it, until ``end_date``.

    Whole-day intervals keep the local wall-clock time of ``start_date`` across DST changes;
    other intervals count elapsed time (see the module's design note).

    Args:
        interval: a positive timedelta.
        start_date: the first time, aware (default 2019-01-01 00:00 UTC); its zone is the
            clock's zone.
        end_date: the last possible time, aware, included; None runs forever.
        parameter_defaults: parameter values for the runs this clock starts (JSON values).

    Raises:
        ScheduleError: an interval that is not positive, a naive date, or end before start.
    """

    type: Literal["interval"] = "interval"
    interval: timedelta
    start_date: ZonedDatetime = DEFAULT_START
    end_date: ZonedDatetime | None = None

    @python_init
    def __init__(
        self,
        interval: timedelta,
        start_date: datetime = DEFAULT_START,
        end_date: datetime | None = None,
        parameter_defaults: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            interval=interval,
            start_date=start_date,
            end_date=end_date,
            parameter_defaults=parameter_defaults or {},
        )

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"must be positive, got {value}; pass e.g. timedelta(hours=1)")
        return value

    @model_validator(mode="after")
    def _check_dates(self) -> IntervalClock:
        _check_order(self.start_date, self.end_date)
        return self

    def _nth(self, k: int) -> datetime:
        if k == 0:
            return self.start_date
        if is_whole_days(self.interval):
            return first_instant(wall(self.start_date) + self.interval * k, self._zone())
        return (utc(self.start_date) + self.interval * k).astimezone(self._zone())

    def _zone(self) -> tzinfo:
        return self.start_date.tzinfo or UTC

    def times(self, after: datetime) -> Iterator[datetime]:
        """Yield this clock's times strictly after ``after``, strictly increasing.

        Args:
            after: an aware datetime.
        """
        after_utc, end = utc(after), self.end_date and utc(self.end_date)
        # Jump close to `after` (whole-day steps drift from elapsed time by at most the DST
        # and zone changes in between, a day at most), then walk.
        k = max(0, (after_utc - utc(self.start_date)) // self.interval - 1)
        try:
            while k > 0 and utc(self._nth(k)) > after_utc:
                k -= 1
            while True:
                t = self._nth(k)
                k += 1
                if utc(t) <= after_utc:
                    continue
                if end is not None and utc(t) > end:
                    return
                yield t
        except OverflowError:
            return  # past year 9999

    def __repr__(self) -> str:
        return spec_repr(self, ("interval",))


class CronClock(Clock):
    """Fire whenever the local wall clock matches a cron expression.

    The expression is read in the zone of ``start_date`` (UTC without one), so "0 18 * * 1-5"
    stays 18:00 local across DST changes. Times repeated when clocks go back fire once, times
    skipped when clocks go forward fire at the jump (see the module's design note).

    Args:
        cron: a cron expression croniter understands, e.g. "0 18 * * 1-5".
        start_date: no time before it, aware; its zone is the clock's zone.
        end_date: no time after it, aware; None runs forever.
        day_or: with both day-of-month and day-of-week restricted, fire when either matches
            (True, classic cron) or only when both match (False).
        parameter_defaults: parameter values for the runs this clock starts (JSON values).

    Raises:
        ScheduleError: an invalid or never-matching expression, a naive date, or end before
            start.
    """

    type: Literal["cron"] = "cron"
    cron: str
    start_date: ZonedDatetime | None = None
    end_date: ZonedDatetime | None = None
    day_or: bool = True

    @python_init
    def __init__(
        self,
        cron: str,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        day_or: bool = True,
        parameter_defaults: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            cron=cron,
            start_date=start_date,
            end_date=end_date,
            day_or=day_or,
            parameter_defaults=parameter_defaults or {},
        )

    @model_validator(mode="after")
    def _check(self) -> CronClock:
        _check_order(self.start_date, self.end_date)
        example = "e.g. '0 18 * * 1-5' is 18:00 Monday to Friday"
        try:
            croniter(self.cron, datetime(2000, 1, 1), day_or=self.day_or).get_next(datetime)
        except CroniterBadDateError as exc:
            raise ValueError(f"cron {self.cron!r} never matches a date; {example}") from exc
        except (CroniterError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"cron {self.cron!r} is not a valid cron expression ({exc}); {example}"
            ) from exc
        return self

    def _zone(self) -> tzinfo:
        if self.start_date is None or self.start_date.tzinfo is None:
            return UTC
        return self.start_date.tzinfo

    def times(self, after: datetime) -> Iterator[datetime]:
        """Yield this clock's times strictly after ``after``, strictly increasing.

        Args:
            after: an aware datetime.
        """
        lower = utc(after)
        if self.start_date is not None and utc(self.start_date) > lower:
            lower = utc(self.start_date) - timedelta(microseconds=1)  # start_date included
        end = self.end_date and utc(self.end_date)
        tz = self._zone()
        # Any wall time that first shows after `lower` is later than the wall time at `lower`,
        # so croniter can start there; first_instant is monotone, so times come out in order.
        matches = croniter(self.cron, wall(lower.astimezone(tz)), day_or=self.day_or)
        last: datetime | None = None
        while True:
            try:
                t = first_instant(matches.get_next(datetime), tz)
            except (CroniterBadDateError, OverflowError):
                return  # no more matches (a cron with a year field, or past year 9999)
            if utc(t) <= lower or (last is not None and utc(t) == last):
                continue  # before `after`, or a second wall time skipped by the same jump
            if end is not None and utc(t) > end:
                return
            last = utc(t)
            yield t

    def __repr__(self) -> str:
        return spec_repr(self, ("cron",))


class DatesClock(Clock):
    """Fire at each of the given dates.

    Args:
        dates: aware datetimes, at least one; duplicates (same instant) fire once.
        parameter_defaults: parameter values for the runs this clock starts (JSON values).

    Raises:
        ScheduleError: no dates, or a naive one.
    """

    type: Literal["dates"] = "dates"
    dates: tuple[ZonedDatetime, ...]

    @python_init
    def __init__(
        self, dates: Sequence[datetime], parameter_defaults: dict[str, Any] | None = None
    ) -> None:
        super().__init__(dates=dates, parameter_defaults=parameter_defaults or {})

    @field_validator("dates")
    @classmethod
    def _check_dates(cls, value: tuple[datetime, ...]) -> tuple[datetime, ...]:
        if not value:
            raise ValueError("needs at least one date; e.g. DatesClock([datetime(...)])")
        return value

    def times(self, after: datetime) -> Iterator[datetime]:
        """Yield the dates strictly after ``after``, in time order, each instant once.

        Args:
            after: an aware datetime.
        """
        last: datetime | None = None
        for t in sorted(self.dates, key=utc):
            if utc(t) > utc(after) and (last is None or utc(t) != last):
                last = utc(t)
                yield t

    def __repr__(self) -> str:
        return spec_repr(self, ("dates",))


_KINDS: tuple[type[Spec], ...] = (CronClock, DatesClock, IntervalClock)

if TYPE_CHECKING:
    ClockSpec = Clock
else:
    ClockSpec = tagged_union(_KINDS, "clock", "headwater.schedules")
"""Any one clock, told apart in JSON by its type."""
