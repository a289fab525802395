"""Adjustments alone: moves, local time across DST, bounds, errors, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import ScheduleError
from headwater.schedules import adjustments
from headwater.schedules.adjustments import Adjustment, known_adjustments

NY = ZoneInfo("America/New_York")
ZONES = [
    UTC,
    NY,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("Pacific/Apia"),
]


@pytest.mark.parametrize(
    ("day", "expected"),
    # 2024-01-05 is a Friday
    [(5, 5), (6, 8), (7, 8), (8, 8), (9, 9)],
)
def test_next_weekday(day: int, expected: int) -> None:
    moved = adjustments.next_weekday(datetime(2024, 1, day, 18, 30, tzinfo=UTC))
    assert moved == datetime(2024, 1, expected, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize(("day", "expected"), [(5, 5), (6, 5), (7, 5), (8, 8)])
def test_previous_weekday(day: int, expected: int) -> None:
    moved = adjustments.previous_weekday(datetime(2024, 1, day, 18, 30, tzinfo=UTC))
    assert moved == datetime(2024, 1, expected, 18, 30, tzinfo=UTC)


def test_weekday_moves_keep_local_time_across_dst() -> None:
    # Clocks go forward on Sunday 2024-03-10 in New York.
    saturday = datetime(2024, 3, 9, 18, tzinfo=NY)
    assert adjustments.next_weekday(saturday).isoformat() == "2024-03-11T18:00:00-04:00"
    sunday = datetime(2024, 3, 10, 18, tzinfo=NY)
    assert adjustments.previous_weekday(sunday).isoformat() == "2024-03-08T18:00:00-05:00"


def test_add_whole_days_keeps_local_time_other_intervals_elapsed_time() -> None:
    saturday = datetime(2024, 3, 9, 18, tzinfo=NY)
    assert adjustments.add(timedelta(days=1))(saturday).isoformat() == "2024-03-10T18:00:00-04:00"
    assert adjustments.add(timedelta(hours=12))(saturday).isoformat() == "2024-03-10T07:00:00-04:00"
    assert (
        adjustments.add(timedelta(minutes=-30))(saturday).isoformat() == "2024-03-09T17:30:00-05:00"
    )
    assert adjustments.add(timedelta(0))(saturday) is saturday


def test_moves_keep_the_zone() -> None:
    dt = datetime(2024, 1, 6, 9, tzinfo=NY)
    for adjustment in (adjustments.add(timedelta(hours=5)), adjustments.next_weekday):
        assert adjustment(dt).tzinfo is NY


def test_add_refuses_a_non_interval() -> None:
    with pytest.raises(
        ScheduleError, match=r"add was refused: interval: Input should be a valid timedelta"
    ):
        adjustments.add("soon")  # type: ignore[arg-type]


def test_the_base_adjustment_cannot_be_called() -> None:
    with pytest.raises(NotImplementedError):
        Adjustment(name="custom")(datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(NotImplementedError):
        Adjustment(name="custom").bounds()


def test_adjustments_read_like_the_calls_that_make_them() -> None:
    assert repr(adjustments.next_weekday) == "next_weekday"
    assert repr(adjustments.add(timedelta(hours=1))) == "add(datetime.timedelta(seconds=3600))"


def test_known_adjustments_are_the_public_ones() -> None:
    assert set(known_adjustments()) == {n for n in adjustments.__all__ if n != "Adjustment"}


ADJUSTMENTS = [
    adjustments.next_weekday,
    adjustments.previous_weekday,
    adjustments.add(timedelta(days=1)),
    adjustments.add(timedelta(days=-3)),
    adjustments.add(timedelta(hours=5)),
    adjustments.add(timedelta(minutes=-90)),
]


@given(
    st.sampled_from(ADJUSTMENTS),
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2040, 1, 1),
        timezones=st.sampled_from(ZONES),
    ),
)
def test_every_move_stays_within_its_bounds(adjustment: Adjustment, dt: datetime) -> None:
    lo, hi = adjustment.bounds()
    moved = adjustment(dt)
    assert lo <= moved.astimezone(UTC) - dt.astimezone(UTC) <= hi
