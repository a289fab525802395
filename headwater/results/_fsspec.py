"""FSSpecResult: the one storage core behind every persisting Result.

Design note
-----------
Every persisting backend is this class with a root URL: LocalResult is a folder,
S3Result is ``s3://bucket``, GCSResult is ``gcs://bucket``, and FSSpecResult itself takes
any fsspec URL (``memory://``, ``file://``, ``abfs://`` ...). The adapters only choose the
root, the storage options and an installation hint; everything else lives here, once.

* Locations are rendered and checked by :mod:`headwater.results._locations`; the full
  path is ``<root>/<location>``. A location never leaves the root.
* Stored bytes are framed by :mod:`headwater.results._payload` (header, length, binding to
  the location and, for :meth:`FSSpecResult.write_at`, to the task run that wrote them,
  HMAC-SHA256 with the key of :mod:`headwater.results.signing`), checked before the
  serializer sees them; a pickle not signed with the key in force is refused unless the
  Result trusts unverified results. Writing streams: a serializer
  with ``dump`` (PickleSerializer) writes straight into the local temporary file, or into
  the one buffer sent to an object store, and the frame is written around it in place, so
  a large result is held once (locally) or twice (for an object store's single PUT) in
  memory, never three times.
* Writes are atomic. On a local file system the bytes go to a temporary file in the same
  folder (``.<name>.<random>.tmp``), then ``os.replace`` puts it in place: a reader sees
  the old file or the new one, also when the writer is killed. A killed writer leaves its
  temporary file behind; nothing reads it, since reads and ``exists`` look at the exact
  location only. There is no ``fsync``: atomicity holds when a process dies; after a
  power loss a result may be missing or empty, which its header then reports. Object
  stores make an object visible only when its single PUT (or its multipart upload)
  completes (for gcsfs, see ``_GCSFS_BOUNDARY``). Other fsspec file systems get one
  ``pipe_file`` call and are as atomic as that is.
* ``exists`` and ``read`` drop fsspec's cached listing for the path first: s3fs and gcsfs
  cache listings per instance, and an object another process wrote would otherwise stay
  invisible. ``exists`` then asks for the object itself (one HEAD).
* Every failure of the storage (endpoint down, permission denied, bucket missing) becomes
  :class:`~headwater.errors.ResultStorageError` naming the location, the full URL and the
  cause, raised ``from`` the original. A missing object is not a failure for ``exists``
  (False), but when it is missing the bucket is checked once per instance, so a missing
  bucket is reported instead of looking like an empty one.
* The file system instance is made lazily and never pickled: Results travel to Dask
  workers, which make their own (also after a fork).
"""

from __future__ import annotations

import copy
import io
import os
import posixpath
import uuid
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from headwater.errors import ResultLocationError, ResultStorageError, SerializationError
from headwater.results import _payload
from headwater.results import signing as _signing
from headwater.results._locations import check_inside, default_location, render
from headwater.results.base import Result, Validator
from headwater.serializers.base import Serializer, runs_code

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from fsspec import AbstractFileSystem

_BUCKET_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})
"""Stores whose root starts with a bucket (container) that must exist before writing."""


_GCSFS_BOUNDARY = b"--==0=="
"""gcsfs frames a single-request upload as multipart with this fixed boundary and does not
check that the bytes do not contain it; bytes that do are cut short at it by any parser that
follows the multipart rules (the emulator's does). Such bytes go up as a one-chunk resumable
upload instead, which sends them unframed and is just as atomic (one more request, for data
that holds these 7 bytes: rare, but a result's header then reports the cut, not the user)."""


