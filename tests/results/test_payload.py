"""The stored form: header, length, CRC-32 or HMAC; anything but a whole, untouched payload
is refused before the serializer sees it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ResultIntegrityError
from headwater.results._payload import SIGNING_KEY_ENV, resolve_key, seal, unseal

keys = st.none() | st.binary(min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), keys)
def test_seal_then_unseal_gives_the_data_back(data: bytes, key: bytes | None) -> None:
    assert unseal(seal(data, key), key, "loc") == data


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=500), keys, st.data())
def test_any_changed_byte_is_detected(data: bytes, key: bytes | None, draw: st.DataObject) -> None:
    payload = bytearray(seal(data, key))
    i = draw.draw(st.integers(0, len(payload) - 1))
    payload[i] ^= draw.draw(st.integers(1, 255))
    with pytest.raises(ResultIntegrityError, match="'loc'"):
        unseal(bytes(payload), key, "loc")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500), keys, st.data())
def test_any_truncation_is_detected(data: bytes, key: bytes | None, draw: st.DataObject) -> None:
    payload = seal(data, key)
    cut = draw.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(ResultIntegrityError):
        unseal(payload[:cut], key, "loc")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.binary(min_size=1), st.binary(min_size=1))
def test_another_key_is_refused(data: bytes, key: bytes, other: bytes) -> None:
    if key == other:
        return
    with pytest.raises(ResultIntegrityError, match="signature does not match"):
        unseal(seal(data, key), other, "loc")


def test_signed_and_unsigned_do_not_mix() -> None:
    with pytest.raises(
        ResultIntegrityError, match=f"is signed, but no signing key.*{SIGNING_KEY_ENV}"
    ):
        unseal(seal(b"x", b"k"), None, "loc")
    with pytest.raises(ResultIntegrityError, match="is not signed, but a signing key is set"):
        unseal(seal(b"x", None), b"k", "loc")


def test_another_format_version_is_refused() -> None:
    payload = bytearray(seal(b"x", None))
    payload[3] = 2
    with pytest.raises(
        ResultIntegrityError, match="format version 2; this headwater reads version 1"
    ):
        unseal(bytes(payload), None, "loc")


def test_the_header_is_small() -> None:
    assert len(seal(b"", None)) == 17 and len(seal(b"", b"k")) == 45


def test_the_key_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    assert resolve_key(None) is None and resolve_key(b"k") == b"k"
    monkeypatch.setenv(SIGNING_KEY_ENV, "env")
    assert resolve_key(None) == b"env" and resolve_key(b"k") == b"k"
    monkeypatch.setenv(SIGNING_KEY_ENV, "")
    assert resolve_key(None) is None
