"""Clocks alone: their times, start and end dates, DST rules, parameter defaults, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headwater.errors import ScheduleError
from headwater.schedules import Clock, CronClock, DatesClock, IntervalClock, ScheduleEvent

NY = ZoneInfo("America/New_York")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def take(clock: Clock, n: int, after: datetime) -> list[str]:
    return [t.isoformat() for t in islice(clock.times(after), n)]


# --- IntervalClock -------------------------------------------------------------------------


def test_interval_clock_counts_from_start_date_which_is_included() -> None:
    clock = IntervalClock(timedelta(minutes=20), start_date=datetime(2024, 1, 1, 9, 10, tzinfo=UTC))
    assert take(clock, 3, T0) == [
        "2024-01-01T09:10:00+00:00",
        "2024-01-01T09:30:00+00:00",
        "2024-01-01T09:50:00+00:00",
    ]
    # strictly after: an `after` on a clock time skips it
    assert take(clock, 1, datetime(2024, 1, 1, 9, 30, tzinfo=UTC)) == ["2024-01-01T09:50:00+00:00"]


def test_interval_clock_default_start_is_2019_utc() -> None:
    clock = IntervalClock(timedelta(hours=7))
    assert clock.start_date == datetime(2019, 1, 1, tzinfo=UTC)
    first = next(clock.times(T0))
    assert (first - clock.start_date) % timedelta(hours=7) == timedelta(0)


def test_interval_clock_jumps_far_ahead_without_walking() -> None:
    clock = IntervalClock(timedelta(seconds=1), start_date=datetime(2000, 1, 1, tzinfo=UTC))
    assert take(clock, 1, datetime(2030, 1, 1, tzinfo=UTC)) == ["2030-01-01T00:00:01+00:00"]


def test_interval_clock_end_date_is_included_and_ends_the_clock() -> None:
    clock = IntervalClock(
        timedelta(hours=1), start_date=T0, end_date=datetime(2024, 1, 1, 2, tzinfo=UTC)
    )
    assert take(clock, 10, T0 - timedelta(seconds=1)) == [
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T01:00:00+00:00",
        "2024-01-01T02:00:00+00:00",
    ]


def test_daily_interval_keeps_local_wall_clock_time_across_dst() -> None:
    clock = IntervalClock(timedelta(days=1), start_date=datetime(2024, 3, 8, 18, tzinfo=NY))
    assert take(clock, 4, datetime(2024, 3, 8, tzinfo=NY)) == [
        "2024-03-08T18:00:00-05:00",
        "2024-03-09T18:00:00-05:00",
        "2024-03-10T18:00:00-04:00",
        "2024-03-11T18:00:00-04:00",
    ]


def test_24_hours_is_one_calendar_day() -> None:
    # timedelta(hours=24) == timedelta(days=1): the same clock, the same rule.
    assert IntervalClock(timedelta(hours=24)) == IntervalClock(timedelta(days=1))


def test_sub_day_interval_counts_elapsed_time_across_dst() -> None:
    # Clocks go back at 02:00 EDT on 2024-11-03: an hourly clock shows 01:00 twice.
    clock = IntervalClock(timedelta(hours=1), start_date=datetime(2024, 11, 3, tzinfo=NY))
    assert take(clock, 4, datetime(2024, 11, 3, tzinfo=NY)) == [
        "2024-11-03T01:00:00-04:00",
        "2024-11-03T01:00:00-05:00",
        "2024-11-03T02:00:00-05:00",
        "2024-11-03T03:00:00-05:00",
    ]


def test_non_whole_day_interval_over_a_day_counts_elapsed_time() -> None:
    clock = IntervalClock(timedelta(hours=36), start_date=datetime(2024, 3, 9, 12, tzinfo=NY))
    # 36 elapsed hours after Saturday 12:00 EST is Monday 01:00 EDT (the night lost an hour).
    assert take(clock, 1, datetime(2024, 3, 9, 12, tzinfo=NY)) == ["2024-03-11T01:00:00-04:00"]


def test_daily_interval_at_a_time_clocks_skip_fires_when_they_jump() -> None:
    clock = IntervalClock(timedelta(days=1), start_date=datetime(2024, 3, 9, 2, 30, tzinfo=NY))
    assert take(clock, 3, datetime(2024, 3, 9, tzinfo=NY)) == [
        "2024-03-09T02:30:00-05:00",
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T02:30:00-04:00",
    ]


def test_interval_clock_yields_in_its_start_dates_zone() -> None:
    clock = IntervalClock(timedelta(days=1), start_date=datetime(2024, 1, 1, 9, tzinfo=NY))
    assert next(clock.times(datetime(2024, 6, 1, tzinfo=UTC))).tzinfo is NY


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(hours=-1)])
def test_interval_must_be_positive(interval: timedelta) -> None:
    with pytest.raises(
        ScheduleError, match=r"IntervalClock was refused: interval: must be positive"
    ):
        IntervalClock(interval)


def test_interval_clock_refuses_end_before_start() -> None:
    with pytest.raises(ScheduleError, match=r"end_date .* is before start_date .*; swap them"):
        IntervalClock(timedelta(hours=1), start_date=T0, end_date=T0 - timedelta(days=1))


def test_interval_clock_refuses_naive_start_date() -> None:
    with pytest.raises(
        ScheduleError, match=r"start_date: datetime 2024-01-01T00:00:00 has no timezone"
    ):
        IntervalClock(timedelta(hours=1), start_date=datetime(2024, 1, 1))


def test_interval_clock_refuses_a_non_timedelta() -> None:
    with pytest.raises(ScheduleError, match=r"interval: Input should be a valid timedelta"):
        IntervalClock("often")  # type: ignore[arg-type]


# --- CronClock -----------------------------------------------------------------------------


def test_cron_clock_without_start_date_reads_utc() -> None:
    clock = CronClock("0 9 * * *")
    assert take(clock, 2, datetime(2024, 1, 1, 12, tzinfo=NY)) == [
        "2024-01-02T09:00:00+00:00",
        "2024-01-03T09:00:00+00:00",
    ]


def test_cron_clock_includes_its_start_date_and_stops_at_end_date() -> None:
    clock = CronClock(
        "0 * * * *",
        start_date=datetime(2024, 1, 1, 5, tzinfo=UTC),
        end_date=datetime(2024, 1, 1, 7, tzinfo=UTC),
    )
    assert take(clock, 10, T0) == [
        "2024-01-01T05:00:00+00:00",
        "2024-01-01T06:00:00+00:00",
        "2024-01-01T07:00:00+00:00",
    ]


def test_cron_time_repeated_when_clocks_go_back_fires_once() -> None:
    clock = CronClock("30 1 * * *", start_date=datetime(2024, 11, 1, tzinfo=NY))
    assert take(clock, 3, datetime(2024, 11, 2, 12, tzinfo=NY)) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
        "2024-11-05T01:30:00-05:00",
    ]


def test_hourly_cron_pauses_two_hours_when_clocks_go_back() -> None:
    clock = CronClock("30 * * * *", start_date=datetime(2024, 11, 1, tzinfo=NY))
    assert take(clock, 3, datetime(2024, 11, 3, 1, tzinfo=NY)) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T02:30:00-05:00",
        "2024-11-03T03:30:00-05:00",
    ]


def test_cron_after_inside_the_repeated_hour() -> None:
    # `after` is 01:15 EST, the second 01:15; 01:30 first happened (EDT) before it.
    after = datetime(2024, 11, 3, 1, 15, tzinfo=NY, fold=1)
    clock = CronClock("30 * * * *", start_date=datetime(2024, 11, 1, tzinfo=NY))
    assert take(clock, 1, after) == ["2024-11-03T02:30:00-05:00"]


def test_cron_time_skipped_when_clocks_go_forward_fires_at_the_jump() -> None:
    clock = CronClock("30 2 * * *", start_date=datetime(2024, 3, 1, tzinfo=NY))
    assert take(clock, 3, datetime(2024, 3, 9, 12, tzinfo=NY)) == [
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T02:30:00-04:00",
        "2024-03-12T02:30:00-04:00",
    ]


def test_cron_times_skipped_together_fire_once() -> None:
    clock = CronClock("*/30 * * * *", start_date=datetime(2024, 3, 1, tzinfo=NY))
    assert take(clock, 4, datetime(2024, 3, 10, 1, tzinfo=NY)) == [
        "2024-03-10T01:30:00-05:00",
        "2024-03-10T03:00:00-04:00",  # 02:00, 02:30 and 03:00 are all the jump
        "2024-03-10T03:30:00-04:00",
        "2024-03-10T04:00:00-04:00",
    ]


def test_cron_clock_day_or() -> None:
    # the 13th, or a Friday (classic cron) / a Friday the 13th
    either = CronClock("0 0 13 * 5", start_date=T0)
    both = CronClock("0 0 13 * 5", start_date=T0, day_or=False)
    assert take(either, 3, T0) == [
        "2024-01-05T00:00:00+00:00",
        "2024-01-12T00:00:00+00:00",
        "2024-01-13T00:00:00+00:00",
    ]
    assert take(both, 2, T0) == ["2024-09-13T00:00:00+00:00", "2024-12-13T00:00:00+00:00"]


def test_cron_with_seconds_field() -> None:
    clock = CronClock("* * * * * 15", start_date=T0)
    assert take(clock, 2, T0) == ["2024-01-01T00:00:15+00:00", "2024-01-01T00:01:15+00:00"]


def test_cron_clock_with_a_year_field_ends() -> None:
    clock = CronClock("0 0 1 1 * 0 2025", start_date=T0)
    assert take(clock, 5, T0) == ["2025-01-01T00:00:00+00:00"]


def test_cron_clock_refuses_an_invalid_expression() -> None:
    with pytest.raises(
        ScheduleError,
        match=r"cron 'every day' is not a valid cron expression .*e\.g\. '0 18 \* \* 1-5'",
    ):
        CronClock("every day")


def test_cron_clock_refuses_an_out_of_range_field() -> None:
    with pytest.raises(
        ScheduleError, match=r"cron '61 \* \* \* \*' is not a valid cron expression"
    ):
        CronClock("61 * * * *")


def test_cron_clock_refuses_an_expression_that_never_matches() -> None:
    with pytest.raises(ScheduleError, match=r"cron '0 0 31 2 \*' never matches a date"):
        CronClock("0 0 31 2 *")


def test_cron_clock_refuses_end_before_start() -> None:
    with pytest.raises(ScheduleError, match=r"end_date .* is before start_date"):
        CronClock("0 * * * *", start_date=T0, end_date=T0 - timedelta(hours=1))


def test_cron_clock_refuses_naive_end_date() -> None:
    with pytest.raises(ScheduleError, match=r"end_date: datetime .* has no timezone"):
        CronClock("0 * * * *", end_date=datetime(2024, 1, 1))


# --- DatesClock ----------------------------------------------------------------------------


def test_dates_clock_sorts_and_deduplicates_instants() -> None:
    noon_utc = datetime(2024, 1, 2, 12, tzinfo=UTC)
    clock = DatesClock([noon_utc, T0, noon_utc.astimezone(NY)])
    assert take(clock, 5, T0 - timedelta(days=1)) == [
        "2024-01-01T00:00:00+00:00",
        "2024-01-02T12:00:00+00:00",
    ]
    assert take(clock, 5, T0) == ["2024-01-02T12:00:00+00:00"]


def test_dates_clock_needs_a_date() -> None:
    with pytest.raises(ScheduleError, match=r"dates: needs at least one date"):
        DatesClock([])


def test_dates_clock_refuses_naive_dates() -> None:
    with pytest.raises(
        ScheduleError, match=r"dates\.1: datetime 2024-01-01T00:00:00 has no timezone"
    ):
        DatesClock([T0, datetime(2024, 1, 1)])


# --- parameter defaults and events ---------------------------------------------------------


def test_events_carry_a_copy_of_the_parameter_defaults() -> None:
    clock = DatesClock([T0], parameter_defaults={"region": "eu", "sizes": [1, 2]})
    (event,) = clock.events(after=T0 - timedelta(days=1))
    assert event == ScheduleEvent(T0, {"region": "eu", "sizes": [1, 2]})
    event.parameter_defaults["sizes"].append(3)
    assert clock.parameter_defaults == {"region": "eu", "sizes": [1, 2]}


def test_events_default_to_after_now() -> None:
    clock = IntervalClock(timedelta(hours=1))
    first = next(clock.events())
    assert datetime.now(UTC) < first.start_time <= datetime.now(UTC) + timedelta(hours=1)


def test_events_refuse_a_naive_after() -> None:
    with pytest.raises(ScheduleError, match=r"after 2024-01-01T00:00:00 has no timezone"):
        next(IntervalClock(timedelta(hours=1)).events(after=datetime(2024, 1, 1)))


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        (
            {"when": T0},
            r"parameter_defaults\['when'\] is a datetime, which JSON would not give back",
        ),
        ({"xs": [1, {2}]}, r"parameter_defaults\['xs'\]\[1\] is a set"),
        ({"m": {1: "a"}}, r"parameter_defaults\['m'\] has the key 1; JSON keys must be strings"),
    ],
)
def test_parameter_defaults_must_be_json_values(defaults: dict, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        IntervalClock(timedelta(hours=1), parameter_defaults=defaults)


def test_clocks_are_frozen() -> None:
    clock = IntervalClock(timedelta(hours=1))
    with pytest.raises(ValueError, match="frozen"):
        clock.interval = timedelta(hours=2)


class _Fixed(tzinfo):
    """A tzinfo that is neither ZoneInfo nor datetime.timezone, like pytz's and dateutil's."""

    def __init__(self, hours: int, name: str) -> None:
        self.offset, self.name = timedelta(hours=hours), name

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.offset

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self.name


class _PytzLike(_Fixed):
    zone = "Europe/Berlin"


def test_pytz_style_zones_are_converted_by_name() -> None:
    start = datetime(2024, 7, 1, 12, tzinfo=_PytzLike(2, "CEST"))
    clock = IntervalClock(timedelta(days=1), start_date=start)
    assert clock.start_date.tzinfo is ZoneInfo("Europe/Berlin")
    assert clock.start_date == start


def test_other_utc_zones_become_utc() -> None:
    clock = IntervalClock(
        timedelta(days=1), start_date=datetime(2024, 1, 1, tzinfo=_Fixed(0, "UTC"))
    )
    assert clock.start_date.tzinfo is UTC


def test_zones_without_a_name_are_refused() -> None:
    with pytest.raises(
        ScheduleError, match=r"uses a _Fixed timezone, which cannot be written to JSON by name"
    ):
        IntervalClock(timedelta(days=1), start_date=datetime(2024, 1, 1, tzinfo=_Fixed(1, "X")))


def test_zoneinfo_from_a_file_is_refused() -> None:
    import zoneinfo

    files = [p / "Europe" / "Paris" for p in map(Path, zoneinfo.TZPATH)]
    files = [f for f in files if f.exists()]
    if not files:
        pytest.skip("no tz database files on this system")
    with open(files[0], "rb") as f:
        zone = ZoneInfo.from_file(f)
    with pytest.raises(ScheduleError, match=r"ZoneInfo loaded from a file, which has no name"):
        IntervalClock(timedelta(days=1), start_date=datetime(2024, 1, 1, tzinfo=zone))
