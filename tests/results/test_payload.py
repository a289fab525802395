"""The stored form: header, binding, length, HMAC or CRC-32; anything but a whole payload,
vouched for and written for this place, is refused before the serializer sees it."""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ResultIdentityError, ResultIntegrityError, ResultUnverifiedError
from headwater.results._payload import seal, unseal
from headwater.results.signing import TRUST_ENV, Signing

keys = st.none() | st.binary(min_size=1, max_size=40)


def key_of(key: bytes | None) -> object:
    return lambda: None if key is None else Signing(key, "test")


def open_(payload: bytes, key: bytes | None, **kw: object) -> bytes:
    """Unseal as a reader whose serializer runs no code unless told (JSON-like)."""
    kw.setdefault("runs_code", False)
    return unseal(payload, key_of(key), "r/loc", "loc", **kw)  # type: ignore[arg-type]


def v1(data: bytes, key: bytes | None) -> bytes:
    """A payload as headwater wrote it before format 2 (no binding)."""
    head = struct.pack(">3sBBQ", b"HWR", 1, 1 if key else 0, len(data))
    if key:
        check = hmac.new(key, head + data, hashlib.sha256).digest()
    else:
        check = struct.pack(">I", zlib.crc32(data, zlib.crc32(head)))
    return head + check + data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), keys)
def test_seal_then_unseal_gives_the_data_back(data: bytes, key: bytes | None) -> None:
    assert open_(seal(data, key, "loc"), key) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=500), keys, st.data())
def test_any_changed_byte_is_detected(data: bytes, key: bytes | None, draw: st.DataObject) -> None:
    payload = bytearray(seal(data, key, "loc", {"task": "t-1"}))
    i = draw.draw(st.integers(0, len(payload) - 1))
    payload[i] ^= draw.draw(st.integers(1, 255))
    with pytest.raises(ResultIntegrityError, match="'r/loc'"):
        open_(bytes(payload), key, identity={"task": "t-1"})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500), keys, st.data())
def test_any_truncation_is_detected(data: bytes, key: bytes | None, draw: st.DataObject) -> None:
    payload = seal(data, key, "loc")
    cut = draw.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(ResultIntegrityError):
        open_(payload[:cut], key)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.binary(min_size=1), st.binary(min_size=1))
def test_another_key_is_refused(data: bytes, key: bytes, other: bytes) -> None:
    if key == other:
        return
    with pytest.raises(ResultUnverifiedError, match="not with the key in force"):
        open_(seal(data, key, "loc"), other)


def test_an_unsigned_pickle_is_refused_unless_the_reader_opts_in() -> None:
    unsigned = seal(b"pickle bytes", None, "loc")
    with pytest.raises(ResultUnverifiedError, match="is not signed") as info:
        open_(unsigned, b"k", runs_code=True)
    assert "trust_unverified=True" in str(info.value) and TRUST_ENV in str(info.value)
    assert open_(unsigned, b"k", runs_code=True, trust=True) == b"pickle bytes"
    assert open_(unsigned, b"k", runs_code=False) == b"pickle bytes"  # JSON runs no code


def test_a_signature_that_does_not_verify_is_refused_even_for_json() -> None:
    signed = seal(b"[1]", b"theirs", "loc")
    for key in (b"mine", None):
        with pytest.raises(ResultUnverifiedError, match="is signed"):
            open_(signed, key, runs_code=False)
    assert open_(signed, b"mine", trust=True) == b"[1]"


def test_a_payload_copied_to_another_location_is_refused() -> None:
    elsewhere = seal(b"x", b"k", "other/loc")
    with pytest.raises(ResultIdentityError, match="written for the location 'other/loc', not 'loc'"):
        open_(elsewhere, b"k")


def test_an_identity_is_checked_only_when_asked_for() -> None:
    payload = seal(b"x", b"k", "loc", {"task": "a-1", "run": "r1", "map_index": None})
    assert open_(payload, b"k") == b"x"
    assert open_(payload, b"k", identity={"task": "a-1", "run": "r1", "map_index": None}) == b"x"
    with pytest.raises(ResultIdentityError, match=r"another task run \(run differ\)"):
        open_(payload, b"k", identity={"task": "a-1", "run": "r2", "map_index": None})


def test_format_1_is_read_where_no_identity_is_asked_for() -> None:
    assert open_(v1(b"old", b"k"), b"k", runs_code=True) == b"old"
    with pytest.raises(ResultUnverifiedError, match="not with the key in force"):
        open_(v1(b"old", b"k"), b"other", runs_code=True)
    with pytest.raises(ResultUnverifiedError, match="is not signed"):
        open_(v1(b"old", None), b"k", runs_code=True)
    with pytest.raises(ResultIdentityError, match="older headwater"):
        open_(v1(b"old", b"k"), b"k", identity={"task": "a-1"})


def test_another_format_version_is_refused() -> None:
    payload = bytearray(seal(b"x", None, "loc"))
    payload[3] = 3
    with pytest.raises(ResultIntegrityError, match="format version 3; this headwater reads"):
        open_(bytes(payload), None)


def test_the_header_is_small() -> None:
    binding = len(b'{"location":"loc"}')
    assert len(seal(b"", None, "loc")) == 17 + binding + 4
    assert len(seal(b"", b"k", "loc")) == 17 + binding + 32
