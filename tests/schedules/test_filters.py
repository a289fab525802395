"""Filters alone: what passes, ends of ranges, wrapping, local time, errors, names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import ScheduleError
from headwater.schedules import filters
from headwater.schedules.filters import Filter, known_filters

NY = ZoneInfo("America/New_York")


def at(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    tz: ZoneInfo | None = None,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=tz or UTC)


def test_on_datetime_compares_instants_across_zones() -> None:
    f = filters.on_datetime(at(2024, 1, 1, 17))
    assert f(at(2024, 1, 1, 12, tz=NY))
    assert not f(at(2024, 1, 1, 17, 0, 1))


def test_on_date_reads_the_local_calendar() -> None:
    f = filters.on_date(1, 1)
    assert f(at(2024, 1, 1, 23, tz=NY))  # already January 2 in UTC
    assert not f(at(2024, 1, 2))
    assert filters.on_date(2, 29)(at(2024, 2, 29))


def test_at_time_is_exact_local_time_of_day() -> None:
    f = filters.at_time(time(18))
    assert f(at(2024, 7, 1, 18, tz=NY))
    assert not f(at(2024, 7, 1, 18, 0, 1, tz=NY))


def test_between_datetimes_includes_both_ends() -> None:
    f = filters.between_datetimes(at(2024, 1, 1), at(2024, 1, 31))
    assert f(at(2024, 1, 1)) and f(at(2024, 1, 31)) and f(at(2024, 1, 15))
    assert not f(at(2023, 12, 31, 23, 59)) and not f(at(2024, 1, 31, 0, 0, 1))


def test_between_dates_includes_both_ends() -> None:
    f = filters.between_dates(3, 1, 3, 31)
    assert f(at(2024, 3, 1)) and f(at(2024, 3, 31, 23, 59))
    assert not f(at(2024, 2, 29)) and not f(at(2024, 4, 1))


def test_between_dates_wraps_over_the_new_year() -> None:
    f = filters.between_dates(12, 15, 1, 15)
    assert all(
        f(at(y, m, d)) for y, m, d in [(2024, 12, 15), (2024, 12, 31), (2025, 1, 1), (2025, 1, 15)]
    )
    assert not any(f(at(y, m, d)) for y, m, d in [(2024, 12, 14), (2025, 1, 16), (2025, 6, 1)])


def test_between_times_includes_both_ends() -> None:
    f = filters.between_times(time(9), time(17))
    assert f(at(2024, 1, 1, 9)) and f(at(2024, 1, 1, 17))
    assert not f(at(2024, 1, 1, 8, 59)) and not f(at(2024, 1, 1, 17, 0, 1))


def test_between_times_wraps_over_midnight() -> None:
    f = filters.between_times(time(22), time(2))
    assert (
        f(at(2024, 1, 1, 22))
        and f(at(2024, 1, 1, 23, 59))
        and f(at(2024, 1, 2, 0))
        and f(at(2024, 1, 2, 2))
    )
    assert (
        not f(at(2024, 1, 1, 21, 59)) and not f(at(2024, 1, 2, 2, 1)) and not f(at(2024, 1, 2, 12))
    )


def test_between_times_reads_the_local_clock() -> None:
    f = filters.between_times(time(9), time(17))
    assert f(at(2024, 7, 1, 9, tz=NY))  # 13:00 UTC
    assert not f(at(2024, 7, 1, 9, tz=NY).astimezone(ZoneInfo("Asia/Tokyo")))  # 22:00 in Tokyo


@pytest.mark.parametrize(
    ("day", "weekday"),
    [(1, True), (5, True), (6, False), (7, False), (8, True)],  # 2024-01-01 is a Monday
)
def test_is_weekday_and_is_weekend(day: int, weekday: bool) -> None:
    dt = at(2024, 1, day, 12)
    assert filters.is_weekday(dt) is weekday
    assert filters.is_weekend(dt) is not weekday


def test_weekday_is_the_local_one() -> None:
    friday_night_ny = at(2024, 1, 5, 22, tz=NY)  # already Saturday in UTC
    assert filters.is_weekday(friday_night_ny)
    assert filters.is_weekend(friday_night_ny.astimezone(UTC))


@pytest.mark.parametrize(
    ("date", "start", "end"),
    [
        ((2024, 1, 1), True, False),
        ((2024, 1, 31), False, True),
        ((2024, 2, 29), False, True),
        ((2023, 2, 28), False, True),
        ((2024, 2, 28), False, False),
        ((2024, 12, 31), False, True),
    ],
)
def test_month_start_and_end(date: tuple[int, int, int], start: bool, end: bool) -> None:
    dt = at(*date)
    assert filters.is_month_start(dt) is start
    assert filters.is_month_end(dt) is end


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
def test_is_month_end_means_tomorrow_is_a_month_start(naive: datetime) -> None:
    dt = naive.replace(tzinfo=UTC)
    assert filters.is_month_end(dt) == filters.is_month_start(dt + timedelta(days=1))


@given(
    st.times(),
    st.times(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_between_times_agrees_with_its_definition(start: time, end: time, naive: datetime) -> None:
    t = naive.time()
    inside = start <= t <= end if start <= end else not (end < t < start)
    assert filters.between_times(start, end)(naive.replace(tzinfo=UTC)) is inside


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: filters.on_date(2, 30),
            r"on_date was refused: day must be 1-29 in February, got 30",
        ),
        (lambda: filters.on_date(13, 1), r"on_date was refused: month must be 1-12, got 13"),
        (lambda: filters.on_date(4, 31), r"day must be 1-30 in April, got 31"),
        (
            lambda: filters.between_dates(0, 1, 1, 1),
            r"between_dates was refused: start_month must be 1-12, got 0",
        ),
        (lambda: filters.between_dates(1, 1, 6, 31), r"end_day must be 1-30 in June, got 31"),
        (
            lambda: filters.on_datetime(datetime(2024, 1, 1)),
            r"on_datetime was refused: dt: datetime 2024-01-01T00:00:00 has no timezone",
        ),
        (
            lambda: filters.between_datetimes(at(2024, 2, 1), at(2024, 1, 1)),
            r"between_datetimes was refused: end 2024-01-01T00:00:00\+00:00 is before start .*; swap them",
        ),
        (
            lambda: filters.between_datetimes(datetime(2024, 1, 1), at(2024, 1, 1)),
            r"start: datetime 2024-01-01T00:00:00 has no timezone",
        ),
        (
            lambda: filters.at_time(time(9, tzinfo=UTC)),
            r"at_time was refused: t: 09:00:00\+00:00 has a timezone, but filters read times of day on the candidate's local clock",
        ),
        (
            lambda: filters.between_times(time(9), time(17, tzinfo=UTC)),
            r"between_times was refused: end: .* has a timezone",
        ),
        (
            lambda: filters.at_time("noon"),  # type: ignore[arg-type]
            r"at_time was refused: t: Input should be in a valid time format",
        ),
    ],
)
def test_filters_refuse_bad_arguments(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        make()


def test_the_base_filter_cannot_be_called() -> None:
    with pytest.raises(NotImplementedError):
        Filter(name="custom")(at(2024, 1, 1))


# --- names -----------------------------------------------------------------------------------


def test_filters_read_like_the_calls_that_make_them() -> None:
    assert repr(filters.is_weekday) == "is_weekday"
    assert repr(filters.between_times(time(9), time(17))) == (
        "between_times(datetime.time(9, 0), datetime.time(17, 0))"
    )
    assert repr(filters.on_datetime(at(2024, 1, 1, tz=NY))) == (
        "on_datetime('2024-01-01T00:00:00-05:00[America/New_York]')"
    )


def test_known_filters_are_the_public_ones() -> None:
    public = {n for n in filters.__all__ if n != "Filter"}
    assert set(known_filters()) == public


def test_filters_are_equal_by_value() -> None:
    assert filters.between_times(time(9), time(17)) == filters.between_times(time(9), time(17))
    assert filters.on_date(1, 1) != filters.on_date(1, 2)
