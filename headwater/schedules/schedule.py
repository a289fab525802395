"""Schedule: clocks emit candidate times, filters drop some, adjustments move the rest (PIN-10).

Design note
-----------
The events of a schedule form a set defined without reference to any query:

    events = { adjust(c) : c a time of some clock, and c passes the filters }

where "passes" means every ``filters`` entry passes, at least one ``or_filters`` entry passes
(when there are any), and no ``not_filters`` entry passes; ``adjust`` applies the
``adjustments`` in order. Events with the same instant and equal parameter defaults are one
event; the same instant with different parameter defaults (two clocks) stays two, in clock
order. :meth:`Schedule.next` returns the first ``n`` events strictly after ``after``, in time
order, so ``next`` is consistent with itself: the events after the k-th event are the rest.

Computing it. The clocks' times are merged in time order (``heapq.merge``). Adjustments may
reorder candidates (``next_weekday`` moves Saturday 18:00 past Sunday 09:00), but each knows
the least (``lo``) and most (``hi``) it moves an instant. So candidates are read from
``after - hi`` on, and a moved event is released once the candidate stream has passed the
point ``event - lo``, after which nothing can land before it. Without adjustments this is a
plain merge with no look-back.

Listeners. A schedule may also hold listeners (PIN-14: event-driven runs beside timed ones);
they start runs when ``flow.run(run_on_schedule=True)`` runs the schedule, but they are live
objects (threads, sockets, a queue), not data: ``next`` and ``events`` see only the clocks, and
a schedule with listeners refuses to be written to JSON rather than lose them silently
(docs/notices/0014-listeners.md). Drop them first: ``schedule.model_copy(update={"listeners":
()})``.

Guard. A filter combination that never passes (``is_weekday`` and ``is_weekend``) would loop
forever; after :data:`MAX_CANDIDATES` candidates in a row fail the filters, the schedule raises
:class:`~headwater.errors.ScheduleError` naming itself. A clock that ends simply ends the
schedule: ``next(n)`` then returns fewer than ``n`` events.

>>> from datetime import datetime, timezone
>>> from headwater.schedules import CronClock, filters
>>> weekdays_9am = Schedule([CronClock("0 9 * * *")], filters=[filters.is_weekday])
>>> friday = datetime(2024, 1, 5, 12, tzinfo=timezone.utc)
>>> [e.start_time.isoformat() for e in weekdays_9am.next(2, after=friday)]
['2024-01-08T09:00:00+00:00', '2024-01-09T09:00:00+00:00']
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from headwater.errors import ScheduleError
from headwater.schedules._common import Spec, python_init, spec_repr, utc, zoned
from headwater.schedules.adjustments import Adjustment, AdjustmentSpec
from headwater.schedules.clocks import Clock, ClockSpec, ScheduleEvent, now_utc
from headwater.schedules.filters import Filter, FilterSpec

__all__ = ["MAX_CANDIDATES", "Schedule", "check_schedule"]

MAX_CANDIDATES = 10_000
"""How many candidates in a row may fail the filters before a schedule gives up."""

_Candidate = tuple[datetime, int, datetime]  # (instant in UTC, clock index, local time)


def _candidates(clock: Clock, index: int, after: datetime) -> Iterator[_Candidate]:
    for t in clock.times(after):
        yield utc(t), index, t


class Schedule(Spec):
    """When a flow runs: clocks emit candidate times, filters drop some, adjustments move the
    rest; listeners start runs for events as they arrive.

    Args:
        clocks: where candidate times come from.
        filters: every one must pass.
        or_filters: if given, at least one must pass.
        not_filters: none may pass.
        adjustments: applied in order to each candidate that passed the filters.
        listeners: listeners from headwater.listeners; they run the flow for their events too
            when it runs on this schedule (not written to JSON: see the module's note).

    Raises:
        ScheduleError: neither a clock nor a listener, or an entry that is not a clock,
            filter, adjustment or listener.
    """

    clocks: tuple[ClockSpec, ...] = ()
    filters: tuple[FilterSpec, ...] = ()
    or_filters: tuple[FilterSpec, ...] = ()
    not_filters: tuple[FilterSpec, ...] = ()
    adjustments: tuple[AdjustmentSpec, ...] = ()
    listeners: tuple[Any, ...] = Field(default=(), exclude=True)

    @python_init
    def __init__(
        self,
        clocks: Sequence[Clock] = (),
        *,
        filters: Sequence[Filter] = (),
        or_filters: Sequence[Filter] = (),
        not_filters: Sequence[Filter] = (),
        adjustments: Sequence[Adjustment] = (),
        listeners: Sequence[Any] = (),
    ) -> None:
        super().__init__(
            clocks=clocks,
            filters=filters,
            or_filters=or_filters,
            not_filters=not_filters,
            adjustments=adjustments,
            listeners=listeners,
        )

    @field_validator(
        "clocks", "filters", "or_filters", "not_filters", "adjustments", "listeners", mode="before"
    )
    @classmethod
    def _check_lists(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, Spec | str | dict) or not isinstance(value, Sequence):
            raise ValueError(f"must be a list, e.g. {info.field_name}=[...], got {value!r}")
        return value

    @field_validator("listeners")
    @classmethod
    def _check_listeners(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        from headwater.listeners.base import Listener

        for item in value:
            if isinstance(item, dict):
                raise ValueError(
                    "listeners are live objects and are not read from JSON; add them in "
                    "Python: Schedule(clocks, ..., listeners=[FolderListener(...)])"
                )
            if not isinstance(item, Listener):
                raise ValueError(
                    f"{item!r} is not a listener; use one from headwater.listeners "
                    f"(FolderListener, WebhookListener, QueueListener, IterableListener)"
                )
        return value

    @model_validator(mode="after")
    def _check_sources(self) -> Schedule:
        if not self.clocks and not self.listeners:
            raise ValueError(
                "clocks: a schedule needs at least one clock, e.g. [CronClock('0 9 * * *')], "
                "or a listener"
            )
        return self

    def model_dump(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The schedule as plain data (its clocks, filters and adjustments).

        Raises:
            ScheduleError: the schedule has listeners, which are not data.
        """
        self._refuse_listeners()
        return super().model_dump(*args, **kwargs)

    def model_dump_json(self, *args: Any, **kwargs: Any) -> str:
        """The schedule as JSON (its clocks, filters and adjustments).

        Raises:
            ScheduleError: the schedule has listeners, which are not data.
        """
        self._refuse_listeners()
        return super().model_dump_json(*args, **kwargs)

    def _refuse_listeners(self) -> None:
        if self.listeners:
            raise ScheduleError(
                f"A schedule with listeners cannot be written as data: listeners are live "
                f"objects (threads, sockets, queues) that JSON cannot hold, and dropping them "
                f"silently would make a schedule that no longer listens. Write the timed part "
                f"alone: schedule.model_copy(update={{'listeners': ()}}).model_dump_json(); "
                f"listeners: {list(self.listeners)!r}"
            )

    def passes(self, dt: datetime) -> bool:
        """Tell whether a candidate time passes this schedule's filters.

        Args:
            dt: an aware candidate time, in its clock's timezone.
        """
        return (
            all(f(dt) for f in self.filters)
            and (not self.or_filters or any(f(dt) for f in self.or_filters))
            and not any(f(dt) for f in self.not_filters)
        )

    def adjust(self, dt: datetime) -> datetime:
        """Apply the adjustments, in order, to a candidate that passed the filters.

        Args:
            dt: an aware time.
        """
        for adjustment in self.adjustments:
            dt = adjustment(dt)
        return dt

    def events(self, after: datetime | None = None) -> Iterator[ScheduleEvent]:
        """Yield the events strictly after ``after`` (default: now), in time order.

        Args:
            after: an aware datetime.

        Raises:
            ScheduleError: ``after`` is naive, or the filters failed MAX_CANDIDATES candidates
                in a row.
        """
        after = now_utc() if after is None else zoned(after, "after")
        after_utc = utc(after)
        lo = sum((a.bounds()[0] for a in self.adjustments), timedelta(0))
        hi = sum((a.bounds()[1] for a in self.adjustments), timedelta(0))
        streams = [_candidates(c, i, after_utc - hi) for i, c in enumerate(self.clocks)]
        # Moved events wait here until no later candidate can land before them.
        pending: list[tuple[datetime, int, int, datetime]] = []
        order = itertools.count()
        seen_at: datetime | None = None
        seen_params: list[dict[str, Any]] = []
        rejected = 0

        def release(frontier: datetime | None) -> Iterator[ScheduleEvent]:
            nonlocal seen_at, seen_params
            while pending and (frontier is None or pending[0][0] < frontier):
                instant, index, _, moved = heapq.heappop(pending)
                params = self.clocks[index].parameter_defaults
                if instant <= after_utc or (instant == seen_at and params in seen_params):
                    continue
                if instant != seen_at:
                    seen_at, seen_params = instant, []
                seen_params.append(params)
                yield ScheduleEvent(moved, copy.deepcopy(params))

        for instant, index, t in heapq.merge(*streams):
            if self.passes(t):
                rejected = 0
                moved = self.adjust(t)
                heapq.heappush(pending, (utc(moved), index, next(order), moved))
            else:
                rejected += 1
                if rejected >= MAX_CANDIDATES:
                    raise ScheduleError(
                        f"{self!r} found no event: {MAX_CANDIDATES:,} candidates in a row, up "
                        f"to {t.isoformat()}, failed its filters. The filters may never pass "
                        f"together (e.g. is_weekday with is_weekend); fix them, or use a clock "
                        f"whose times fail them less often."
                    )
            try:
                frontier: datetime | None = instant + lo
            except OverflowError:
                frontier = None  # near year 9999: nothing can come later
            yield from release(frontier)
        yield from release(None)

    def next(self, n: int, after: datetime | None = None) -> list[ScheduleEvent]:
        """Return the next ``n`` events strictly after ``after`` (default: now), in time order.

        Fewer than ``n`` when the clocks end first.

        Args:
            n: how many events, 0 or more.
            after: an aware datetime.

        Raises:
            ScheduleError: ``n`` is negative or not an int, ``after`` is naive, or the filters
                failed MAX_CANDIDATES candidates in a row.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ScheduleError(f"next(n) needs n to be an int, 0 or more; got {n!r}.")
        return list(itertools.islice(self.events(after), n))

    def __repr__(self) -> str:
        return spec_repr(self, ("clocks",))


def check_schedule(schedule: Any, flow_name: str) -> Any:
    """Return ``schedule`` if it is None or a :class:`~headwater.schedules.Schedule`.

    Args:
        schedule: the value given as a flow's schedule.
        flow_name: the flow's name, for the message.

    Raises:
        TypeError: for anything else, saying how to make a Schedule of it.
    """
    if schedule is None:
        return None
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, Clock):
        hint = f"wrap the clock in a Schedule: schedule=Schedule([{schedule!r}])"
    elif isinstance(schedule, str):
        hint = f"for a cron line use schedule=Schedule([CronClock({schedule!r})])"
    else:
        hint = "build one with headwater.schedules.Schedule([IntervalClock(...) or CronClock(...)])"
    shown = repr(schedule)
    if not shown.startswith(type(schedule).__name__):
        shown = f"{type(schedule).__name__} {shown}"
    raise TypeError(
        f"Flow {flow_name!r}: schedule must be a headwater.schedules.Schedule or None, got "
        f"{shown}; {hint}."
    )
