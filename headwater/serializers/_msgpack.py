"""MsgPackSerializer: compact binary for plain data, with exact round trips.

Design note
-----------
msgpack has nil, bool, int (64-bit), float, str, bin, array and map. On top of these the
serializer keeps Python's types exactly, with msgpack extension types (the code, then
what the payload holds):

====  ===========  =====================================================================
code  type         payload
====  ===========  =====================================================================
1     tuple        the items, as a msgpack array (so ``(1, 2)`` does not become ``[1, 2]``)
2     set          the items, as an array
3     frozenset    the items, as an array (so sets can be dict keys and set members)
4     datetime     ``[wall time ISO text, fold, tz]``; tz is None (naive), a zone name
                   (a ``zoneinfo.ZoneInfo``: the zone itself comes back), or the UTC offset
                   in microseconds (any other tzinfo: it comes back as a fixed offset, the
                   same instant; ``timezone.utc`` comes back as ``timezone.utc``)
5     date         ISO text
6     timedelta    ``[days, seconds, microseconds]``
7     int          two's complement bytes, big-endian, for ints beyond msgpack's 64 bits
====  ===========  =====================================================================

Dict keys may be any of these hashable types (``{1: "a", (2, 3): "b"}`` round-trips).
Packing is strict (``strict_types``): a subclass of a supported type (an ``IntEnum``, a
namedtuple, an ``OrderedDict``) is refused rather than silently turned into its base type,
and so is every other type; the error names the type and PickleSerializer. The one loss:
``bytearray`` and ``memoryview`` are written as bin and come back as ``bytes``. ``nan``
round-trips as ``nan`` (which is not equal to itself).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any
from zoneinfo import ZoneInfo

from headwater.errors import SerializationError
from headwater.serializers.base import ConfiguredSerializer, type_name

EXT_TUPLE, EXT_SET, EXT_FROZENSET, EXT_DATETIME, EXT_DATE, EXT_TIMEDELTA, EXT_BIGINT = range(1, 8)


class MsgPackSerializer(ConfiguredSerializer):
    """Serialize plain data with msgpack, keeping tuples, sets, datetimes and big ints.

    Supported: None, bool, int (any size), float, str, bytes, list, dict, tuple, set,
    frozenset, ``datetime.datetime`` (naive or aware), ``datetime.date``,
    ``datetime.timedelta``, nested freely. ``bytearray`` comes back as ``bytes``; other
    types, subclasses of these included, are refused with a
    :class:`~headwater.errors.SerializationError`.

    >>> s = MsgPackSerializer()
    >>> s.deserialize(s.serialize({"k": (1, b"\\x00"), 2: {frozenset({3})}}))
    {'k': (1, b'\\x00'), 2: {frozenset({3})}}
    """

    def runs_code_when_reading(self) -> bool:
        """False: reading runs no code (extension types are decoded by fixed rules)."""
        return False

    def serialize(self, value: Any) -> bytes:
        """Return ``value`` packed with msgpack.

        Args:
            value: plain data (see the class docstring).

        Raises:
            SerializationError: when something inside the value has an unsupported type.
        """
        try:
            return _pack(value)
        except SerializationError:
            raise
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise SerializationError(
                f"MsgPackSerializer cannot serialize a value of type {type_name(value)!r}: "
                f"{type(exc).__name__}: {exc}. Use PickleSerializer."
            ) from exc

    def deserialize(self, data: bytes) -> Any:
        """Unpack msgpack bytes.

        Args:
            data: bytes made by :meth:`serialize`.

        Raises:
            SerializationError: when the bytes are not msgpack made by this serializer.
        """
        msgpack = _msgpack()
        try:
            return _unpack(msgpack, data)
        except Exception as exc:
            raise SerializationError(
                f"MsgPackSerializer cannot read {len(data)} bytes back: {type(exc).__name__}: "
                f"{exc}. Were they written by another serializer?"
            ) from exc


def _msgpack() -> Any:
    import msgpack

    return msgpack


def _pack(value: Any) -> bytes:
    return bytes(_msgpack().packb(value, default=_default, use_bin_type=True, strict_types=True))


def _unpack(msgpack: Any, data: bytes) -> Any:
    return msgpack.unpackb(
        data, ext_hook=_ext_hook, raw=False, strict_map_key=False, use_list=True, timestamp=0
    )


def _default(value: Any) -> Any:
    """Turn a value msgpack has no type for into an extension type (or refuse it)."""
    import msgpack

    kind = type(value)
    if kind is tuple:
        return msgpack.ExtType(EXT_TUPLE, _pack(list(value)))
    if kind is set:
        return msgpack.ExtType(EXT_SET, _pack(list(value)))
    if kind is frozenset:
        return msgpack.ExtType(EXT_FROZENSET, _pack(list(value)))
    if kind is _dt.datetime:
        return msgpack.ExtType(EXT_DATETIME, _pack(_datetime_parts(value)))
    if kind is _dt.date:
        return msgpack.ExtType(EXT_DATE, value.isoformat().encode())
    if kind is _dt.timedelta:
        return msgpack.ExtType(
            EXT_TIMEDELTA, _pack([value.days, value.seconds, value.microseconds])
        )
    if kind is int:  # beyond 64 bits
        size = value.bit_length() // 8 + 1  # room for the sign bit
        return msgpack.ExtType(EXT_BIGINT, value.to_bytes(size, "big", signed=True))
    base = next((b.__name__ for b in kind.__mro__[1:] if b.__module__ == "builtins"), None)
    subclass = f" (a subclass of {base})" if base not in (None, "object") else ""
    raise SerializationError(
        f"MsgPackSerializer cannot serialize a value of type {type_name(value)!r}{subclass}: "
        "it handles None, bool, int, float, str, bytes, list, dict, tuple, set, frozenset, "
        "datetime, date and timedelta. Convert the value to one of these, or use "
        "PickleSerializer, which handles any picklable value."
    )


def _datetime_parts(value: _dt.datetime) -> list[Any]:
    tz = value.tzinfo
    offset = value.utcoffset()
    spec: Any
    if offset is None:
        spec = None
    elif isinstance(tz, ZoneInfo) and tz.key:
        spec = tz.key
    else:
        spec = (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds
    return [value.replace(tzinfo=None).isoformat(), value.fold, spec]


def _ext_hook(code: int, data: bytes) -> Any:
    import msgpack

    if code in (EXT_TUPLE, EXT_SET, EXT_FROZENSET):
        items = _unpack(msgpack, data)
        return {EXT_TUPLE: tuple, EXT_SET: set, EXT_FROZENSET: frozenset}[code](items)
    if code == EXT_DATETIME:
        text, fold, spec = _unpack(msgpack, data)
        naive = _dt.datetime.fromisoformat(text).replace(fold=fold)
        if spec is None:
            return naive
        if isinstance(spec, str):
            return naive.replace(tzinfo=ZoneInfo(spec))
        return naive.replace(tzinfo=_dt.timezone(_dt.timedelta(microseconds=spec)))
    if code == EXT_DATE:
        return _dt.date.fromisoformat(data.decode())
    if code == EXT_TIMEDELTA:
        days, seconds, micros = _unpack(msgpack, data)
        return _dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if code == EXT_BIGINT:
        return int.from_bytes(data, "big", signed=True)
    raise ValueError(f"unknown msgpack extension type {code}")


__all__ = ["MsgPackSerializer"]
