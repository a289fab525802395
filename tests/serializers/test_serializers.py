"""Serializers: round trips over the values each one claims (hypothesis), refusals that name
the type and a serializer that works, equality and pickling, compression formats."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import importlib.abc
import pickle
import sys
import threading
from collections.abc import Iterator
from typing import Any

import cloudpickle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import SerializationError
from headwater.serializers import (
    CompressedSerializer,
    JSONSerializer,
    MsgPackSerializer,
    PickleSerializer,
    Serializer,
)
from headwater.serializers._compressed import FORMATS

# -- what each serializer claims --------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)

aware_datetimes = st.datetimes(timezones=st.timezones()) | st.datetimes(
    timezones=st.just(dt.UTC)
    | st.builds(
        dt.timezone,
        st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)),
    )
)
msgpack_hashables = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**64, max_value=2**200)
    | st.integers(min_value=-(2**200), max_value=-(2**63) - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.datetimes()
    | aware_datetimes
    | st.dates()
    | st.timedeltas(),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
msgpack_values = st.recursive(
    msgpack_hashables,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(msgpack_hashables, inner, max_size=4)
        | st.sets(msgpack_hashables, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
    ),
    max_leaves=20,
)


class Color(enum.IntEnum):
    RED = 1


def same(a: Any, b: Any) -> bool:
    """Equal, of the same type all the way down, and aware datetimes in the same zone."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dt.datetime):
        return (
            a == b
            and a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.utcoffset() == b.utcoffset()
            and getattr(a.tzinfo, "key", None) == getattr(b.tzinfo, "key", None)
            and a.fold == b.fold
        )
    return bool(a == b)


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    label: str


pickle_values = st.recursive(
    msgpack_values
    | st.builds(Point, st.floats(allow_nan=False), st.text())
    | st.complex_numbers(allow_nan=False)
    | st.decimals(allow_nan=False)
    | st.sampled_from(Color),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(pickle_values)
def test_pickle_round_trips_picklable_values(value: Any) -> None:
    s = PickleSerializer()
    assert same(s.deserialize(s.serialize(value)), value)


def test_pickle_round_trips_closures() -> None:
    offset = 3
    s = PickleSerializer()
    assert s.deserialize(s.serialize(lambda x: x + offset))(1) == 4


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_round_trips_json_values(value: Any) -> None:
    s = JSONSerializer()
    assert same(s.deserialize(s.serialize(value)), value)


@settings(max_examples=300, deadline=None)
@given(msgpack_values)
def test_msgpack_round_trips_exactly(value: Any) -> None:
    s = MsgPackSerializer()
    assert same(s.deserialize(s.serialize(value)), value)


@settings(max_examples=100, deadline=None)
@given(aware_datetimes | st.datetimes())
def test_msgpack_keeps_the_zone_and_wall_time_of_datetimes(value: dt.datetime) -> None:
    s = MsgPackSerializer()
    back = s.deserialize(s.serialize(value))
    assert same(back, value)
    if value.tzinfo is dt.UTC:
        assert back.tzinfo is dt.UTC


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(FORMATS),
    st.binary(max_size=2000) | st.binary(max_size=50).map(lambda b: b + b"\r"),
)
def test_compressed_round_trips_random_bytes(format: str, value: bytes) -> None:
    for inner in (PickleSerializer(), MsgPackSerializer()):
        s = CompressedSerializer(inner, format=format)
        assert s.deserialize(s.serialize(value)) == value


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(FORMATS), json_values)
def test_compressed_round_trips_through_json(format: str, value: Any) -> None:
    s = CompressedSerializer(JSONSerializer(), format=format, level=1)
    assert same(s.deserialize(s.serialize(value)), value)


byte_payloads = (
    st.binary(max_size=2000)
    | st.binary(max_size=60).map(lambda b: b + b"\r")
    | st.binary(max_size=60).map(lambda b: b + b"\r\n")
)


@settings(max_examples=200, deadline=None)
@given(byte_payloads)
def test_bytes_round_trip_through_every_serializer_that_takes_them(value: bytes) -> None:
    for s in (
        PickleSerializer(),
        MsgPackSerializer(),
        CompressedSerializer(MsgPackSerializer(), format="lz4"),
    ):
        back = s.deserialize(s.serialize(value))
        assert back == value and type(back) is bytes


@settings(max_examples=100, deadline=None)
@given(st.lists(byte_payloads, max_size=3), st.text().map(lambda t: t + "\r"))
def test_text_ending_in_cr_round_trips(blobs: list[bytes], text: str) -> None:
    assert JSONSerializer().deserialize(JSONSerializer().serialize([text])) == [text]
    value = {text: blobs}
    assert MsgPackSerializer().deserialize(MsgPackSerializer().serialize(value)) == value


def test_json_gives_tuples_back_as_lists() -> None:
    s = JSONSerializer()
    assert s.deserialize(s.serialize({"a": (1, (2, 3))})) == {"a": [1, [2, 3]]}