class FSSpecResult(Result):
    """A Result stored under any fsspec URL, e.g. ``memory://results`` or ``file:///data``.

    Args:
        root_url: the root every location is relative to.
        location: a location template (see :meth:`Result.format`).
        serializer: how the value becomes bytes; a PickleSerializer by default.
        value: the value held.
        validators: see :meth:`Result.validate`.
        signing_key: the key results are signed with (a str or bytes). When None, the
            flow run's key, else ``HEADWATER_RESULT_SIGNING_KEY``, else the per-user key
            file (:mod:`headwater.results.signing`). A key given here travels with the
            Result when it is pickled (to Dask workers): prefer the others on clusters.
        trust_unverified: read results that are unsigned or not signed with the key in
            force even when reading runs code (pickles): only for storage that nobody but
            you can write to (``HEADWATER_TRUST_UNVERIFIED_RESULTS=true`` does the same).
        **storage_options: passed to the fsspec file system (``endpoint_url``, ``key``...).
    """

    _install_hint = ""
    """How to install the file system's package, for the ImportError."""

    def __init__(
        self,
        root_url: str,
        location: str | None = None,
        serializer: Serializer | None = None,
        *,
        value: Any = None,
        validators: Iterable[Validator] | None = None,
        signing_key: str | bytes | None = None,
        trust_unverified: bool = False,
        **storage_options: Any,
    ) -> None:
        super().__init__(value, location, serializer, validators)
        if not isinstance(root_url, str) or not root_url:
            raise ResultLocationError(
                f"{type(self).__name__} needs a root URL such as 'memory://results' or "
                f"'file:///data/results', not {root_url!r}"
            )
        self.root_url = root_url
        self.storage_options = dict(storage_options)
        self.signing_key = signing_key.encode() if isinstance(signing_key, str) else signing_key
        self.trust_unverified = bool(trust_unverified)
        self._fs: tuple[int, AbstractFileSystem, str] | None = None
        self._bucket_checked = False

    # -- the interface ---------------------------------------------------------------------
    def write(self, value: Any, /, **context: Any) -> Result:
        """Serialize ``value``, store it atomically, and return a new Result holding it.

        Args:
            value: the value to store.
            **context: the run context the location template is rendered with. Without a
                template, a fresh location ``<flow_name>/<task_name>/<random hex>`` is used.

        Returns:
            A new Result with the value and the rendered location.

        Raises:
            ResultLocationError: when the location cannot be rendered or leaves the root.
            SerializationError: when the serializer cannot handle the value.
            SigningKeyError: when no signing key can be had (see :mod:`headwater.results.signing`).
            ResultStorageError: when the storage fails; nothing stored before is lost.
        """
        if self.location is None:
            location = default_location(context)
        else:
            location = render(self.location, context)
        return self.write_at(value, location)

    def write_at(
        self, value: Any, location: str, /, *, identity: Mapping[str, Any] | None = None
    ) -> Result:
        """Store ``value`` at the rendered ``location``, signed and bound to it (and to
        ``identity``, when given), atomically; return a new Result holding it.

        Args:
            value: the value to store.
            location: a rendered location, relative to the root.
            identity: what identifies the task run writing it (JSON-able values); a read
                that asks for an identity accepts only this one (:meth:`read`).

        Raises:
            ResultLocationError: when the location leaves the root.
            SerializationError: when the serializer cannot handle the value.
            SigningKeyError: when no signing key can be had.
            ResultStorageError: when the storage fails; nothing stored before is lost.
        """
        check_inside(location)
        signing = _signing.resolve(self.signing_key, create=True)
        key = signing.key if signing is not None else None
        fill = _filler(self.serializer, value)  # a serializer without dump() runs here
        fs, path = self._path(location)
        try:
            if _is_local(fs):
                _write_local_atomically(
                    path, lambda f: _payload.seal_into(f, fill, key, location, identity)
                )
            else:
                buf = io.BytesIO()
                _payload.seal_into(buf, fill, key, location, identity)
                data = buf.getvalue()  # the buffer itself, not a copy
                del buf
                if _protocol(fs) in ("gs", "gcs") and _GCSFS_BOUNDARY in data:
                    fs.pipe_file(path, data, chunksize=len(data))  # see _GCSFS_BOUNDARY
                else:
                    fs.pipe_file(path, data)
        except SerializationError:
            raise
        except Exception as exc:
            raise self._storage_error("write", location, exc) from exc
        return self._with(value, location)

    def read(self, location: str, /, *, identity: Mapping[str, Any] | None = None) -> Result:
        """Read the value stored at ``location`` and return a new Result holding it.

        Args:
            location: a rendered location, relative to the root.
            identity: when given, the result must have been written with this identity
                (:meth:`write_at`); None checks only the location.

        Raises:
            ResultLocationError: when the location leaves the root.
            ResultStorageError: when nothing is stored there or the storage fails.
            ResultIntegrityError: when the stored bytes are truncated or corrupted (they are
                never deserialized).
            ResultUnverifiedError: when they are unsigned or not signed with the key in force
                and the serializer would run code to read them (unless ``trust_unverified``).
            ResultIdentityError: when they were written for another location or identity.
            SerializationError: when the serializer cannot read the bytes.
        """
        check_inside(location)
        fs, path = self._path(location)
        try:
            if _is_local(fs):  # a plain read: what fsspec adds is not needed here
                with open(path, "rb") as file:
                    payload = file.read()
            else:
                fs.invalidate_cache(path)
                payload = fs.cat_file(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            self._check_bucket(fs, "read", location)
            raise self._storage_error("read", location, exc) from exc
        except Exception as exc:
            raise self._storage_error("read", location, exc) from exc
        data = _payload.unseal(
            payload,
            lambda: _signing.resolve(self.signing_key, create=False),
            self.uri(location),
            location,
            identity=identity,
            runs_code=runs_code(self.serializer),
            trust=_signing.trusts_unverified(self.trust_unverified),
        )
        return self._with(self.serializer.deserialize(data), location)

    def locations(self, prefix: str) -> list[str]:
        """The locations of the results stored under the folder ``prefix``, sorted.

        Args:
            prefix: a folder, relative to the root.

        Raises:
            ResultLocationError: when the prefix leaves the root.
            ResultStorageError: when the storage fails.
        """
        check_inside(prefix)
        fs, path = self._path(prefix)
        try:
            fs.invalidate_cache(path)
            found = fs.find(path)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except Exception as exc:
            raise self._storage_error("list", prefix, exc) from exc
        base = path.strip("/") + "/"
        names = [p.strip("/") for p in found]
        return sorted(
            f"{prefix.rstrip('/')}/{n[len(base) :]}"
            for n in names
            if n.startswith(base) and not posixpath.basename(n).startswith(".")
        )

    def remove(self, location: str) -> None:
        """Delete the result at ``location``; nothing stored there is fine.

        Args:
            location: a rendered location, relative to the root.

        Raises:
            ResultLocationError: when the location leaves the root.
            ResultStorageError: when the storage fails.
        """
        check_inside(location)
        fs, path = self._path(location)
        try:
            fs.rm_file(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except Exception as exc:
            raise self._storage_error("remove", location, exc) from exc

    def exists(self, location: str, /, **context: Any) -> bool:
        """Return whether a result is stored at ``location``, asking the storage itself.

        Args:
            location: a location; when ``context`` is given, a template rendered with it.
            **context: the run context for a template.

        Raises:
            ResultLocationError: when the location cannot be rendered or leaves the root.
            ResultStorageError: when the storage fails or its bucket does not exist.
        """
        location = render(location, context) if context else check_inside(location)
        fs, path = self._path(location)
        try:
            fs.invalidate_cache(path)
            info = fs.info(path)
        except (FileNotFoundError, NotADirectoryError):
            self._check_bucket(fs, "check", location)
            return False
        except Exception as exc:
            raise self._storage_error("check", location, exc) from exc
        return info.get("type") != "directory"

    def uri(self, location: str) -> str:
        """The full URL (or local path) of ``location``, for messages and other tools.

        Args:
            location: a rendered location, relative to the root.

        >>> FSSpecResult("memory://results").uri("etl/x.pkl")
        'memory://results/etl/x.pkl'
        """
        return f"{self.root_url.rstrip('/')}/{location}"

    # -- helpers ---------------------------------------------------------------------------
    def _filesystem(self) -> tuple[AbstractFileSystem, str]:
        """The file system and the root path in it, made on first use in each process."""
        cached = self._fs
        if cached is not None and cached[0] == os.getpid():
            return cached[1], cached[2]
        try:
            from fsspec.core import url_to_fs

            # a copy: clients may change nested options in place (botocore's retries)
            fs, root = url_to_fs(self.root_url, **copy.deepcopy(self.storage_options))
        except ImportError as exc:
            hint = self._install_hint or f"install the fsspec implementation it names ({exc})"
            raise ImportError(f"{type(self).__name__}({self.root_url!r}) needs {hint}") from exc
        except ValueError as exc:
            raise ResultLocationError(
                f"{type(self).__name__} cannot use the root {self.root_url!r}: {exc}. Give an "
                "fsspec URL such as 'memory://results', 'file:///data' or 's3://bucket'."
            ) from exc
        root = root.rstrip("/")
        self._configure(fs)
        self._fs = (os.getpid(), fs, root)
        return fs, root

    def _path(self, location: str) -> tuple[AbstractFileSystem, str]:
        fs, root = self._filesystem()
        return fs, f"{root}/{location}" if root else location

    def _check_bucket(self, fs: AbstractFileSystem, action: str, location: str) -> None:
        """Raise when the root's bucket does not exist (checked once per instance)."""
        if self._bucket_checked or _protocol(fs) not in _BUCKET_PROTOCOLS:
            return
        _, root = self._filesystem()
        bucket = root.split("/", 1)[0]
        try:
            fs.invalidate_cache(bucket)
            fs.info(bucket)
        except FileNotFoundError as exc:
            raise self._storage_error(
                action, location, exc, f"the bucket {bucket!r} does not exist"
            ) from exc
        except Exception as exc:
            raise self._storage_error(action, location, exc) from exc
        self._bucket_checked = True

    def _storage_error(
        self, action: str, location: str, exc: BaseException, problem: str | None = None
    ) -> ResultStorageError:
        where = self.uri(location)
        fix = self._fix_hint()
        if problem is None and isinstance(exc, FileNotFoundError) and action == "read":
            problem = f"nothing is stored there ({type(exc).__name__}: {exc})"
            fix = "Check the location (exists() tells whether a result is stored), or write it."
        elif problem is None and _unreachable(exc):
            problem = f"the storage is down or unreachable ({type(exc).__name__}: {exc})".rstrip(
                ": ."
            )
            fix = self._unreachable_hint()
        elif problem is None:
            problem = f"{type(exc).__name__}: {exc}".rstrip(": .")
        err = ResultStorageError(
            f"{type(self).__name__} could not {action} the result at {location!r} ({where}): "
            f"{problem}. {fix}"
        )
        setattr(err, "location", location)  # noqa: B010 - context for handlers
        setattr(err, "uri", where)  # noqa: B010
        return err

    def _configure(self, fs: AbstractFileSystem) -> None:
        """Adjust a file system just made (a backend's hook)."""

    def _fix_hint(self) -> str:
        return "Check that the root exists, is reachable and may be written to."

    def _unreachable_hint(self) -> str:
        return "Check that the storage is up and that this machine can reach it."

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fs"] = None  # live connections stay in the process that made them
        state["_bucket_checked"] = False
        return state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} root={self.root_url!r} location={self.location!r}>"


def _protocol(fs: AbstractFileSystem) -> str:
    protocol = fs.protocol
    return protocol if isinstance(protocol, str) else protocol[0]


_UNREACHABLE = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ClientConnectorError",
        "ClientConnectionError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "NewConnectionError",
        "MaxRetryError",
    }
)
"""Names of the connection errors of botocore, aiohttp and urllib3 (not imported here)."""


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the storage could not be reached at all."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError) or any(
            c.__name__ in _UNREACHABLE for c in type(current).__mro__
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_local(fs: AbstractFileSystem) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _filler(serializer: Serializer, value: Any) -> Callable[[IO[bytes]], Any]:
    """What writes ``value``'s bytes into a file: the serializer's ``dump`` when it has one
    (streaming), else its bytes, made now (so its errors are its own, not the storage's)."""
    dump = getattr(serializer, "dump", None)
    if callable(dump):
        return lambda f: dump(value, f)
    data = serializer.serialize(value)
    return lambda f: f.write(data)


def _write_local_atomically(path: str, fill: Callable[[IO[bytes]], Any]) -> None:
    """Write a temporary file next to ``path`` with ``fill`` (it may read back what it
    wrote), then rename it into place."""
    folder, name = posixpath.split(path)
    temp = posixpath.join(folder, f".{name[:100]}.{uuid.uuid4().hex[:12]}.tmp")
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:  # 0o666 & ~umask, like any new file (mkstemp would give 0o600)
        fd = os.open(temp, flags, 0o666)
    except FileNotFoundError:  # the folder is made once, not checked at every write
        os.makedirs(folder, exist_ok=True)
        fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "w+b") as out:
            fill(out)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


__all__ = ["FSSpecResult"]
