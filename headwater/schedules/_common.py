"""What every part of a schedule shares: the pydantic base, zoned datetimes and local time.

Design note
-----------
Models. Clocks, filters, adjustments and the schedule are frozen pydantic models deriving from
:class:`Spec`. ``Spec`` turns pydantic's ValidationError into one :class:`ScheduleError` listing
every problem, whether the part was built in Python or read from JSON. Parts that come in kinds
(clocks, filters, adjustments) are tagged unions built by :func:`tagged_union`: JSON names the
kind (``{"name": "between_times", ...}``), and an unknown name is refused with the known ones.

Datetimes are timezone-aware; a naive one is refused rather than guessed. A datetime's zone is
part of its meaning (cron and whole-day steps follow the local wall clock), so JSON keeps the
zone's name in the RFC 9557 form ``2024-03-01T18:00:00-05:00[America/New_York]``; fixed offsets,
UTC included, are plain ISO 8601. Zones must be :class:`zoneinfo.ZoneInfo` (with a key) or
:class:`datetime.timezone`; pytz zones are converted by name; anything else is refused because
it could not be written to JSON by name.

Comparisons. Python compares two datetimes sharing one tzinfo object by wall-clock time,
ignoring ``fold``: across a fall-back night it puts 01:45 EDT after 01:15 EST. Schedules order
and compare instants through :func:`utc` instead, always.

Local time. :func:`first_instant` answers "when do local clocks first show this wall time?"
and is the one rule behind every wall-clock step (cron, whole-day intervals, whole-day ``add``,
the weekday adjustments): an ambiguous wall time (clocks set back) maps to its first
occurrence; a wall time that does not exist (clocks set forward) maps to the instant the clocks
jump over it. The rule is monotone: later wall times never map to earlier instants.

>>> from zoneinfo import ZoneInfo
>>> ny = ZoneInfo("America/New_York")
>>> first_instant(datetime(2024, 3, 10, 2, 30), ny).isoformat()  # clocks jump 02:00 -> 03:00
'2024-03-10T03:00:00-04:00'
>>> first_instant(datetime(2024, 11, 3, 1, 30), ny).isoformat()  # 01:30 happens twice
'2024-11-03T01:30:00-04:00'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any, ClassVar, Self, TypeVar, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

from headwater.errors import ScheduleError

MAX_OFFSET_CHANGE = timedelta(hours=26)
"""More than any UTC offset has ever changed at once (Samoa skipped a day in 2011: 24 hours).

