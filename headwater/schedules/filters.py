"""Filters: yes-or-no questions about a candidate time, used by a Schedule to drop candidates.

Design note
-----------
A filter is a small frozen pydantic model with a ``name`` and arguments, callable on an aware
datetime. Argument-less filters are ready-made objects (``is_weekday``); the others come from
functions named like them (``between_times(time(9), time(17))``). Either kind goes straight into
``Schedule(filters=[...])`` and is written to JSON by name plus arguments, never pickled:
``{"name": "between_times", "start": "09:00:00", "end": "17:00:00"}``.

Local time. Filters about dates and times of day look at the candidate's *local* wall clock:
the timezone of the clock that emitted it (for a CronClock or IntervalClock, the zone of its
``start_date``). So ``between_times(time(9), time(17))`` means 09:00-17:00 where the schedule
lives. Times of day are therefore naive; an aware ``time`` is refused. Filters about instants
(``on_datetime``, ``between_datetimes``) compare instants, whatever the zones.

Ranges include both ends. ``between_dates`` may wrap over the new year (Dec 15 - Jan 15) and
``between_times`` over midnight (22:00 - 02:00).

>>> from datetime import datetime, time, timezone
>>> monday_9 = datetime(2024, 1, 8, 9, tzinfo=timezone.utc)
>>> is_weekday(monday_9), between_times(time(9), time(17))(monday_9)
(True, True)
"""

from __future__ import annotations

import calendar
from datetime import datetime, time
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, model_validator

from headwater.schedules._common import NamedSpec, ZonedDatetime, tagged_union, utc

__all__ = [
    "Filter",
    "at_time",
    "between_dates",
    "between_datetimes",
    "between_times",
    "is_month_end",
    "is_month_start",
    "is_weekday",
    "is_weekend",
    "on_date",
    "on_datetime",
]


def _naive_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError(
            f"{value.isoformat()} has a timezone, but filters read times of day on the "
            f"candidate's local clock; pass a time without tzinfo, e.g. time(9, 0)"
        )
    return value


LocalTime = Annotated[time, AfterValidator(_naive_time)]


def _check_month_day(month: int, day: int, prefix: str = "") -> None:
    if not 1 <= month <= 12:
        raise ValueError(f"{prefix}month must be 1-12, got {month}")
    longest = calendar.monthrange(2000, month)[1]  # 2000 is a leap year: February 29 exists
    if not 1 <= day <= longest:
        raise ValueError(
            f"{prefix}day must be 1-{longest} in {calendar.month_name[month]}, got {day}"
        )


class Filter(NamedSpec):
    """Base of every filter: a named yes-or-no question about an aware datetime."""

    tag = "name"
    name: str

    def __call__(self, dt: datetime) -> bool:
        """Tell whether ``dt`` passes this filter.

        Args:
            dt: an aware candidate time, in the timezone of the clock that emitted it.
        """
        raise NotImplementedError


class _OnDatetime(Filter):
    name: Literal["on_datetime"] = "on_datetime"
    dt: ZonedDatetime

    def __call__(self, dt: datetime) -> bool:
        return utc(dt) == utc(self.dt)


class _OnDate(Filter):
    name: Literal["on_date"] = "on_date"
    month: int
    day: int

    @model_validator(mode="after")
    def _check(self) -> _OnDate:
        _check_month_day(self.month, self.day)
        return self

    def __call__(self, dt: datetime) -> bool:
        return (dt.month, dt.day) == (self.month, self.day)


class _AtTime(Filter):
    name: Literal["at_time"] = "at_time"
    t: LocalTime

    def __call__(self, dt: datetime) -> bool:
        return dt.time() == self.t


class _BetweenDatetimes(Filter):
    name: Literal["between_datetimes"] = "between_datetimes"
    start: ZonedDatetime
    end: ZonedDatetime

    @model_validator(mode="after")
    def _check(self) -> _BetweenDatetimes:
        if utc(self.end) < utc(self.start):
            raise ValueError(
                f"end {self.end.isoformat()} is before start {self.start.isoformat()}; swap them"
            )
        return self

    def __call__(self, dt: datetime) -> bool:
        return utc(self.start) <= utc(dt) <= utc(self.end)


class _BetweenDates(Filter):
    name: Literal["between_dates"] = "between_dates"
    start_month: int
    start_day: int
    end_month: int
    end_day: int

    @model_validator(mode="after")
    def _check(self) -> _BetweenDates:
        _check_month_day(self.start_month, self.start_day, "start_")
        _check_month_day(self.end_month, self.end_day, "end_")
        return self

    def __call__(self, dt: datetime) -> bool:
        start = (self.start_month, self.start_day)
        end = (self.end_month, self.end_day)
        day = (dt.month, dt.day)
        if start <= end:
            return start <= day <= end
        return day >= start or day <= end  # wraps over the new year


class _BetweenTimes(Filter):
    name: Literal["between_times"] = "between_times"
    start: LocalTime
    end: LocalTime

    def __call__(self, dt: datetime) -> bool:
        t = dt.time()
        if self.start <= self.end:
            return self.start <= t <= self.end
        return t >= self.start or t <= self.end  # wraps over midnight


class _IsWeekday(Filter):
    name: Literal["is_weekday"] = "is_weekday"

    def __call__(self, dt: datetime) -> bool:
        return dt.weekday() < 5


