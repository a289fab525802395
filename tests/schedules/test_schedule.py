"""Schedule: merging clocks, de-duplicating, filters, or_filters, not_filters, adjustments,
the guard against filters that never pass, and errors."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest

from headwater.errors import ScheduleError
from headwater.schedules import (
    CronClock,
    DatesClock,
    IntervalClock,
    Schedule,
    ScheduleEvent,
    adjustments,
    filters,
)
from headwater.schedules import schedule as schedule_module

NY = ZoneInfo("America/New_York")
T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
HOURLY = IntervalClock(timedelta(hours=1), start_date=T0)


def hours(schedule: Schedule, n: int, after: datetime = T0) -> list[str]:
    return [e.start_time.strftime("%a %d %H:%M") for e in schedule.next(n, after=after)]


def test_next_is_strictly_after() -> None:
    schedule = Schedule([HOURLY])
    assert schedule.next(1, after=T0)[0].start_time == T0 + timedelta(hours=1)


def test_next_defaults_to_after_now() -> None:
    (event,) = Schedule([HOURLY]).next(1)
    assert datetime.now(UTC) < event.start_time <= datetime.now(UTC) + timedelta(hours=1)


def test_next_zero_events() -> None:
    assert Schedule([HOURLY]).next(0, after=T0) == []


def test_clocks_merge_in_time_order_and_duplicates_collapse() -> None:
    schedule = Schedule(
        [
            IntervalClock(timedelta(hours=3), start_date=T0),
            IntervalClock(timedelta(hours=2), start_date=T0),
        ]
    )
    assert hours(schedule, 5) == [
        "Mon 01 02:00",
        "Mon 01 03:00",
        "Mon 01 04:00",
        "Mon 01 06:00",
        "Mon 01 08:00",
    ]


def test_same_instant_in_two_zones_is_one_event() -> None:
    schedule = Schedule(
        [DatesClock([T0 + timedelta(hours=5)]), DatesClock([datetime(2024, 1, 1, tzinfo=NY)])]
    )
    (event,) = schedule.next(5, after=T0)
    assert event.start_time.tzinfo is UTC  # the first clock's


def test_same_instant_with_different_parameter_defaults_stays_two_events_in_clock_order() -> None:
    when = T0 + timedelta(hours=1)
    schedule = Schedule(
        [
            DatesClock([when], parameter_defaults={"region": "us"}),
            DatesClock([when], parameter_defaults={"region": "eu"}),
            DatesClock([when], parameter_defaults={"region": "us"}),
        ]
    )
    assert schedule.next(5, after=T0) == [
        ScheduleEvent(when, {"region": "us"}),
        ScheduleEvent(when, {"region": "eu"}),
    ]


def test_filters_must_all_pass() -> None:
    schedule = Schedule([HOURLY], filters=[filters.is_weekday, filters.at_time(time(12))])
    after = datetime(2024, 1, 5, 13, tzinfo=UTC)  # Friday afternoon
    assert hours(schedule, 2, after) == ["Mon 08 12:00", "Tue 09 12:00"]


def test_or_filters_need_one_to_pass() -> None:
    schedule = Schedule([HOURLY], or_filters=[filters.at_time(time(9)), filters.at_time(time(17))])
    assert hours(schedule, 3) == ["Mon 01 09:00", "Mon 01 17:00", "Tue 02 09:00"]


def test_not_filters_must_all_fail() -> None:
    schedule = Schedule(
        [HOURLY], not_filters=[filters.between_times(time(1), time(22)), filters.is_weekend]
    )
    after = datetime(2024, 1, 5, 12, tzinfo=UTC)
    assert hours(schedule, 4, after) == [
        "Fri 05 23:00",
        "Mon 08 00:00",
        "Mon 08 23:00",
        "Tue 09 00:00",
    ]


def test_all_three_kinds_of_filters_together() -> None:
    schedule = Schedule(
        [HOURLY],
        filters=[filters.between_times(time(8), time(18))],
        or_filters=[filters.is_month_start, filters.is_month_end],
        not_filters=[filters.is_weekend],
    )
    # 2024-03-31 is a Sunday, 2024-04-01 a Monday
    assert hours(schedule, 2, datetime(2024, 3, 29, 18, tzinfo=UTC)) == [
        "Mon 01 08:00",
        "Mon 01 09:00",
    ]


def test_passes_tells_one_time() -> None:
    schedule = Schedule([HOURLY], filters=[filters.is_weekday])
    assert schedule.passes(T0) and not schedule.passes(T0 + timedelta(days=5))


def test_adjustments_apply_after_filters_in_order() -> None:
    # weekend noons, moved to Monday, then 30 minutes later
    schedule = Schedule(
        [CronClock("0 12 * * *", start_date=T0)],
        filters=[filters.is_weekend],
        adjustments=[adjustments.next_weekday, adjustments.add(timedelta(minutes=30))],
    )
    assert hours(schedule, 2) == ["Mon 08 12:30", "Mon 15 12:30"]  # Saturday and Sunday collapse
    assert schedule.adjust(datetime(2024, 1, 6, 12, tzinfo=UTC)) == datetime(
        2024, 1, 8, 12, 30, tzinfo=UTC
    )


def test_adjusted_events_come_out_in_time_order() -> None:
    # Saturday 18:00 moves to Monday 18:00, past Sunday 09:00 moved to Monday 09:00.
    schedule = Schedule(
        [DatesClock([datetime(2024, 1, 6, 18, tzinfo=UTC), datetime(2024, 1, 7, 9, tzinfo=UTC)])],
        adjustments=[adjustments.next_weekday],
    )
    assert hours(schedule, 5) == ["Mon 08 09:00", "Mon 08 18:00"]


def test_adjusted_events_are_after_after_even_if_their_candidate_was_not() -> None:
    saturday = datetime(2024, 1, 6, 18, tzinfo=UTC)
    schedule = Schedule([DatesClock([saturday])], adjustments=[adjustments.next_weekday])
    assert hours(schedule, 1, after=saturday + timedelta(hours=1)) == ["Mon 08 18:00"]
    assert schedule.next(1, after=datetime(2024, 1, 8, 18, tzinfo=UTC)) == []


def test_adjustments_that_move_earlier() -> None:
    schedule = Schedule([HOURLY], adjustments=[adjustments.add(timedelta(minutes=-90))])
    assert hours(schedule, 2) == ["Mon 01 00:30", "Mon 01 01:30"]


def test_a_schedule_whose_clocks_end_returns_fewer_events() -> None:
    schedule = Schedule([DatesClock([T0 + timedelta(hours=1), T0 + timedelta(hours=2)])])
    assert len(schedule.next(10, after=T0)) == 2
    assert schedule.next(10, after=T0 + timedelta(hours=2)) == []


def test_events_is_the_lazy_form_of_next() -> None:
    schedule = Schedule([HOURLY], filters=[filters.is_weekend])
    events = schedule.events(after=T0)
    assert [next(events) for _ in range(3)] == schedule.next(3, after=T0)


# --- the guard ---------------------------------------------------------------------------------


def test_filters_that_never_pass_end_with_an_error_naming_the_schedule() -> None:
    schedule = Schedule([HOURLY], filters=[filters.is_weekday, filters.is_weekend])
    with pytest.raises(
        ScheduleError,
        match=(
            r"Schedule\(\[IntervalClock\(.*\)\], filters=\[is_weekday, is_weekend\]\) found no "
            r"event: 10,000 candidates in a row, up to .*, failed its filters"
        ),
    ):
        schedule.next(1, after=T0)


def test_the_guard_counts_candidates_in_a_row() -> None:
    # The first of each month at 00:00 passes: 743 failures at most in a row, then a pass.
    schedule = Schedule([HOURLY], filters=[filters.is_month_start, filters.at_time(time(0))])
    with mock.patch.object(schedule_module, "MAX_CANDIDATES", 800):
        assert len(schedule.next(13, after=T0)) == 13
    with (
        mock.patch.object(schedule_module, "MAX_CANDIDATES", 500),
        pytest.raises(ScheduleError, match="500 candidates in a row"),
    ):
        schedule.next(13, after=T0)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [-1, 1.5, "3", True])
def test_next_needs_a_count(n: object) -> None:
    with pytest.raises(ScheduleError, match=r"next\(n\) needs n to be an int, 0 or more"):
        Schedule([HOURLY]).next(n, after=T0)  # type: ignore[arg-type]


def test_next_refuses_a_naive_after() -> None:
    with pytest.raises(
        ScheduleError,
        match=r"after 2024-01-01T00:00:00 has no timezone, and schedules do not guess one",
    ):
        Schedule([HOURLY]).next(1, after=datetime(2024, 1, 1))


def test_a_schedule_needs_a_clock() -> None:
    with pytest.raises(
        ScheduleError, match=r"Schedule was refused: clocks: a schedule needs at least one clock"
    ):
        Schedule([])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clocks": HOURLY}, r"clocks: must be a list, e.g. clocks=\[\.\.\.\], got IntervalClock"),
        (
            {"clocks": [HOURLY], "filters": filters.is_weekday},
            r"filters: must be a list, e.g. filters=\[\.\.\.\], got is_weekday",
        ),
        ({"clocks": [HOURLY], "adjustments": "next_weekday"}, r"adjustments: must be a list"),
    ],
)
def test_lists_must_be_lists(kwargs: dict, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule(**kwargs)


def test_entries_must_come_from_headwater_schedules() -> None:
    with pytest.raises(
        ScheduleError,
        match=(
            r"filters\.0: <function .*> is not a filter; use one from headwater\.schedules\.filters "
            r"\(at_time, .*\), so that it can be written to JSON by name"
        ),
    ):
        Schedule([HOURLY], filters=[lambda dt: True])  # type: ignore[list-item]


def test_a_filter_factory_must_be_called() -> None:
    with pytest.raises(
        ScheduleError,
        match=r"not_filters\.0: between_times makes a filter: call it with its arguments",
    ):
        Schedule([HOURLY], not_filters=[filters.between_times])  # type: ignore[list-item]


def test_a_filter_is_not_an_adjustment() -> None:
    with pytest.raises(
        ScheduleError,
        match=r"adjustments\.0: is_weekday is not an adjustment; use one from headwater\.schedules\.adjustments \(add, next_weekday, previous_weekday\)",
    ):
        Schedule([HOURLY], adjustments=[filters.is_weekday])  # type: ignore[list-item]


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(
        ScheduleError,
        match=r"Schedule was refused, 2 problems:\n  - clocks\.0: .*\n  - filters\.0: .*",
    ):
        Schedule([lambda: 1], filters=[print])  # type: ignore[list-item]


def test_schedules_are_frozen_and_equal_by_value() -> None:
    a = Schedule([HOURLY], filters=[filters.is_weekday])
    assert a == Schedule([HOURLY], filters=[filters.is_weekday])
    with pytest.raises(ValueError, match="frozen"):
        a.filters = ()