A move by whole local days therefore moves the instant by that many days, give or take this.
"""

_EXAMPLE = "e.g. datetime(2024, 1, 1, 9, tzinfo=ZoneInfo('Europe/Berlin')) or tzinfo=timezone.utc"


def utc(dt: datetime) -> datetime:
    """Return the same instant in UTC, which orders and compares as instants do.

    >>> from zoneinfo import ZoneInfo
    >>> utc(datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))).isoformat()
    '2024-07-01T10:00:00+00:00'
    """
    return dt.astimezone(UTC)


def wall(dt: datetime) -> datetime:
    """Return the local wall-clock time of an aware datetime, as a naive datetime."""
    return dt.replace(tzinfo=None, fold=0)


def first_instant(wall_time: datetime, tz: tzinfo) -> datetime:
    """Return the first instant at which clocks in ``tz`` show ``wall_time`` or later.

    Args:
        wall_time: a naive local wall-clock time.
        tz: the zone whose clocks are meant.

    Returns:
        An aware datetime in ``tz``.
    """
    candidate = wall_time.replace(tzinfo=tz, fold=0)
    instant = candidate.astimezone(UTC).astimezone(tz)
    if wall(instant) == wall_time:
        return instant  # exists; fold=0 is the first of two occurrences
    # wall_time falls in a gap. Its two readings, with the offsets before and after the jump,
    # bracket the jump; find it to the second (zone transitions fall on whole seconds).
    readings = [utc(wall_time.replace(tzinfo=tz, fold=f)).timestamp() for f in (0, 1)]
    lo, hi = math.floor(min(readings)), math.ceil(max(readings))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall(datetime.fromtimestamp(mid, tz)) >= wall_time:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, tz)


def is_whole_days(delta: timedelta) -> bool:
    """Tell whether ``delta`` is a whole, non-zero number of days (a calendar step).

    >>> is_whole_days(timedelta(days=2)), is_whole_days(timedelta(hours=36))
    (True, False)
    """
    return delta.days != 0 and delta.seconds == 0 and delta.microseconds == 0


def step(dt: datetime, delta: timedelta) -> datetime:
    """Move ``dt`` by ``delta``: in local calendar days if whole days, else in elapsed time.

    Whole days keep the local wall-clock time across DST changes (through
    :func:`first_instant`); any other delta is added to the instant.

    >>> from zoneinfo import ZoneInfo
    >>> sat = datetime(2024, 3, 9, 18, tzinfo=ZoneInfo("America/New_York"))
    >>> step(sat, timedelta(days=1)).isoformat(), step(sat, timedelta(hours=12)).isoformat()
    ('2024-03-10T18:00:00-04:00', '2024-03-10T07:00:00-04:00')

    ``timedelta(hours=24)`` *is* ``timedelta(days=1)`` (timedelta normalizes), a calendar day.
    """
    if is_whole_days(delta):
        return first_instant(wall(dt) + delta, dt.tzinfo or UTC)
    return (utc(dt) + delta).astimezone(dt.tzinfo)


def step_bounds(delta: timedelta) -> tuple[timedelta, timedelta]:
    """Return the least and most that :func:`step` by ``delta`` can move an instant."""
    if is_whole_days(delta):
        return delta - MAX_OFFSET_CHANGE, delta + MAX_OFFSET_CHANGE
    return delta, delta


# --- zoned datetimes ---------------------------------------------------------------------------


def zoned(dt: datetime, what: str = "datetime") -> datetime:
    """Check that ``dt`` is aware and its zone can be written to JSON by name.

    Args:
        dt: the datetime to check.
        what: what the datetime is, for the error message.

    Returns:
        The same instant: in its own zone as the local time clocks really show (a local time
        that does not exist is read with the offset before the jump), or in the ZoneInfo zone
        named by a pytz-style zone.

    Raises:
        ScheduleError: ``dt`` is naive, or its zone has no name JSON could keep.
    """
    tz = dt.tzinfo
    if tz is None or dt.utcoffset() is None:
        raise ScheduleError(
            f"{what} {dt.isoformat()} has no timezone, and schedules do not guess one; "
            f"pass an aware datetime, {_EXAMPLE}."
        )
    if isinstance(tz, timezone):
        return dt
    if isinstance(tz, ZoneInfo):
        if tz.key is None:
            raise ScheduleError(
                f"{what} {dt.isoformat()} uses a ZoneInfo loaded from a file, which has no "
                f"name to write to JSON; use ZoneInfo('Area/City')."
            )
        # A local time that does not exist (clocks jumped over it) is an instant Python reads
        # with the offset before the jump; store it as the local time of that instant, so that
        # it reads the same after a JSON round trip.
        return utc(dt).astimezone(tz)
    key = getattr(tz, "zone", None) or getattr(tz, "key", None)
    if isinstance(key, str):
        try:
            return utc(dt).astimezone(ZoneInfo(key))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    if dt.utcoffset() == timedelta(0) and dt.tzname() == "UTC":
        return dt.astimezone(UTC)
    raise ScheduleError(
        f"{what} {dt.isoformat()} uses a {type(tz).__name__} timezone, which cannot be written "
        f"to JSON by name; use zoneinfo.ZoneInfo('Area/City') or datetime.timezone."
    )


def format_zoned(dt: datetime) -> str:
    """Write ``dt`` as ISO 8601, with the zone name in brackets for a named zone (RFC 9557).

    >>> from zoneinfo import ZoneInfo
    >>> format_zoned(datetime(2024, 3, 1, 18, tzinfo=ZoneInfo("America/New_York")))
    '2024-03-01T18:00:00-05:00[America/New_York]'
    >>> format_zoned(datetime(2024, 3, 1, 18, tzinfo=timezone.utc))
    '2024-03-01T18:00:00+00:00'
    """
    text = dt.isoformat()
    key = getattr(dt.tzinfo, "key", None)
    return f"{text}[{key}]" if isinstance(dt.tzinfo, ZoneInfo) and key else text


def parse_zoned(text: str, what: str = "datetime") -> datetime:
    """Read what :func:`format_zoned` writes (the offset fixes the instant, the name the zone).

    Args:
        text: ISO 8601, optionally followed by ``[Area/City]``.
        what: what the datetime is, for the error message.

    Raises:
        ScheduleError: the text is not such a datetime, or names an unknown zone.

    >>> parse_zoned("2024-11-03T01:30:00-05:00[America/New_York]").fold
    1
    """
    base, bracket, rest = text.partition("[")
    try:
        dt = datetime.fromisoformat(base)
    except ValueError as exc:
        raise ScheduleError(
            f"{what} {text!r} is not an ISO 8601 datetime; write e.g. "
            f"'2024-03-01T18:00:00-05:00[America/New_York]' or '2024-03-01T18:00:00+00:00'."
        ) from exc
    if not bracket:
        return zoned(dt, what)
    key = rest.removesuffix("]").lstrip("!")
    try:
        zone = ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"{what} {text!r} names the unknown timezone {key!r}; use an IANA name such as "
            f"'Europe/Berlin'."
        ) from exc
    return utc(zoned(dt, what)).astimezone(zone)


# In validators the error's location already names the field.
def _before_zoned(value: Any) -> Any:
    return parse_zoned(value) if isinstance(value, str) else value


def _after_zoned(value: datetime) -> datetime:
    return zoned(value)


ZonedDatetime = Annotated[
    datetime,
    BeforeValidator(_before_zoned),
    AfterValidator(_after_zoned),
    PlainSerializer(format_zoned, return_type=str, when_used="json"),
]
"""An aware datetime whose zone survives JSON by name."""


def check_json_value(value: Any, path: str) -> None:
    """Refuse anything JSON would not give back as it was (parameter defaults must round-trip).

    Raises:
        ScheduleError: naming the first offending entry.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_json_value(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ScheduleError(f"{path} has the key {key!r}; JSON keys must be strings.")
            check_json_value(item, f"{path}[{key!r}]")
        return
    raise ScheduleError(
        f"{path} is a {type(value).__name__}, which JSON would not give back; use str, int, "
        f"float, bool, None, lists and dicts (e.g. an ISO string for a date)."
    )


# --- the model base ----------------------------------------------------------------------------


def schedule_error(what: str, exc: ValidationError) -> ScheduleError:
    """Turn a pydantic ValidationError into one ScheduleError that lists every problem."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{loc}: {msg}" if loc else msg)
    if len(problems) == 1:
        return ScheduleError(f"{what} was refused: {problems[0]}")
    lines = "\n".join(f"  - {p}" for p in problems)
    return ScheduleError(f"{what} was refused, {len(problems)} problems:\n{lines}")


F = TypeVar("F", bound=Callable[..., None])


def python_init(init: F) -> F:
    """Mark an ``__init__`` that only adapts the Python call signature (positional arguments).

    pydantic calls an overridden ``__init__`` while validating nested input, with the raw
    input as keywords. These overrides only forward to pydantic, so they carry the mark
    pydantic itself puts on ``BaseModel.__init__``, and validation goes straight to the fields.
    """
    init.__pydantic_base_init__ = True  # type: ignore[attr-defined]
    return init


class Spec(BaseModel):
    """Base of every schedule part: frozen, no unknown fields, errors as ScheduleError."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tag: ClassVar[str] = ""
    """The field naming the kind in JSON ("name" for filters, "type" for clocks); "" if none."""

    @python_init
    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise schedule_error(self._label(), exc) from exc

    @classmethod
    def _label(cls) -> str:
        """What error messages call this kind of part."""
        return cls.__name__

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        """Validate a Python object; problems raise ScheduleError (a ValueError)."""
        try:
            return super().model_validate(*args, **kwargs)
        except ValidationError as exc:
            raise schedule_error(cls._label(), exc) from exc

    @classmethod
    def model_validate_json(cls, *args: Any, **kwargs: Any) -> Self:
        """Validate JSON; problems raise ScheduleError (a ValueError)."""
        try:
            return super().model_validate_json(*args, **kwargs)
        except ValidationError as exc:
            raise schedule_error(cls._label(), exc) from exc

    def __str__(self) -> str:
        return repr(self)


def tagged_union(members: tuple[type[Spec], ...], kind: str, module: str) -> Any:
    """Build the pydantic type of "any one of ``members``", told apart by their tag field.

    Args:
        members: the kinds, each with a Literal tag field with a default.
        kind: what they are ("filter"), for messages.
        module: where users find them ("headwater.schedules.filters"), for messages.

    Returns:
        An Annotated union type for model fields.
    """
    tag = members[0].tag
    a_kind = f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
    names = sorted(str(m.model_fields[tag].default) for m in members)
    known = ", ".join(names)

    def check(value: Any) -> Any:
        if isinstance(value, members):
            return value
        if isinstance(value, dict):
            name = value.get(tag)
            if name is None:
                raise ValueError(f"{a_kind} needs a {tag!r} field; known {kind}s: {known}")
            if name not in names:
                raise ValueError(f"unknown {kind} {name!r}; known {kind}s: {known}")
            return value
        if callable(value) and getattr(value, "__name__", None) in names:
            raise ValueError(
                f"{value.__name__} makes {a_kind}: call it with its arguments, "
                f"e.g. {value.__name__}(...)"
            )
        raise ValueError(
            f"{value!r} is not {a_kind}; use one from {module} ({known}), "
            f"so that it can be written to JSON by name"
        )

    union: Any = Union[members]  # noqa: UP007 - a runtime tuple of members
    return Annotated[union, Field(discriminator=tag), BeforeValidator(check)]


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return repr(format_zoned(value))
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def spec_repr(spec: Spec, positional: tuple[str, ...], head: str | None = None) -> str:
    """Write a spec like the call that makes it, leaving out fields at their defaults.

    Args:
        spec: the spec.
        positional: fields written without their name, in order.
        head: the callable's name (default: the class name).
    """
    parts: list[str] = []
    for name, field in type(spec).model_fields.items():
        if name == spec.tag:
            continue
        value = getattr(spec, name)
        if name not in positional and value == field.get_default(call_default_factory=True):
            continue
        parts.append(_show(value) if name in positional else f"{name}={_show(value)}")
    return f"{head or type(spec).__name__}({', '.join(parts)})"


class NamedSpec(Spec):
    """Base of the schedule parts named by a ``name`` field (filters, adjustments): errors and
    reprs call them by that name."""

    name: str

    @classmethod
    def _label(cls) -> str:
        return str(cls.model_fields["name"].default)

    def __repr__(self) -> str:
        fields = tuple(f for f in type(self).model_fields if f != "name")
        return spec_repr(self, fields, self.name) if fields else self.name
