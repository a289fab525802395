"""Fixtures for the Result tests: real storage servers, and one ``backend`` fixture that runs
a test once per backend (local folder, fsspec memory://, S3 on moto, GCS on the emulator).

The servers start once per session, only when a test asks for them, after the client
environment is in place (credentials; gcsfs's gRPC probe off), and always stop. Each test
gets its own prefix in the shared buckets, so tests never see each other's objects.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from headwater.results import FSSpecResult, GCSResult, LocalResult, S3Result
from tests.support import servers

# gcsfs reads this when it is imported; nothing may import it before this line runs.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

BUCKET = "headwater-tests"
BACKENDS = ["local", "memory", "s3", "gcs"]
SERVER_BACKENDS = ["s3", "gcs"]


@pytest.fixture(scope="session")
def cloud_env() -> Iterator[dict[str, str]]:
    """The client environment for the servers, for the whole session."""
    env = servers.client_environment()
    with servers.environment(env):
        yield env


@pytest.fixture(scope="session")
def moto(cloud_env: dict[str, str]) -> Iterator[servers.ServerProcess]:
    """moto's S3 server, with the test bucket."""
    with servers.start_moto() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(scope="session")
def gcs(cloud_env: dict[str, str]) -> Iterator[servers.ServerProcess]:
    """gcp-storage-emulator (through the fixing launcher), with the test bucket."""
    with servers.start_gcs_emulator() as server:
        server.create_bucket(BUCKET)
        yield server


def gcs_options(server: servers.ServerProcess) -> dict[str, Any]:
    """gcsfs options for the emulator."""
    return {"endpoint_url": server.url, "token": "anon", "project": "test"}


@dataclass
class Backend:
    """One storage backend for one test: makes Results under a fresh root.

    Attributes:
        kind: "local", "memory", "s3" or "gcs".
        make: ``make(location=None, serializer=None, **kwargs)`` -> a fresh Result.
        server: the server behind it, if any.
        crosses_processes: whether another process can see what this one writes.
    """

    kind: str
    make: Callable[..., FSSpecResult]
    server: servers.ServerProcess | None = None
    crosses_processes: bool = True
    _raw: Any = None

    def raw_fs(self, result: FSSpecResult, location: str) -> tuple[Any, str]:
        """An fsspec file system and path for ``location``, independent of ``result``'s."""
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(result.uri(location), **result.storage_options)
        if self._raw is None:  # one fresh instance per test: making an S3 client is slow
            self._raw = type(fs)(**fs.storage_options, skip_instance_cache=True)
        return self._raw, path

    def put_raw(self, result: FSSpecResult, location: str, data: bytes) -> None:
        """Store ``data`` at ``location`` directly, around the Result."""
        fs, path = self.raw_fs(result, location)
        if self.kind == "local":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        fs.pipe_file(path, data)

    def get_raw(self, result: FSSpecResult, location: str) -> bytes:
        """The bytes stored at ``location``, read around the Result."""
        fs, path = self.raw_fs(result, location)
        return bytes(fs.cat_file(path))


def make_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Build the Backend of ``kind`` for one test (starting its server if needed)."""
    prefix = uuid.uuid4().hex[:12]
    if kind == "local":
        root = tmp_path / "results"
        return Backend(kind, lambda *a, **kw: LocalResult(str(root), *a, **kw))
    if kind == "memory":
        return Backend(
            kind,
            lambda *a, **kw: FSSpecResult(f"memory://headwater-tests/{prefix}", *a, **kw),
            crosses_processes=False,
        )
    if kind == "s3":
        server: servers.ServerProcess = request.getfixturevalue("moto")
        return Backend(
            kind,
            lambda *a, **kw: S3Result(f"{BUCKET}/{prefix}", *a, endpoint_url=server.url, **kw),
            server,
        )
    if kind == "gcs":
        server = request.getfixturevalue("gcs")
        return Backend(
            kind,
            lambda *a, **kw: GCSResult(
                f"{BUCKET}/{prefix}",
                *a,
                endpoint_url=server.url,
                token="anon",
                project="test",
                **kw,
            ),
            server,
        )
    raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every backend in turn."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=[k for k in BACKENDS if k != "memory"])
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every backend another process can see (for tests with a second process)."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=SERVER_BACKENDS)
def server_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The object-store backends."""
    return make_backend(request.param, request, tmp_path)
