"""LocalResult, S3Result and GCSResult: thin adapters over FSSpecResult.

Design note
-----------
Each adapter only turns its own arguments (a folder, a bucket) into a root URL, keeps
them as attributes for people and tools (``LocalResult.dir``, ``S3Result.bucket``), and
says how to install its file system and what to check when storage fails. Reading,
writing, atomicity, integrity and error handling are FSSpecResult's, once for all.

LocalResult's folder is resolved when the Result is made (on the driver), so every worker
writes to the same absolute path: ``dir``, else ``HEADWATER_RESULTS_DIR``, else
``~/.headwater/results``. It is created on the first write, not before.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from typing import Any

from headwater.errors import ResultLocationError
from headwater.results._fsspec import FSSpecResult
from headwater.results.base import Validator
from headwater.serializers.base import Serializer

RESULTS_DIR_ENV = "HEADWATER_RESULTS_DIR"
"""The environment variable that moves LocalResult's default folder."""

DEFAULT_RESULTS_DIR = "~/.headwater/results"
"""LocalResult's folder when neither ``dir`` nor ``HEADWATER_RESULTS_DIR`` is given."""


class LocalResult(FSSpecResult):
    """A Result stored in a folder on the local file system.

    Args:
        dir: the folder; relative locations resolve under it. Default:
            ``HEADWATER_RESULTS_DIR`` if set, else ``~/.headwater/results``.
        location: a location template (see :meth:`Result.format`).
        serializer: how the value becomes bytes; a PickleSerializer by default.
        value: the value held.
        validators: see :meth:`Result.validate`.
        signing_key: the signing key (see :class:`FSSpecResult`).
        trust_unverified: read unverified results (see :class:`FSSpecResult`).

    >>> import tempfile
    >>> result = LocalResult(dir=tempfile.mkdtemp(), location="{task_name}.pkl")
    >>> written = result.write({"rows": 3}, task_name="load")
    >>> written.location, result.exists("load.pkl"), result.read("load.pkl").value
    ('load.pkl', True, {'rows': 3})
    """

    def __init__(
        self,
        dir: str | os.PathLike[str] | None = None,
        location: str | None = None,
        serializer: Serializer | None = None,
        *,
        value: Any = None,
        validators: Iterable[Validator] | None = None,
        signing_key: str | bytes | None = None,
        trust_unverified: bool = False,
    ) -> None:
        chosen = dir if dir is not None else os.environ.get(RESULTS_DIR_ENV) or DEFAULT_RESULTS_DIR
        self.dir = os.path.abspath(os.path.expanduser(os.fspath(chosen)))
        super().__init__(
            self.dir,
            location,
            serializer,
            value=value,
            validators=validators,
            signing_key=signing_key,
            trust_unverified=trust_unverified,
        )

    def _fix_hint(self) -> str:
        return f"Check that {self.dir!r} can be created and written to, and has free space."

    def __repr__(self) -> str:
        return f"<LocalResult dir={self.dir!r} location={self.location!r}>"


class _BucketResult(FSSpecResult):
    """Shared by S3Result and GCSResult: a root made of a bucket (and an optional prefix)."""

    _scheme = ""

    def __init__(
        self,
        bucket: str,
        location: str | None = None,
        serializer: Serializer | None = None,
        *,
        value: Any = None,
        validators: Iterable[Validator] | None = None,
        signing_key: str | bytes | None = None,
        trust_unverified: bool = False,
        **storage_options: Any,
    ) -> None:
        name = bucket.split("://", 1)[1] if isinstance(bucket, str) and "://" in bucket else bucket
        if not isinstance(name, str) or not name.strip("/"):
            raise ResultLocationError(
                f"{type(self).__name__} needs a bucket name (optionally with a prefix, "
                f"'bucket/prefix'), not {bucket!r}"
            )
        self.bucket = name.strip("/")
        storage_options = self._with_defaults(storage_options)
        super().__init__(
            f"{self._scheme}://{self.bucket}",
            location,
            serializer,
            value=value,
            validators=validators,
            signing_key=signing_key,
            trust_unverified=trust_unverified,
            **storage_options,
        )

    @staticmethod
    def _with_defaults(storage_options: dict[str, Any]) -> dict[str, Any]:
        """The storage options with the backend's defaults added."""
        return storage_options

    def __repr__(self) -> str:
        return f"<{type(self).__name__} bucket={self.bucket!r} location={self.location!r}>"


