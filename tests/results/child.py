"""A second process for the Result tests: ``python -m tests.results.child COMMAND RESULT ...``.

RESULT is a file holding a pickled Result (Results travel between processes this way on
Dask too). Commands:

* ``write LOCATION HEX``: write the bytes HEX to LOCATION, print "done".
* ``write-loop LOCATION SIZE``: write ``payload(i, SIZE)`` to LOCATION for i = 0, 1, ...,
  printing i after each write completes, until killed.
* ``write-series TEMPLATE SIZE``: write ``payload(i, SIZE)`` to TEMPLATE rendered with
  ``map_index=i`` for i = 0, 1, ..., printing i after each write completes, until killed.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from typing import Any


def payload(i: int, size: int) -> tuple[int, str, bytes]:
    """A self-checking value: its number, the SHA-256 of its bytes, and the bytes."""
    blob = os.urandom(size)
    return i, hashlib.sha256(blob).hexdigest(), blob


def is_whole(value: Any) -> bool:
    """Whether a value read back is a whole ``payload``."""
    _, digest, blob = value
    return bool(hashlib.sha256(blob).hexdigest() == digest)


def main(argv: list[str]) -> None:
    """Run one command (see the module docstring).

    Args:
        argv: the command and its arguments.
    """
    command, result_file, location, arg = argv
    with open(result_file, "rb") as fh:
        result = pickle.load(fh)
    if command == "write":
        result.location = location
        result.write(bytes.fromhex(arg))
        print("done", flush=True)
    elif command == "write-loop":
        result.location = location
        for i in range(10**9):
            result.write(payload(i, int(arg)))
            print(i, flush=True)
    elif command == "write-series":
        result.location = location
        for i in range(10**9):
            result.write(payload(i, int(arg)), map_index=i)
            print(i, flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")


class RawBytes:
    """A serializer that stores bytes as they are (so a stored object ends as the bytes do)."""

    def serialize(self, value: bytes) -> bytes:
        """Return ``value`` itself.

        Args:
            value: bytes.
        """
        return bytes(value)

    def deserialize(self, data: bytes) -> bytes:
        """Return ``data`` itself.

        Args:
            data: the stored bytes.
        """
        return data


if __name__ == "__main__":
    main(sys.argv[1:])
