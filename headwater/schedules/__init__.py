"""Flexible schedules (PIN-10): clocks emit candidate times, filters drop some, adjustments
move the rest.

Design note
-----------
The model, its timezone and DST rules, JSON by name and the runner are set out in
docs/notices/0007-schedules.md; each module's design note covers its part:

- :mod:`~headwater.schedules.clocks` — IntervalClock, CronClock, DatesClock, ScheduleEvent;
- :mod:`~headwater.schedules.filters` — the named filters (``is_weekday``, ``between_times``);
- :mod:`~headwater.schedules.adjustments` — the named adjustments (``add``, ``next_weekday``);
- :mod:`~headwater.schedules.schedule` — Schedule, which merges, filters, adjusts, de-duplicates;
- :mod:`~headwater.schedules.runner` — ``run_on_schedule``, the wait-run loop.

The names below load on first use, so ``import headwater.schedules`` (and a ``headwater`` that
imports it) stays light: pydantic and croniter load only when a schedule is built. Nothing
here imports dask or distributed.

>>> from datetime import datetime, time, timezone
>>> from headwater import schedules
>>> from headwater.schedules import filters
>>> office_hours = schedules.Schedule(
...     [schedules.CronClock("0 * * * *")],
...     filters=[filters.is_weekday, filters.between_times(time(9), time(17))],
... )
>>> [e.start_time.hour for e in office_hours.next(3, after=datetime(2024, 1, 5, 15, 30,
...                                                                  tzinfo=timezone.utc))]
[16, 17, 9]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.errors import ScheduleError
    from headwater.schedules import adjustments, filters
    from headwater.schedules.clocks import (
        Clock,
        CronClock,
        DatesClock,
        IntervalClock,
        ScheduleEvent,
    )
    from headwater.schedules.runner import run_on_schedule
    from headwater.schedules.schedule import Schedule

__all__ = [
    "Clock",
    "CronClock",
    "DatesClock",
    "IntervalClock",
    "Schedule",
    "ScheduleError",
    "ScheduleEvent",
    "adjustments",
    "filters",
    "run_on_schedule",
]

_HOMES = {
    "Clock": "headwater.schedules.clocks",
    "CronClock": "headwater.schedules.clocks",
    "DatesClock": "headwater.schedules.clocks",
    "IntervalClock": "headwater.schedules.clocks",
    "Schedule": "headwater.schedules.schedule",
    "ScheduleError": "headwater.errors",
    "ScheduleEvent": "headwater.schedules.clocks",
    "run_on_schedule": "headwater.schedules.runner",
}


def __getattr__(name: str) -> Any:
    if name in ("adjustments", "filters"):
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
