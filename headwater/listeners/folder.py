"""FolderListener: run a flow once for each new file in a folder, local or in object storage.

Design note
-----------
The folder is listed through fsspec every ``poll`` seconds (a local folder, ``s3://bucket/
prefix/``, ``gs://bucket/prefix/``, any fsspec URL; ``storage_options`` go to the file system).
Only the folder's own files count, not sub-folders; a name must match ``pattern`` (``fnmatch``,
case-sensitive) and must not start with ``.``.

**A file is its name and version.** The version is the store's etag (or GCS generation) when
the listing has one, else the size and modification time; the event's key is ``URL@version``.
So a file is run once, and again only when it changes. The listening loop remembers the keys
that ran beside the run journal, so a restarted listener does not run old files again.

**Half-written files.** On a file system (local, SFTP, ...) a file is taken only once two
listings in a row, ``poll`` seconds apart, saw the same version: a file still being written
keeps changing size. A writer that stalls longer than ``poll`` mid-file defeats this; the safe
marker rule is to write to a name starting with ``.`` (ignored) and rename it when complete,
which is atomic. Object stores (S3, GCS, Azure, memory) show an object only once its upload
is complete, so their files are taken on the first listing that shows them.

**Failures.** A listing that fails (the network, permissions) is logged as a warning and
tried again at the next poll; the listener does not stop. Files are offered in name order;
an offer waits until a run slot takes it (backpressure), so a folder of 10,000 files does not
start 10,000 runs at once.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Mapping
from typing import Any

from headwater.errors import ListenerError
from headwater.listeners.base import Event, EventSink, Listener

__all__ = ["ATOMIC_PROTOCOLS", "FolderListener", "file_version"]

logger = logging.getLogger("headwater.listeners")

ATOMIC_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"})
"""Protocols whose files appear whole (object stores): taken on the first listing."""

_VERSION_FIELDS = ("ETag", "etag", "generation")


def file_version(info: Mapping[str, Any]) -> str:
    """The version of a file from its fsspec listing entry: size and etag (or generation),
    else size and modification time.

    >>> file_version({"size": 3, "ETag": '"9a0364b9e99bb480dd25e1f0284c8555"'})
    '3:etag=9a0364b9e99bb480dd25e1f0284c8555'
    >>> file_version({"size": 3, "mtime": 1700000000.25})
    '3:mtime=1700000000.25'
    """
    size = info.get("size")
    for name in _VERSION_FIELDS:
        value = info.get(name)
        if value:
            return f"{size}:{name.lower()}={str(value).strip(chr(34))}"
    for name in ("mtime", "LastModified", "updated", "last_modified", "modified"):
        value = info.get(name)
        if value is not None:
            return f"{size}:mtime={value}"
    return f"{size}:"


class FolderListener(Listener):
    """Run the flow once for each new file in a folder (see the module's note).

    Args:
        url: the folder: a local path, ``s3://bucket/prefix/``, ``gs://bucket/prefix/``...
        pattern: only files whose names match this glob (``"*.csv"``).
        parameter: the flow parameter that gets each file's URL (a local path for a local
            folder, ``s3://bucket/prefix/name`` otherwise).
        poll: seconds between listings.
        storage_options: options for the fsspec file system (``endpoint_url``, ``anon``...).

    Raises:
        ListenerError: the URL's file system is unknown or its package is not installed, or
            an argument is refused.
    """

    def __init__(
        self,
        url: str,
        pattern: str = "*",
        parameter: str = "path",
        poll: float = 2.0,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        problems = []
        if not isinstance(url, str) or not url.strip():
            problems.append(f"url must be a folder's path or URL, got {url!r}")
        if not isinstance(pattern, str) or not pattern:
            problems.append(f"pattern must be a glob such as '*.csv', got {pattern!r}")
        if not isinstance(parameter, str) or not parameter.isidentifier():
            problems.append(f"parameter must be a parameter's name, got {parameter!r}")
        if isinstance(poll, bool) or not isinstance(poll, int | float) or not poll > 0:
            problems.append(f"poll must be a positive number of seconds, got {poll!r}")
        if problems:
            raise ListenerError(f"FolderListener refused: {'; '.join(problems)}")
        self.url = url
        self.pattern = pattern
        self.parameter = parameter
        self.poll = float(poll)
        self.storage_options = dict(storage_options or {})
        self.parameter_names = frozenset({parameter})
        self._fs, self._root = self._file_system()
        protocols = self._fs.protocol
        protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        self._local = "file" in protocols
        self._atomic = bool(ATOMIC_PROTOCOLS.intersection(protocols))

    def _file_system(self) -> tuple[Any, str]:
        from fsspec.core import url_to_fs

        try:
            fs, root = url_to_fs(self.url, **self.storage_options)
        except ImportError as exc:
            raise ListenerError(
                f"FolderListener({self.url!r}) needs a package for its file system: {exc} "
                f"(pip install 'headwater[s3]' for s3://, 'headwater[gcs]' for gs://)"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise ListenerError(f"FolderListener({self.url!r}) cannot use this URL: {exc}") from exc
        return fs, str(root).rstrip("/") or "/"

    @property
    def source(self) -> str:
        """``folder <the folder's URL>``."""
        return f"folder {self.folder_url}"

    @property
    def folder_url(self) -> str:
        """The folder, as a local path or a URL with its protocol."""
        return self._root if self._local else str(self._fs.unstrip_protocol(self._root))

    def file_url(self, path: str) -> str:
        """What the flow gets for a listed file: a local path, or a URL with its protocol.

        Args:
            path: the file's path as the file system lists it.
        """
        return path if self._local else str(self._fs.unstrip_protocol(path))

    def open(self) -> None:
        """Check that the folder can be listed.

        Raises:
            ListenerError: a local folder that does not exist, or a listing that fails.
        """
        if self._local and not self._fs.isdir(self._root):
            raise ListenerError(
                f"FolderListener: {self._root!r} is not a folder; create it first "
                f"(a listener does not create the folder it watches)"
            )
        try:
            self.scan()
            # an object store lists a prefix that has no objects as empty; its bucket must exist
            bucket = self._root.lstrip("/").split("/", 1)[0]
            if not self._local and bucket and not self._fs.exists(bucket):
                raise FileNotFoundError(f"no bucket {bucket!r}")
        except Exception as exc:
            raise ListenerError(
                f"FolderListener cannot list {self.folder_url!r}: {type(exc).__name__}: {exc}"
            ) from exc

    def scan(self) -> dict[str, str]:
        """List the folder now: each matching file's path -> its version.

        Returns:
            Paths as the file system names them, mapped to :func:`file_version`.
        """
        self._fs.invalidate_cache(self._root)  # another process wrote there: never trust a cache
        try:
            entries = self._fs.ls(self._root, detail=True)
        except FileNotFoundError:
            if self._local:
                raise
            return {}  # an object-store prefix with no objects yet
        found: dict[str, str] = {}
        for info in entries:
            if info.get("type") != "file":
                continue
            path = str(info["name"])
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(".") or not fnmatch.fnmatchcase(name, self.pattern):
                continue
            found[path] = file_version(info)
        return found

    def listen(self, sink: EventSink, stop: threading.Event) -> None:
        """List the folder every ``poll`` seconds and offer each new, complete file."""
        previous: dict[str, str] = {}
        done: set[str] = set()
        failing: str | None = None
        while not stop.is_set():
            try:
                current = self.scan()
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                if message != failing:
                    logger.warning(
                        "FolderListener cannot list %s (trying again every %gs): %s",
                        self.folder_url,
                        self.poll,
                        message,
                    )
                failing = message
                stop.wait(self.poll)
                continue
            if failing is not None:
                logger.info("FolderListener lists %s again.", self.folder_url)
                failing = None
            for path in sorted(current):
                version = current[path]
                if not self._atomic and previous.get(path) != version:
                    continue  # not yet seen twice the same: it may still be being written
                url = self.file_url(path)
                key = f"{url}@{version}"
                if key in done:
                    continue
                admission = sink.put(Event({self.parameter: url}, key=key, label=url))
                if admission.status == "stopped":
                    return
                if admission.status != "busy":
                    done.add(key)
            previous = current
            stop.wait(self.poll)

    def __repr__(self) -> str:
        parts = [repr(self.url)]
        if self.pattern != "*":
            parts.append(f"pattern={self.pattern!r}")
        if self.parameter != "path":
            parts.append(f"parameter={self.parameter!r}")
        if self.poll != 2.0:
            parts.append(f"poll={self.poll:g}")
        return f"FolderListener({', '.join(parts)})"
