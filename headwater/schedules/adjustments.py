"""Adjustments: moves a Schedule applies, in order, to every candidate that passed its filters.

Design note
-----------
An adjustment is a small frozen pydantic model with a ``name`` and arguments, callable on an
aware datetime and returning the moved one, in the same timezone. Like filters, argument-less
adjustments are ready-made objects (``next_weekday``), the others come from functions named like
them (``add(timedelta(hours=2))``), and JSON names them: ``{"name": "add", "interval": "PT2H"}``.

Local time. A move by whole days (``add(timedelta(days=1))``, the weekday moves) is a move on
the local calendar and keeps the local wall-clock time across DST changes, by the same rule as
whole-day IntervalClocks; any other ``add`` moves the instant by elapsed time.

Bounds. A Schedule must return events in time order although an adjustment may move a later
candidate before an earlier one (``next_weekday`` moves Saturday 18:00 to Monday 18:00, after
Sunday 09:00 moved to Monday 09:00). Each adjustment therefore tells, through :meth:`bounds`,
the least and most it can move an instant; the Schedule uses the sums to know how far back to
look for candidates and when a moved event can no longer be overtaken.

``previous_weekday`` is headwater's addition to PIN-10's set: with it, "the last weekday on or
before the 14th" is a monthly clock on the 14th plus ``previous_weekday``.

>>> from datetime import datetime, timezone
>>> saturday = datetime(2024, 1, 6, 18, tzinfo=timezone.utc)
>>> next_weekday(saturday).isoformat(), previous_weekday(saturday).isoformat()
('2024-01-08T18:00:00+00:00', '2024-01-05T18:00:00+00:00')
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from headwater.schedules._common import (
    MAX_OFFSET_CHANGE,
    NamedSpec,
    step,
    step_bounds,
    tagged_union,
)

__all__ = ["Adjustment", "add", "next_weekday", "previous_weekday"]


class Adjustment(NamedSpec):
    """Base of every adjustment: a named move of an aware datetime."""

    tag = "name"
    name: str

    def __call__(self, dt: datetime) -> datetime:
        """Return ``dt`` moved, in the same timezone.

        Args:
            dt: an aware time that passed the schedule's filters.
        """
        raise NotImplementedError

    def bounds(self) -> tuple[timedelta, timedelta]:
        """Return the least and the most this adjustment can move an instant (elapsed time)."""
        raise NotImplementedError


class _Add(Adjustment):
    name: Literal["add"] = "add"
    interval: timedelta

    def __call__(self, dt: datetime) -> datetime:
        return step(dt, self.interval) if self.interval else dt

    def bounds(self) -> tuple[timedelta, timedelta]:
        return step_bounds(self.interval)


class _NextWeekday(Adjustment):
    name: Literal["next_weekday"] = "next_weekday"

    def __call__(self, dt: datetime) -> datetime:
        weekday = dt.weekday()
        return dt if weekday < 5 else step(dt, timedelta(days=7 - weekday))

    def bounds(self) -> tuple[timedelta, timedelta]:
        return min(timedelta(0), timedelta(days=1) - MAX_OFFSET_CHANGE), (
            timedelta(days=2) + MAX_OFFSET_CHANGE
        )


class _PreviousWeekday(Adjustment):
    name: Literal["previous_weekday"] = "previous_weekday"

    def __call__(self, dt: datetime) -> datetime:
        weekday = dt.weekday()
        return dt if weekday < 5 else step(dt, timedelta(days=4 - weekday))

    def bounds(self) -> tuple[timedelta, timedelta]:
        return timedelta(days=-2) - MAX_OFFSET_CHANGE, max(
            timedelta(0), timedelta(days=-1) + MAX_OFFSET_CHANGE
        )


def add(interval: timedelta) -> Adjustment:
    """Move every time by ``interval``: whole days on the local calendar, else elapsed time.

    Args:
        interval: how far to move; negative moves earlier.

    Raises:
        ScheduleError: ``interval`` is not a timedelta.

    >>> from datetime import timezone
    >>> add(timedelta(minutes=30))(datetime(2024, 1, 1, 9, tzinfo=timezone.utc)).isoformat()
    '2024-01-01T09:30:00+00:00'
    """
    return _Add(interval=interval)


next_weekday: Adjustment = _NextWeekday()
"""Move Saturday and Sunday to the following Monday, same local time; keep weekdays."""

previous_weekday: Adjustment = _PreviousWeekday()
"""Move Saturday and Sunday to the Friday before, same local time; keep weekdays."""

_KINDS: tuple[type[NamedSpec], ...] = (_Add, _NextWeekday, _PreviousWeekday)

if TYPE_CHECKING:
    AdjustmentSpec = Adjustment
else:
    AdjustmentSpec = tagged_union(_KINDS, "adjustment", __name__)
"""Any one adjustment, told apart in JSON by its name."""


def known_adjustments() -> list[str]:
    """Return the names an adjustment may have in JSON.

    >>> known_adjustments()
    ['add', 'next_weekday', 'previous_weekday']
    """
    return sorted(str(k.model_fields["name"].default) for k in _KINDS)