class _IsWeekend(Filter):
    name: Literal["is_weekend"] = "is_weekend"

    def __call__(self, dt: datetime) -> bool:
        return dt.weekday() >= 5


class _IsMonthStart(Filter):
    name: Literal["is_month_start"] = "is_month_start"

    def __call__(self, dt: datetime) -> bool:
        return dt.day == 1


class _IsMonthEnd(Filter):
    name: Literal["is_month_end"] = "is_month_end"

    def __call__(self, dt: datetime) -> bool:
        return dt.day == calendar.monthrange(dt.year, dt.month)[1]


def on_datetime(dt: datetime) -> Filter:
    """Pass only the instant ``dt``.

    Args:
        dt: an aware datetime; any zone, instants are compared.

    Raises:
        ScheduleError: ``dt`` is naive.

    >>> from datetime import timezone
    >>> on_datetime(datetime(2024, 1, 1, 9, tzinfo=timezone.utc))(
    ...     datetime(2024, 1, 1, 9, tzinfo=timezone.utc))
    True
    """
    return _OnDatetime(dt=dt)


def on_date(month: int, day: int) -> Filter:
    """Pass times on this local calendar day, every year (February 29 only in leap years).

    Args:
        month: 1-12.
        day: 1-31, a day that exists in that month.

    Raises:
        ScheduleError: no such day.

    >>> from datetime import timezone
    >>> on_date(12, 25)(datetime(2024, 12, 25, 8, tzinfo=timezone.utc))
    True
    """
    return _OnDate(month=month, day=day)


def at_time(t: time) -> Filter:
    """Pass times whose local time of day is exactly ``t``.

    Args:
        t: a naive time of day.

    Raises:
        ScheduleError: ``t`` carries a timezone.

    >>> from datetime import timezone
    >>> at_time(time(18))(datetime(2024, 1, 1, 18, tzinfo=timezone.utc))
    True
    """
    return _AtTime(t=t)


def between_datetimes(start: datetime, end: datetime) -> Filter:
    """Pass instants from ``start`` to ``end``, both included.

    Args:
        start: an aware datetime.
        end: an aware datetime, not before ``start``.

    Raises:
        ScheduleError: a naive datetime, or ``end`` before ``start``.

    >>> from datetime import timezone
    >>> jan = between_datetimes(datetime(2024, 1, 1, tzinfo=timezone.utc),
    ...                         datetime(2024, 2, 1, tzinfo=timezone.utc))
    >>> jan(datetime(2024, 2, 1, tzinfo=timezone.utc))
    True
    """
    return _BetweenDatetimes(start=start, end=end)


def between_dates(start_month: int, start_day: int, end_month: int, end_day: int) -> Filter:
    """Pass times whose local date falls in this range of the year, both ends included.

    A range whose end comes before its start wraps over the new year.

    Args:
        start_month: 1-12.
        start_day: a day that exists in ``start_month``.
        end_month: 1-12.
        end_day: a day that exists in ``end_month``.

    Raises:
        ScheduleError: no such day.

    >>> from datetime import timezone
    >>> holidays = between_dates(12, 20, 1, 6)
    >>> holidays(datetime(2025, 1, 6, tzinfo=timezone.utc)), holidays(
    ...     datetime(2025, 1, 7, tzinfo=timezone.utc))
    (True, False)
    """
    return _BetweenDates(
        start_month=start_month, start_day=start_day, end_month=end_month, end_day=end_day
    )


def between_times(start: time, end: time) -> Filter:
    """Pass times whose local time of day is from ``start`` to ``end``, both included.

    A range whose end comes before its start wraps over midnight.

    Args:
        start: a naive time of day.
        end: a naive time of day.

    Raises:
        ScheduleError: a time carries a timezone.

    >>> from datetime import timezone
    >>> night = between_times(time(22), time(2))
    >>> night(datetime(2024, 1, 1, 1, tzinfo=timezone.utc)), night(
    ...     datetime(2024, 1, 1, 3, tzinfo=timezone.utc))
    (True, False)
    """
    return _BetweenTimes(start=start, end=end)


is_weekday: Filter = _IsWeekday()
"""Pass Monday to Friday (local date)."""

is_weekend: Filter = _IsWeekend()
"""Pass Saturday and Sunday (local date)."""

is_month_start: Filter = _IsMonthStart()
"""Pass the first day of a month (local date)."""

is_month_end: Filter = _IsMonthEnd()
"""Pass the last day of a month (local date)."""

_KINDS: tuple[type[NamedSpec], ...] = (
    _AtTime,
    _BetweenDates,
    _BetweenDatetimes,
    _BetweenTimes,
    _IsMonthEnd,
    _IsMonthStart,
    _IsWeekday,
    _IsWeekend,
    _OnDate,
    _OnDatetime,
)

if TYPE_CHECKING:
    FilterSpec = Filter
else:
    FilterSpec = tagged_union(_KINDS, "filter", __name__)
"""Any one filter, told apart in JSON by its name."""


def known_filters() -> list[str]:
    """Return the names a filter may have in JSON.

    >>> known_filters()[:3]
    ['at_time', 'between_dates', 'between_datetimes']
    """
    return sorted(str(k.model_fields["name"].default) for k in _KINDS)