def test_the_builtin_serializers_are_serializers() -> None:
    for s in (PickleSerializer(), JSONSerializer(), MsgPackSerializer(), CompressedSerializer()):
        assert isinstance(s, Serializer)


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (b"raw", r"type 'bytes'.*Use MsgPackSerializer or PickleSerializer"),
        (
            {"when": dt.datetime(2024, 1, 1)},
            r"'datetime\.datetime' at value\['when'\].*MsgPackSerializer",
        ),
        ([1, {2, 3}], r"type 'set' at value\[1\].*MsgPackSerializer"),
        ({1: "a"}, r"dict key 1 of type 'int'.*string keys, or MsgPackSerializer"),
        (decimal.Decimal("1.5"), r"type 'decimal\.Decimal'.*Use PickleSerializer"),
        (object(), r"type 'object'.*Use PickleSerializer"),
    ],
)
def test_json_refuses_what_is_not_json(value: Any, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        JSONSerializer().serialize(value)


def test_json_refuses_a_value_that_contains_itself() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerializationError, match="contains itself.*PickleSerializer"):
        JSONSerializer().serialize(loop)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (decimal.Decimal("1.5"), r"type 'decimal\.Decimal'.*use PickleSerializer"),
        (
            Color.RED,
            r"type '.*Color' \(a subclass of int\).*PickleSerializer",
        ),
        (collections.OrderedDict(a=1), r"'collections\.OrderedDict' \(a subclass of dict\)"),
        ({"k": [1j]}, r"type 'complex'.*PickleSerializer"),
        (dt.time(12), r"type 'datetime\.time'"),
    ],
)
def test_msgpack_refuses_what_it_would_not_give_back(value: Any, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        MsgPackSerializer().serialize(value)


def test_pickle_refuses_what_does_not_pickle() -> None:
    with pytest.raises(SerializationError, match=r"type '_thread\.lock'.*checkpoint=False"):
        PickleSerializer().serialize(threading.Lock())


@pytest.mark.parametrize(
    ("serializer", "data"),
    [
        (PickleSerializer(), b"not a pickle"),
        (JSONSerializer(), b"\xff{"),
        (MsgPackSerializer(), b"\xc1"),
        (MsgPackSerializer(), b"\x92\x01"),
    ],
    ids=["pickle", "json", "msgpack-bad-byte", "msgpack-short"],
)
def test_bytes_that_do_not_read_back_raise_serialization_error(
    serializer: Serializer, data: bytes
) -> None:
    with pytest.raises(SerializationError, match=f"{len(data)} bytes back.*another serializer"):
        serializer.deserialize(data)


@pytest.mark.parametrize("format", FORMATS)
def test_compressed_refuses_bytes_that_do_not_decompress(format: str) -> None:
    s = CompressedSerializer(format=format)
    good = s.serialize(list(range(100)))
    with pytest.raises(SerializationError, match=rf"decompress .* as {format}.*format='{format}'"):
        s.deserialize(good[: len(good) // 2])


def test_compressed_passes_the_inner_refusal_through() -> None:
    with pytest.raises(SerializationError, match="JSONSerializer cannot serialize"):
        CompressedSerializer(JSONSerializer()).serialize(b"x")


def test_compressed_refuses_unknown_formats_and_levels() -> None:
    with pytest.raises(ValueError, match="no format 'snappy'; use one of zlib, gzip"):
        CompressedSerializer(format="snappy")
    with pytest.raises(ValueError, match="level must be an int"):
        CompressedSerializer(level="9")  # type: ignore[arg-type]


class _Block(importlib.abc.MetaPathFinder):
    """Makes packages look uninstalled (the way a machine without them behaves)."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@pytest.fixture
def without_lz4_and_zstandard(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(sys.modules):
        if name.split(".")[0] in ("lz4", "zstandard"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Block("lz4", "zstandard"), *sys.meta_path])
    yield


@pytest.mark.parametrize(("format", "package"), [("lz4", "lz4"), ("zstd", "zstandard")])
def test_a_missing_compression_package_says_how_to_install_it(
    format: str, package: str, without_lz4_and_zstandard: None
) -> None:
    with pytest.raises(
        ImportError, match=rf"needs the '{package}' package: pip install 'headwater\[compression\]'"
    ):
        CompressedSerializer(format=format)


def test_a_worker_without_the_package_fails_when_it_compresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = pickle.dumps(CompressedSerializer(format="zstd"))  # made where zstandard exists
    for name in list(sys.modules):
        if name.split(".")[0] == "zstandard":
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Block("zstandard"), *sys.meta_path])
    s = pickle.loads(shipped)  # unpickling imports nothing
    with pytest.raises(ImportError, match=r"pip install 'headwater\[compression\]'"):
        s.serialize(1)


# -- equality, hashing, pickling --------------------------------------------------------------

CONFIGURED = [
    PickleSerializer(),
    JSONSerializer(),
    JSONSerializer(indent=2, sort_keys=True),
    MsgPackSerializer(),
    CompressedSerializer(),
    CompressedSerializer(MsgPackSerializer(), format="zstd", level=5),
    CompressedSerializer(JSONSerializer(indent=1), format="lz4"),
]


@pytest.mark.parametrize("serializer", CONFIGURED, ids=repr)
def test_serializers_compare_by_configuration_and_pickle(serializer: Any) -> None:
    for copy in (
        pickle.loads(pickle.dumps(serializer)),
        cloudpickle.loads(cloudpickle.dumps(serializer)),
    ):
        assert copy == serializer and hash(copy) == hash(serializer)
        assert repr(copy) == repr(serializer)
    others = [s for s in CONFIGURED if s is not serializer]
    assert all(serializer != other for other in others)


def test_repr_shows_the_configuration() -> None:
    assert repr(CompressedSerializer(JSONSerializer(indent=2), format="bz2", level=9)) == (
        "CompressedSerializer(inner=JSONSerializer(indent=2, sort_keys=False), format='bz2', level=9)"
    )
