"""JSON: schedules, clocks, filters and adjustments round-trip by name, zones by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from headwater.errors import ScheduleError
from headwater.schedules import CronClock, DatesClock, IntervalClock, Schedule, adjustments, filters

NY = ZoneInfo("America/New_York")

EVERYTHING = Schedule(
    [
        CronClock("0 18 * * 1-5", start_date=datetime(2024, 1, 1, tzinfo=NY), day_or=False),
        IntervalClock(
            timedelta(hours=7),
            start_date=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            end_date=datetime(2030, 1, 1, tzinfo=UTC),
            parameter_defaults={"x": [1, 2.5, None, True, {"y": "z"}]},
        ),
        DatesClock([datetime(2024, 11, 3, 1, 30, tzinfo=NY, fold=1)], parameter_defaults={"n": 1}),
    ],
    filters=[
        filters.between_times(time(9), time(17, 30)),
        filters.between_dates(12, 15, 1, 15),
        filters.between_datetimes(
            datetime(2024, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=NY)
        ),
        filters.on_datetime(datetime(2024, 6, 1, tzinfo=UTC)),
        filters.on_date(2, 29),
        filters.at_time(time(18, 0, 0, 5)),
    ],
    or_filters=[filters.is_weekday, filters.is_weekend, filters.is_month_start],
    not_filters=[filters.is_month_end],
    adjustments=[
        adjustments.add(timedelta(days=1, minutes=-1)),
        adjustments.next_weekday,
        adjustments.previous_weekday,
    ],
)


def test_every_kind_round_trips() -> None:
    text = EVERYTHING.model_dump_json()
    again = Schedule.model_validate_json(text)
    assert again == EVERYTHING
    assert again.model_dump_json() == text


def test_filters_and_adjustments_are_written_by_name_and_arguments() -> None:
    data = json.loads(EVERYTHING.model_dump_json())
    assert data["filters"][0] == {"name": "between_times", "start": "09:00:00", "end": "17:30:00"}
    assert data["or_filters"][0] == {"name": "is_weekday"}
    assert data["adjustments"][0] == {"name": "add", "interval": "PT23H59M"}
    assert data["adjustments"][1] == {"name": "next_weekday"}


def test_named_zones_are_written_by_name_fixed_offsets_as_offsets() -> None:
    data = json.loads(EVERYTHING.model_dump_json())
    assert data["clocks"][0]["start_date"] == "2024-01-01T00:00:00-05:00[America/New_York]"
    assert data["clocks"][1]["start_date"] == "2024-01-01T00:00:00+05:30"
    assert data["clocks"][1]["end_date"] == "2030-01-01T00:00:00+00:00"


def test_the_second_of_two_equal_wall_times_survives() -> None:
    data = json.loads(EVERYTHING.model_dump_json())
    assert data["clocks"][2]["dates"] == ["2024-11-03T01:30:00-05:00[America/New_York]"]
    again = Schedule.model_validate_json(EVERYTHING.model_dump_json())
    (clock,) = [c for c in again.clocks if isinstance(c, DatesClock)]
    assert clock.dates[0].fold == 1 and clock.dates[0].utcoffset() == timedelta(hours=-5)


def test_json_written_by_hand_is_read() -> None:
    text = json.dumps(
        {
            "clocks": [{"type": "cron", "cron": "0 * * * *", "start_date": "2024-01-01T00:00:00Z"}],
            "filters": [
                {"name": "between_times", "start": "09:00", "end": "17:00"},
                {"name": "is_weekday"},
            ],
        }
    )
    schedule = Schedule.model_validate_json(text)
    assert schedule == Schedule(
        [CronClock("0 * * * *", start_date=datetime(2024, 1, 1, tzinfo=UTC))],
        filters=[filters.between_times(time(9), time(17)), filters.is_weekday],
    )


def test_model_validate_reads_python_dicts_too() -> None:
    data = EVERYTHING.model_dump(mode="json")
    assert Schedule.model_validate(data) == EVERYTHING


def test_round_trip_preserves_next() -> None:
    schedule = Schedule(
        [CronClock("30 1 * * *", start_date=datetime(2024, 10, 1, tzinfo=NY))],
        adjustments=[adjustments.next_weekday],
    )
    again = Schedule.model_validate_json(schedule.model_dump_json())
    after = datetime(2024, 10, 30, tzinfo=NY)
    assert again.next(10, after=after) == schedule.next(10, after=after)


def test_clocks_round_trip_alone() -> None:
    clock = IntervalClock(timedelta(days=1), start_date=datetime(2024, 1, 1, 9, tzinfo=NY))
    assert IntervalClock.model_validate_json(clock.model_dump_json()) == clock


# --- refused JSON ------------------------------------------------------------------------------

KNOWN_FILTERS = (
    "at_time, between_dates, between_datetimes, between_times, is_month_end, is_month_start, "
    "is_weekday, is_weekend, on_date, on_datetime"
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"clocks": [{"type": "hourly"}]},
            r"Schedule was refused: clocks\.0: unknown clock 'hourly'; known clocks: cron, dates, interval",
        ),
        (
            {"clocks": [{"cron": "0 * * * *"}]},
            r"clocks\.0: a clock needs a 'type' field; known clocks: cron, dates, interval",
        ),
        (
            {
                "clocks": [{"type": "cron", "cron": "0 * * * *"}],
                "filters": [{"name": "is_holiday"}],
            },
            rf"filters\.0: unknown filter 'is_holiday'; known filters: {KNOWN_FILTERS}",
        ),
        (
            {
                "clocks": [{"type": "cron", "cron": "0 * * * *"}],
                "adjustments": [{"name": "nearest_weekday"}],
            },
            r"adjustments\.0: unknown adjustment 'nearest_weekday'; known adjustments: add, next_weekday, previous_weekday",
        ),
        (
            {"clocks": [{"type": "cron", "cron": "0 * * * *"}], "filters": ["is_weekday"]},
            r"filters\.0: 'is_weekday' is not a filter",
        ),
        (
            {
                "clocks": [
                    {"type": "cron", "cron": "0 * * * *", "start_date": "2024-01-01T09:00:00"}
                ]
            },
            r"clocks\.0\.cron\.start_date: datetime 2024-01-01T09:00:00 has no timezone",
        ),
        (
            {"clocks": [{"type": "dates", "dates": ["2024-01-01T09:00:00+01:00[Mars/Olympus]"]}]},
            r"clocks\.0\.dates\.dates\.0: datetime '2024-01-01T09:00:00\+01:00\[Mars/Olympus\]' names the unknown timezone 'Mars/Olympus'",
        ),
        (
            {"clocks": [{"type": "dates", "dates": ["next tuesday[Europe/Paris]"]}]},
            r"datetime 'next tuesday\[Europe/Paris\]' is not an ISO 8601 datetime",
        ),
        (
            {"clocks": [{"type": "interval", "interval": "PT1H", "every": 2}]},
            r"clocks\.0\.interval\.every: Extra inputs are not permitted",
        ),
        (
            {
                "clocks": [{"type": "cron", "cron": "0 * * * *"}],
                "filters": [{"name": "between_times", "start": "09:00"}],
            },
            r"filters\.0\.between_times\.end: Field required",
        ),
    ],
)
def test_refused_json_says_why(data: dict, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.model_validate_json(json.dumps(data))


def test_malformed_json_is_refused() -> None:
    with pytest.raises(ScheduleError, match=r"Schedule was refused: Invalid JSON"):
        Schedule.model_validate_json("{")


def test_the_offset_decides_the_instant_the_name_the_zone() -> None:
    text = json.dumps({"type": "dates", "dates": ["2024-07-01T12:00:00+00:00[Europe/Berlin]"]})
    (when,) = DatesClock.model_validate_json(text).dates
    assert when.isoformat() == "2024-07-01T14:00:00+02:00"