S3_CONFIG_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 2,
    "retries": {"max_attempts": 2, "mode": "standard"},
}
"""botocore settings S3Result uses unless ``config_kwargs`` gives its own: when the store is
down, an operation fails after about two seconds instead of about ten (two attempts, a short
connect timeout; s3fs's own retry loop around botocore's is turned off)."""


class S3Result(_BucketResult):
    """A Result stored in an S3 bucket (or any S3-compatible store), through s3fs.

    Args:
        bucket: the bucket, optionally with a prefix: ``"my-bucket/results"``.
        location: a location template (see :meth:`Result.format`).
        serializer: how the value becomes bytes; a PickleSerializer by default.
        value: the value held.
        validators: see :meth:`Result.validate`.
        signing_key: the signing key (see :class:`FSSpecResult`).
        trust_unverified: read unverified results (see :class:`FSSpecResult`).
        **storage_options: passed to ``s3fs.S3FileSystem``: ``endpoint_url`` for an
            S3-compatible server, ``key``/``secret``, ``client_kwargs``, ``config_kwargs``
            (botocore settings; headwater's defaults, :data:`S3_CONFIG_DEFAULTS`, bound the
            retries so that an unreachable store fails in about two seconds per operation;
            keys given here win). Credentials otherwise come from the usual AWS environment
            and files.
    """

    _scheme = "s3"
    _install_hint = "the 's3fs' package: pip install 'headwater[s3]'"

    @staticmethod
    def _with_defaults(storage_options: dict[str, Any]) -> dict[str, Any]:
        given = storage_options.get("config_kwargs") or {}
        config = copy.deepcopy({**S3_CONFIG_DEFAULTS, **dict(given)})
        return {**storage_options, "config_kwargs": config}

    def _configure(self, fs: Any) -> None:
        fs.retries = 1  # botocore retries (config_kwargs["retries"]); not again around it

    def _unreachable_hint(self) -> str:
        endpoint = self.storage_options.get("endpoint_url") or "S3"
        retries = self.storage_options["config_kwargs"].get("retries") or {}
        attempts = retries.get("max_attempts", "botocore's default number of")
        return (
            f"Check that {endpoint} is up and that this machine can reach it. Each operation "
            f"gave up after {attempts} attempts; change that with config_kwargs="
            "{'retries': {'max_attempts': n}, 'connect_timeout': seconds}."
        )

    def _fix_hint(self) -> str:
        endpoint = self.storage_options.get("endpoint_url")
        at = f" at {endpoint}" if endpoint else ""
        return (
            f"Check that bucket {self.bucket.split('/')[0]!r} exists, the endpoint{at} is "
            "reachable, and the credentials may read and write it."
        )


class GCSResult(_BucketResult):
    """A Result stored in a Google Cloud Storage bucket, through gcsfs.

    Args:
        bucket: the bucket, optionally with a prefix: ``"my-bucket/results"``.
        location: a location template (see :meth:`Result.format`).
        serializer: how the value becomes bytes; a PickleSerializer by default.
        value: the value held.
        validators: see :meth:`Result.validate`.
        signing_key: the signing key (see :class:`FSSpecResult`).
        trust_unverified: read unverified results (see :class:`FSSpecResult`).
        **storage_options: passed to ``gcsfs.GCSFileSystem``: ``project``, ``token``,
            ``endpoint_url`` for an emulator.
    """

    _scheme = "gcs"
    _install_hint = "the 'gcsfs' package: pip install 'headwater[gcs]'"

    def _fix_hint(self) -> str:
        return (
            f"Check that bucket {self.bucket.split('/')[0]!r} exists, the endpoint is "
            "reachable, and the credentials (token, project) may read and write it."
        )


__all__ = [
    "DEFAULT_RESULTS_DIR",
    "RESULTS_DIR_ENV",
    "S3_CONFIG_DEFAULTS",
    "GCSResult",
    "LocalResult",
    "S3Result",
]
