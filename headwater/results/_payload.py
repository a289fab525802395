"""The stored form of a result: a small header, what it is bound to, a check, then the
serializer's bytes.

Design note
-----------
Every persisted result is framed so that a reader can tell a whole, untouched payload
written for this very place from anything else *before* the serializer sees a byte
(unpickling runs code)::

    offset  size   field
    0       3      magic b"HWR"
    3       1      format version (2)
    4       1      flags: bit 0 set = signed
    5       8      length of the data, unsigned big-endian
    13      4      length n of the binding, unsigned big-endian
    17      n      the binding: compact JSON {"location": ..., "identity": {...}}
    17+n    32|4   the check over bytes 0 .. 17+n and the data:
                   signed:   HMAC-SHA256 with the signing key (detects tampering too)
                   unsigned: CRC-32 (detects truncation and accidental corruption)
    ...     ...    data (what the serializer made)

The **binding** says where the payload was written (its location, relative to the Result's
root) and, for a task's output, which task run wrote it (``identity``: flow, task, map
index, flow run, run token, a keyed hash of the inputs). Signed, it cannot be changed: a
file copied over another location's, or another run's checkpoint, is refused
(:class:`~headwater.errors.ResultIdentityError`).

Reading refuses, naming the location, before anything is deserialized:

* bytes without the header, of an unknown version, of the wrong length, or whose check
  does not match (:class:`~headwater.errors.ResultIntegrityError`);
* a payload that is unsigned, or signed but not verified by the key in force (another key,
  or tampered), when its serializer would run code to read it (a pickle), unless the reader
  opts in with ``trust``: :class:`~headwater.errors.ResultUnverifiedError`, whose message says
  how. JSON and msgpack run no code when read, so unsigned ones are read; a signature that
  does not verify is refused for them too (it is evidence of tampering);
* a binding that names another location, or another identity than the one asked for.

:func:`seal_into` writes the same frame into a file as a serializer streams the data into
it (a placeholder header first, the real one once the length is known; the check reads the
data back in chunks), so a large result is never held twice in memory to be framed.

Format 1 (headwater before signing by default: no binding, 13-byte header) is still read:
signed with the key in force, it is accepted where no identity is asked for (it is not bound
to its location); unsigned, it is an unsigned payload. Where an identity is asked for
(checkpoints read back, cache records), format 1 is never a match.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import IO, Any

from headwater.errors import ResultIdentityError, ResultIntegrityError, ResultUnverifiedError
from headwater.results.signing import KEY_FILE_ENV, SIGNING_KEY_ENV, TRUST_ENV, Signing

MAGIC = b"HWR"
VERSION = 2
FLAG_SIGNED = 0x01
_HEAD = struct.Struct(">3sBBQI")
_HEAD_V1 = struct.Struct(">3sBBQ")
_CRC = struct.Struct(">I")
_MAC_SIZE = hashlib.sha256().digest_size
_CHUNK = 8 << 20
"""How much of the data :func:`seal_into` reads back at a time for its check."""

KeySource = Callable[[], Signing | None]
"""Gives the key in force, asked only when a payload is signed (reads make no key file)."""


def binding(location: str, identity: Mapping[str, Any] | None = None) -> bytes:
    """The binding of a payload: its location and, optionally, the identity of its writer.

    Args:
        location: the location, relative to the Result's root.
        identity: what identifies the task run that wrote it (JSON-able values).

    >>> binding("etl/x.pkl", {"task": "load-1"})
    b'{"identity":{"task":"load-1"},"location":"etl/x.pkl"}'
    """
    bound: dict[str, Any] = {"location": location}
    if identity:
        bound["identity"] = dict(identity)
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode()


def seal(
    data: bytes, key: bytes | None, location: str, identity: Mapping[str, Any] | None = None
) -> bytes:
    """Frame ``data`` with the header, its binding and its check (an HMAC when ``key``).

    Args:
        data: the serializer's bytes.
        key: the signing key, or None for an unsigned CRC-32 check.
        location: where it is written (relative to the root).
        identity: the task run writing it, if any.

    >>> payload = seal(b"abc", None, "x")
    >>> payload[:4], payload[17:33], payload[-3:]
    (b'HWR\\x02', b'{"location":"x"}', b'abc')
    """
    bound = binding(location, identity)
    head = _HEAD.pack(MAGIC, VERSION, FLAG_SIGNED if key else 0, len(data), len(bound))
    return b"".join((head, bound, _check(head + bound, data, key), data))


def seal_into(
    file: IO[bytes],
    write: Callable[[IO[bytes]], Any],
    key: bytes | None,
    location: str,
    identity: Mapping[str, Any] | None = None,
) -> None:
    """Write the framed payload of the data ``write`` streams into ``file`` (what
    :func:`seal` returns, without holding the data twice).

    The header and binding go first with a zero length and check, then ``write(file)``
    writes the data (a serializer's ``dump``), then the data is read back in chunks for its
    check and the header is written again in place.

    Args:
        file: a binary file open for writing and reading, positioned where the payload
            starts.
        write: writes the serializer's bytes into the file it is given.
        key: the signing key, or None for an unsigned CRC-32 check.
        location: where it is written (relative to the root).
        identity: the task run writing it, if any.

    >>> buf = io.BytesIO()
    >>> seal_into(buf, lambda f: f.write(b"abc"), b"k", "x")
    >>> buf.getvalue() == seal(b"abc", b"k", "x")
    True
    """
    start = file.tell()
    bound = binding(location, identity)
    prefix = _HEAD.size + len(bound) + (_MAC_SIZE if key else _CRC.size)
    file.write(bytes(prefix))
    write(file)
    end = file.tell()
    length = end - start - prefix
    head = _HEAD.pack(MAGIC, VERSION, FLAG_SIGNED if key else 0, length, len(bound))
    checker = _checker(head + bound, key)
    if isinstance(file, io.BytesIO):  # in memory: check the buffer itself
        with file.getbuffer() as view:
            checker.update(view[start + prefix : end])
    else:
        file.seek(start + prefix)
        chunk = memoryview(bytearray(min(_CHUNK, max(1, length))))
        while n := file.readinto(chunk):  # type: ignore[attr-defined]
            checker.update(chunk[:n])
    file.seek(start)
    file.write(head + bound + checker.digest())
    file.seek(end)


def unseal(
    payload: bytes,
    key: KeySource,
    where: str,
    location: str,
    *,
    identity: Mapping[str, Any] | None = None,
    runs_code: bool = True,
    trust: bool = False,
) -> bytes:
    """Return the data inside ``payload`` after checking it is whole, vouched for, and
    written for ``location`` (and by ``identity``, when given).

    Args:
        payload: the stored bytes.
        key: gives the key in force (asked only for a signed payload).
        where: the full location, for messages.
        location: the location it must be bound to (relative to the root).
        identity: the task run it must have been written by; None checks no identity.
        runs_code: whether reading the data runs code (a pickle): then an unverified
            payload is refused unless ``trust``.
        trust: read payloads that are unsigned or not verified by the key in force.

    Raises:
        ResultIntegrityError: when the payload is not whole or not ours.
        ResultUnverifiedError: when it cannot be verified and reading it would run code.
        ResultIdentityError: when it was written for another location or task run.

    >>> unseal(seal(b"abc", b"k", "x"), lambda: Signing(b"k", "test"), "r/x", "x")
    b'abc'
    >>> unseal(seal(b"abc", b"k", "x")[:-1], lambda: None, "r/x.pkl", "x.pkl")
    Traceback (most recent call last):
    ...
    headwater.errors.ResultIntegrityError: Result at 'r/x.pkl' is truncated: ...
    """
    version, signed, start, bound, head_end = _parse(payload, where)
    view = memoryview(payload)
    verified = False
    if signed:
        signing = key()
        if signing is not None:
            expected = _check(view[:head_end], view[start:], signing.key)
            verified = hmac.compare_digest(expected, view[head_end:start])
        if not verified and not trust:
            raise ResultUnverifiedError(_unverified(where, True, signing, runs_code))
    else:
        expected = _check(view[:head_end], view[start:], None)
        if not hmac.compare_digest(expected, view[head_end:start]):
            raise ResultIntegrityError(
                f"Result at {where!r} is refused unread: its CRC-32 does not match: it is "
                "corrupted. Write it again."
            )
        if runs_code and not trust:
            raise ResultUnverifiedError(_unverified(where, False, None, runs_code))
    _check_binding(version, bound, where, location, identity)
    return bytes(view[start:])


def _parse(payload: bytes, where: str) -> tuple[int, bool, int, dict[str, Any] | None, int]:
    """Version, signed, where the data starts, the binding (None for format 1), and where
    the checked header ends."""
    size = len(payload)
    if size < _HEAD_V1.size or payload[:3] != MAGIC:
        raise ResultIntegrityError(
            f"Result at {where!r} has no headwater header ({size} bytes): it was not written "
            "by a headwater Result, or it is corrupted. Delete it or write it again."
        )
    _, version, flags, length = _HEAD_V1.unpack_from(payload)
    if version not in (1, VERSION):
        raise ResultIntegrityError(
            f"Result at {where!r} has format version {version}; this headwater reads versions "
            f"1 and {VERSION}. Read it with the headwater that wrote it, or write it again."
        )
    signed = bool(flags & FLAG_SIGNED)
    bound: dict[str, Any] | None = None
    head_end = _HEAD_V1.size
    if version == VERSION:
        if size < _HEAD.size:
            raise _cut(where, size, _HEAD.size)
        n = _HEAD.unpack_from(payload)[4]
        head_end = _HEAD.size + n
        if size < head_end:
            raise _cut(where, size, head_end)
        try:
            bound = json.loads(payload[_HEAD.size : head_end])
        except ValueError:
            bound = None
        if not isinstance(bound, dict) or not isinstance(bound.get("location"), str):
            raise ResultIntegrityError(
                f"Result at {where!r} has an unreadable binding: it is corrupted. Write it again."
            )
    start = head_end + (_MAC_SIZE if signed else _CRC.size)
    if size != start + length:
        raise _cut(where, size, start + length)
    return version, signed, start, bound, head_end


def _cut(where: str, size: int, expected: int) -> ResultIntegrityError:
    state = "truncated" if size < expected else "longer than its header says"
    return ResultIntegrityError(
        f"Result at {where!r} is {state}: {size} bytes stored, {expected} expected. "
        "A write was cut short or the object was changed; write it again."
    )


def _unverified(where: str, signed: bool, signing: Signing | None, runs_code: bool) -> str:
    if not signed:
        what = "is not signed (anyone who can write there could have written it)"
    elif signing is None:
        what = "is signed, but no signing key is set here"
    else:
        what = (
            f"is signed, but not with the key in force (from {signing.source}): it was "
            "signed with another key, or tampered with"
        )
    reading = "reading it would unpickle it (run its code)" if runs_code else "it may be forged"
    return (
        f"Result at {where!r} {what}, and {reading}, so it is refused unread. If it was "
        f"signed with a shared key, set {SIGNING_KEY_ENV} (or {KEY_FILE_ENV}) to that key. "
        "If you trust everyone who can write to this storage, opt in to reading it: give "
        f"the Result trust_unverified=True, or set {TRUST_ENV}=true."
    )


def _check_binding(
    version: int,
    bound: dict[str, Any] | None,
    where: str,
    location: str,
    identity: Mapping[str, Any] | None,
) -> None:
    if bound is not None and bound["location"] != location:
        raise ResultIdentityError(
            f"Result at {where!r} was written for the location {bound['location']!r}, not "
            f"{location!r}: it was copied or moved here, so it is refused. Write it again here."
        )
    if identity is None:
        return
    if bound is None:
        raise ResultIdentityError(
            f"Result at {where!r} was written by an older headwater (format {version}), which "
            "did not record the task run that wrote it, so it is not reused."
        )
    written = bound.get("identity") or {}
    if written != json.loads(json.dumps(dict(identity))):
        differ = sorted(k for k in {*written, *identity} if written.get(k) != identity.get(k))
        raise ResultIdentityError(
            f"Result at {where!r} was written by another task run ({', '.join(differ)} "
            "differ), so it is not reused."
        )


def _check(head: bytes | memoryview, data: bytes | memoryview, key: bytes | None) -> bytes:
    checker = _checker(head, key)
    checker.update(data)
    return bytes(checker.digest())


class _Crc32:
    """CRC-32 with hashlib's ``update`` and ``digest``."""

    __slots__ = ("value",)

    def __init__(self, head: bytes | memoryview) -> None:
        self.value = zlib.crc32(head)

    def update(self, data: bytes | memoryview) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return _CRC.pack(self.value)


def _checker(head: bytes | memoryview, key: bytes | None) -> Any:
    """The check over the header and then the data, fed the data with ``update``."""
    if key:
        return hmac.new(key, head, hashlib.sha256)
    return _Crc32(head)


__all__ = ["VERSION", "KeySource", "binding", "seal", "seal_into", "unseal"]
