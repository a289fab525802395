"""Named schedules from issue 8, with every expected date written out."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from headwater.schedules import CronClock, IntervalClock, Schedule, adjustments, filters

NY = ZoneInfo("America/New_York")


def iso(schedule: Schedule, n: int, after: datetime) -> list[str]:
    return [e.start_time.isoformat() for e in schedule.next(n, after=after)]


def dates(schedule: Schedule, n: int, after: datetime) -> list[str]:
    return [e.start_time.date().isoformat() for e in schedule.next(n, after=after)]


# --- every business day at 18:00 New York time, across both DST changes of 2024 ------------

BUSINESS_DAYS_CRON = Schedule(
    [CronClock("0 18 * * 1-5", start_date=datetime(2024, 1, 1, tzinfo=NY))]
)
BUSINESS_DAYS_INTERVAL = Schedule(
    [IntervalClock(timedelta(days=1), start_date=datetime(2024, 1, 1, 18, tzinfo=NY))],
    filters=[filters.is_weekday],
)


def test_business_days_at_18_across_march_dst() -> None:
    # Clocks go forward on Sunday 2024-03-10: 18:00 stays 18:00, UTC moves from 23:00 to 22:00.
    expected = [
        "2024-03-07T18:00:00-05:00",
        "2024-03-08T18:00:00-05:00",
        "2024-03-11T18:00:00-04:00",
        "2024-03-12T18:00:00-04:00",
    ]
    after = datetime(2024, 3, 7, 12, tzinfo=NY)
    assert iso(BUSINESS_DAYS_CRON, 4, after) == expected
    assert iso(BUSINESS_DAYS_INTERVAL, 4, after) == expected


def test_business_days_at_18_across_november_dst() -> None:
    # Clocks go back on Sunday 2024-11-03.
    expected = [
        "2024-10-31T18:00:00-04:00",
        "2024-11-01T18:00:00-04:00",
        "2024-11-04T18:00:00-05:00",
        "2024-11-05T18:00:00-05:00",
    ]
    after = datetime(2024, 10, 31, 12, tzinfo=NY)
    assert iso(BUSINESS_DAYS_CRON, 4, after) == expected
    assert iso(BUSINESS_DAYS_INTERVAL, 4, after) == expected


# --- the last weekday on or before the 14th (before the 15th) of each month ---------------


def test_last_weekday_before_the_15th() -> None:
    schedule = Schedule(
        [CronClock("0 9 14 * *", start_date=datetime(2024, 1, 1, tzinfo=NY))],
        adjustments=[adjustments.previous_weekday],
    )
    assert dates(schedule, 12, datetime(2024, 1, 1, tzinfo=NY)) == [
        "2024-01-12",  # the 14th is a Sunday
        "2024-02-14",
        "2024-03-14",
        "2024-04-12",  # Sunday
        "2024-05-14",
        "2024-06-14",
        "2024-07-12",  # Sunday
        "2024-08-14",
        "2024-09-13",  # Saturday
        "2024-10-14",
        "2024-11-14",
        "2024-12-13",  # Saturday
    ]
    assert all(e.start_time.time() == time(9) for e in schedule.next(12))


# --- hourly from 09:00 to 17:00 on weekdays, both ends included ----------------------------


def test_hourly_between_9_and_17_on_weekdays() -> None:
    schedule = Schedule(
        [IntervalClock(timedelta(hours=1), start_date=datetime(2024, 1, 1, tzinfo=NY))],
        filters=[filters.is_weekday, filters.between_times(time(9), time(17))],
    )
    friday = [f"2024-01-05T{h:02d}:00:00-05:00" for h in range(9, 18)]
    monday = [f"2024-01-08T{h:02d}:00:00-05:00" for h in range(9, 18)]
    tuesday = ["2024-01-09T09:00:00-05:00", "2024-01-09T10:00:00-05:00"]
    assert iso(schedule, 20, datetime(2024, 1, 5, tzinfo=NY)) == friday + monday + tuesday


# --- the first weekday at least 5 days after the end of the month --------------------------


def test_first_weekday_at_least_5_days_after_month_end() -> None:
    schedule = Schedule(
        [CronClock("0 9 5 * *", start_date=datetime(2024, 1, 1, tzinfo=NY))],
        adjustments=[adjustments.next_weekday],
    )
    assert dates(schedule, 12, datetime(2024, 1, 1, tzinfo=NY)) == [
        "2024-01-05",
        "2024-02-05",
        "2024-03-05",
        "2024-04-05",
        "2024-05-06",  # the 5th is a Sunday
        "2024-06-05",
        "2024-07-05",
        "2024-08-05",
        "2024-09-05",
        "2024-10-07",  # Saturday
        "2024-11-05",
        "2024-12-05",
    ]


def test_hourly_between_9_and_17_on_weekdays_across_march_dst() -> None:
    # An hourly *interval* clock counts elapsed time; on the hour before the change, on the
    # hour after it, so office hours stay 09:00-17:00 on the wall clock.
    schedule = Schedule(
        [IntervalClock(timedelta(hours=1), start_date=datetime(2024, 1, 1, tzinfo=NY))],
        filters=[filters.is_weekday, filters.between_times(time(9), time(17))],
    )
    friday = [f"2024-03-08T{h:02d}:00:00-05:00" for h in range(9, 18)]
    monday = [f"2024-03-11T{h:02d}:00:00-04:00" for h in range(9, 18)]
    assert iso(schedule, 18, datetime(2024, 3, 8, tzinfo=NY)) == friday + monday


def test_the_named_examples_survive_json() -> None:
    named = [
        BUSINESS_DAYS_CRON,
        BUSINESS_DAYS_INTERVAL,
        Schedule(
            [CronClock("0 9 14 * *", start_date=datetime(2024, 1, 1, tzinfo=NY))],
            adjustments=[adjustments.previous_weekday],
        ),
        Schedule(
            [IntervalClock(timedelta(hours=1), start_date=datetime(2024, 1, 1, tzinfo=NY))],
            filters=[filters.is_weekday, filters.between_times(time(9), time(17))],
        ),
    ]
    after = datetime(2024, 3, 1, tzinfo=NY)
    for schedule in named:
        again = Schedule.model_validate_json(schedule.model_dump_json())
        assert iso(again, 40, after) == iso(schedule, 40, after)
