"""Run gcp-storage-emulator with three fixes for testing against it with gcsfs.

Design note
-----------
This module is started as a script (``python tests/support/gcs_emulator.py start --host
127.0.0.1 --port PORT --in-memory``) by :mod:`tests.support.servers`. It patches the
emulator in its own process, then hands over to the emulator's own ``main()``:

1. Backlog: the emulator serves one request at a time from an
   ``http.server.HTTPServer`` whose listen backlog is 5. gcsfs opens many connections at
   once; the kernel drops the surplus and gcsfs retries them after 1, 3, 7... seconds, so
   runs crawl or hang. Raising ``request_queue_size`` lets connections wait in the queue.
2. Trailing ``\\r``: the emulator parses ``multipart/related``
   uploads with the ``email`` parser, which treats a ``\\r`` just before gcsfs's bare-LF
   delimiter as part of a CRLF line ending and drops it: an object whose last byte is
   ``\\r`` loses that byte. :func:`split_related` reads the framing byte-exactly instead:
   the line ending that follows the first boundary line (LF from gcsfs, CRLF from
   google-cloud-storage) is the one that precedes every delimiter.
3. A server thread that dies (the port is taken) ends the process; the emulator would
   otherwise wait forever for it, and the launcher could not try another port.

Nothing here is part of headwater; the bugs lie in the emulator, not in our code.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import sys
import threading
from typing import Any

REQUEST_QUEUE_SIZE = 1024
"""Listen backlog for the emulator's server (the stdlib default is 5)."""


def split_related(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a ``multipart/related`` body into ``(headers, payload)`` parts, byte-exactly.

    Args:
        content_type: the request's Content-Type header (it carries the boundary).
        body: the request body.

    Returns:
        The parts in order; header names are lower-cased.

    Raises:
        ValueError: when the body is not framed by the boundary the header names.

    >>> ct = 'multipart/related; boundary="==0=="'
    >>> body = b'--==0==\\nContent-Type: a/b\\n\\n{}\\n--==0==\\nContent-Type: c/d\\n\\nx\\r\\n--==0==--'
    >>> [(h["content-type"], p) for h, p in split_related(ct, body)]
    [('a/b', b'{}'), ('c/d', b'x\\r')]
    """
    boundary = _boundary(content_type).encode()
    opener = b"--" + boundary
    start = body.find(opener)
    if start < 0:
        raise ValueError(f"multipart body does not contain its boundary {boundary!r}")
    after = start + len(opener)
    newline = b"\r\n" if body[after : after + 2] == b"\r\n" else b"\n"
    delimiter = newline + opener
    parts: list[tuple[dict[str, str], bytes]] = []
    pos = after + len(newline)
    while True:
        end = body.find(delimiter, pos)
        if end < 0:
            raise ValueError("multipart body has no closing delimiter")
        parts.append(_part(body[pos:end], newline))
        pos = end + len(delimiter)
        if body[pos : pos + 2] == b"--":
            return parts
        pos += len(newline)


def _boundary(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip().strip('"')
    raise ValueError(f"Content-Type {content_type!r} names no boundary")


def _part(raw: bytes, newline: bytes) -> tuple[dict[str, str], bytes]:
    head, sep, payload = raw.partition(newline + newline)
    if not sep:  # a part with no headers starts with the blank line itself
        head, payload = b"", raw[len(newline) :]
    headers: dict[str, str] = {}
    for line in head.split(newline):
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if headers.get("content-transfer-encoding", "").lower() == "base64":
        payload = base64.b64decode(payload)
    return headers, payload


def install_fixes() -> None:
    """Patch the emulator in this process (the fixes in the module docstring)."""
    from gcp_storage_emulator import server

    http.server.HTTPServer.request_queue_size = REQUEST_QUEUE_SIZE
    original = server._read_data

    def read_data(request_handler: Any, query: Any) -> Any:
        content_type = request_handler.headers.get("Content-Type") or ""
        if not content_type.startswith("multipart/related"):
            return original(request_handler, query)
        raw = server._decode_raw_data(server._read_raw_data(request_handler), request_handler)
        if not raw:
            return None
        (meta_headers, meta), (headers, content) = split_related(content_type, raw)[:2]
        return {
            "meta": json.loads(meta),
            "content": content,
            "content-type": headers.get("content-type", "application/octet-stream")
            .split(";")[0]
            .strip(),
        }

    server._read_data = read_data

    def die(args: threading.ExceptHookArgs) -> None:
        threading.__excepthook__(args)  # print the traceback as usual
        os._exit(1)

    threading.excepthook = die


def main(argv: list[str]) -> None:
    """Install the fixes, then run the emulator's own command line with ``argv``.

    Args:
        argv: the emulator's arguments, e.g. ``["start", "--port", "9023", "--in-memory"]``.
    """
    install_fixes()
    from gcp_storage_emulator.__main__ import main as emulator_main

    emulator_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
