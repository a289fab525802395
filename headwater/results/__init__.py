"""Result objects: a task's output together with where and how it is persisted.

=================  ======================================================================
Result             the interface: value, location template, serializer, validators
MemoryResult       persists nothing (States wrap plain values in it)
LocalResult        a folder (``dir``, else ``HEADWATER_RESULTS_DIR``, else
                   ``~/.headwater/results``)
S3Result           an S3 bucket or any S3-compatible store (s3fs)
GCSResult          a Google Cloud Storage bucket (gcsfs)
FSSpecResult       any fsspec URL (``memory://``, ``file://``, ``abfs://`` ...)
=================  ======================================================================

Locations are templates rendered from the run context and can never leave the Result's
root; writes are atomic; stored bytes carry a header checked before they are deserialized,
signed with HMAC-SHA256 (by default with a per-user key: :mod:`headwater.results.signing`)
and bound to their location. See docs/results.md and docs/notices/0006-results.md. Importing this package imports no storage library: fsspec,
s3fs and gcsfs load on the first read or write.
"""

from __future__ import annotations

from headwater.results._backends import GCSResult, LocalResult, S3Result
from headwater.results._fsspec import FSSpecResult
from headwater.results.base import MemoryResult, Result

__all__ = ["FSSpecResult", "GCSResult", "LocalResult", "MemoryResult", "Result", "S3Result"]
