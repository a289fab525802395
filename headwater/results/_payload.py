"""The stored form of a result: a small header, a check, then the serializer's bytes.

Design note
-----------
Every persisted result is framed so that a reader can tell a whole, untouched payload
from anything else *before* the serializer sees a byte (unpickling runs code)::

    offset  size  field
    0       3     magic b"HWR"
    3       1     format version (1)
    4       1     flags: bit 0 set = signed
    5       8     length of the data, unsigned big-endian
    13      4|32  check over bytes 0-12 and the data:
                  unsigned: CRC-32 (detects truncation and accidental corruption)
                  signed:   HMAC-SHA256 with the signing key (detects tampering too)
    17|45   ...   data (what the serializer made)

Reading refuses, with :class:`~headwater.errors.ResultIntegrityError` naming the location:
bytes without the header (not written by a headwater Result, or from another format
version), a length that does not match (truncated, or bytes appended), a check that does
not match, a signed payload when no key is set, and an unsigned one when a key is set
(otherwise stripping the signature would defeat it). The header costs 17 bytes (45
signed) and one pass of CRC-32 or SHA-256 over the data.

:func:`seal_into` writes the same frame into a file as a serializer streams the data into
it (a placeholder header first, the real one once the length is known; the check reads the
data back in chunks), so a large result is never held twice in memory to be framed.

The key is ``signing_key=`` on the Result or, when that is not given, the environment
variable ``HEADWATER_RESULT_SIGNING_KEY``, read when the result is written or read (so on
Dask workers it comes from the workers' environment and never travels in the task graph).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
import zlib
from collections.abc import Callable
from typing import IO, Any

from headwater.errors import ResultIntegrityError

SIGNING_KEY_ENV = "HEADWATER_RESULT_SIGNING_KEY"
"""The environment variable holding the signing key when a Result is given none."""

MAGIC = b"HWR"
VERSION = 1
FLAG_SIGNED = 0x01
_HEAD = struct.Struct(">3sBBQ")
_CRC = struct.Struct(">I")
_MAC_SIZE = hashlib.sha256().digest_size
_CHUNK = 8 << 20
"""Bytes read back at a time to check data streamed into a file."""


def resolve_key(explicit: bytes | None) -> bytes | None:
    """The signing key in force: ``explicit``, else the environment's, else None.

    Args:
        explicit: the key given to the Result.
    """
    if explicit:
        return explicit
    value = os.environ.get(SIGNING_KEY_ENV, "")
    return value.encode() if value else None


def seal(data: bytes, key: bytes | None) -> bytes:
    """Frame ``data`` with the header and its check (an HMAC when ``key`` is given).

    Args:
        data: the serializer's bytes.
        key: the signing key, or None for an unsigned CRC-32 check.

    >>> seal(b"abc", None).hex(" ")
    '48 57 52 01 00 00 00 00 00 00 00 00 03 67 6d 28 43 61 62 63'
    """
    head = _HEAD.pack(MAGIC, VERSION, FLAG_SIGNED if key else 0, len(data))
    return b"".join((head, _check(head, data, key), data))


def seal_into(file: IO[bytes], write: Callable[[IO[bytes]], Any], key: bytes | None) -> None:
    """Write the framed payload of the data ``write`` streams into ``file``.

    The header goes first with a zero length and check, then ``write(file)`` writes the data
    (a serializer's ``dump``), then the data is read back in chunks for its check and the
    header is written in place: the data is never held whole in memory by the framing.

    Args:
        file: a binary file open for writing and reading, positioned where the payload
            starts.
        write: writes the serializer's bytes into the file it is given.
        key: the signing key, or None for an unsigned CRC-32 check.

    >>> import io
    >>> buf = io.BytesIO()
    >>> seal_into(buf, lambda f: f.write(b"abc"), b"k")
    >>> buf.getvalue() == seal(b"abc", b"k")
    True
    """
    start = file.tell()
    prefix = _HEAD.size + (_MAC_SIZE if key else _CRC.size)
    file.write(bytes(prefix))
    write(file)
    end = file.tell()
    head = _HEAD.pack(MAGIC, VERSION, FLAG_SIGNED if key else 0, end - start - prefix)
    checker = _checker(head, key)
    if isinstance(file, io.BytesIO):  # in memory: check the buffer itself
        with file.getbuffer() as view:
            checker.update(view[start + prefix : end])
    else:
        file.seek(start + prefix)
        chunk = memoryview(bytearray(min(_CHUNK, max(1, end - start - prefix))))
        while n := file.readinto(chunk):  # type: ignore[attr-defined]
            checker.update(chunk[:n])
    file.seek(start)
    file.write(head + checker.digest())
    file.seek(end)


def unseal(payload: bytes, key: bytes | None, where: str) -> bytes:
    """Return the data inside ``payload`` after checking it is whole and untouched.

    Args:
        payload: the stored bytes.
        key: the signing key in force, or None.
        where: the location, for messages.

    Raises:
        ResultIntegrityError: when the payload is not whole, not ours, or tampered with.

    >>> unseal(seal(b"abc", b"k"), b"k", "x")
    b'abc'
    >>> unseal(seal(b"abc", b"k")[:-1], b"k", "x.pkl")
    Traceback (most recent call last):
    ...
    headwater.errors.ResultIntegrityError: Result at 'x.pkl' is truncated: ...
    """
    size = len(payload)
    if size < _HEAD.size or payload[:3] != MAGIC:
        raise ResultIntegrityError(
            f"Result at {where!r} has no headwater header ({size} bytes): it was not written "
            "by a headwater Result, or it is corrupted. Delete it or write it again."
        )
    _, version, flags, length = _HEAD.unpack_from(payload)
    if version != VERSION:
        raise ResultIntegrityError(
            f"Result at {where!r} has format version {version}; this headwater reads version "
            f"{VERSION}. Read it with the headwater that wrote it, or write it again."
        )
    signed = bool(flags & FLAG_SIGNED)
    if signed and not key:
        raise ResultIntegrityError(
            f"Result at {where!r} is signed, but no signing key is set: give the Result "
            f"signing_key= or set {SIGNING_KEY_ENV} to the key it was written with."
        )
    if key and not signed:
        raise ResultIntegrityError(
            f"Result at {where!r} is not signed, but a signing key is set, so it is refused "
            "unread (anyone could have written it). Write it again with the key, or read it "
            f"with a Result that has no signing key (and {SIGNING_KEY_ENV} unset)."
        )
    start = _HEAD.size + (_MAC_SIZE if signed else _CRC.size)
    if size != start + length:
        state = "truncated" if size < start + length else "longer than its header says"
        raise ResultIntegrityError(
            f"Result at {where!r} is {state}: {size} bytes stored, {start + length} expected. "
            "A write was cut short or the object was changed; write it again."
        )
    view = memoryview(payload)
    expected = _check(view[: _HEAD.size], view[start:], key if signed else None)
    if not hmac.compare_digest(expected, view[_HEAD.size : start]):
        what = (
            "its signature does not match: it was tampered with, or signed with another key"
            if signed
            else "its CRC-32 does not match: it is corrupted"
        )
        raise ResultIntegrityError(
            f"Result at {where!r} is refused unread: {what}. Write it again."
        )
    return bytes(view[start:])


def _check(head: bytes | memoryview, data: bytes | memoryview, key: bytes | None) -> bytes:
    checker = _checker(head, key)
    checker.update(data)
    return checker.digest()


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


__all__ = ["SIGNING_KEY_ENV", "resolve_key", "seal", "seal_into", "unseal"]
