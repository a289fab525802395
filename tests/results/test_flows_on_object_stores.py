"""Flows whose tasks checkpoint and keep targets on real object stores (moto's S3 server and
the GCS emulator), on every executor: the values reach the bucket from worker threads and
processes, and a second run reads the target back from the bucket."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fsspec.core import url_to_fs

from headwater.results import FSSpecResult, GCSResult, S3Result
from tests.flows import targets as T
from tests.results.conftest import BUCKET, gcs_options
from tests.support import servers

S3_CREDENTIALS: dict[str, Any] = {
    "key": "testing",
    "secret": "testing",
    "client_kwargs": {"region_name": "us-east-1"},
}
"""Given as storage options, so worker processes started before the test need no
environment: the Result carries them (moto accepts any credentials)."""


def store_result(kind: str, request: pytest.FixtureRequest) -> FSSpecResult:
    """A Result under a fresh prefix of the test bucket on the ``kind`` server."""
    prefix = f"{BUCKET}/flows-{uuid.uuid4().hex[:12]}"
    if kind == "s3":
        server: servers.ServerProcess = request.getfixturevalue("moto")
        return S3Result(prefix, endpoint_url=server.url, **S3_CREDENTIALS)
    server = request.getfixturevalue("gcs")
    return GCSResult(prefix, **gcs_options(server))


def stored_objects(result: FSSpecResult) -> dict[str, bytes]:
    """Every object under the Result's root, read around headwater with a fresh fsspec
    file system: relative path -> bytes."""
    fs, root = url_to_fs(result.uri(""), skip_instance_cache=True, **result.storage_options)
    root = root.rstrip("/")
    return {p[len(root) + 1 :]: bytes(fs.cat_file(p)) for p in fs.find(root)}


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_checkpoints_and_targets_reach_the_bucket_and_are_read_back(
    kind: str, executor: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    result = store_result(kind, request)
    calls = tmp_path / "calls.txt"
    f = T.object_store_flow(result)
    params = {"calls": str(calls), "tag": "v1"}

    first = f.run(parameters=params, executor=executor)
    assert first.is_successful(), first.result
    (squares,) = f.get_tasks("stored_square")
    (total,) = f.get_tasks("stored_total")
    objects = stored_objects(result)
    assert "to-the-store/total-v1.pkl" in objects
    children = first.result[squares].map_states
    for i, child in enumerate(children):
        location = child.result_object.location
        assert location in objects, (location, sorted(objects))
        assert result.read(location).value == i * i
    assert result.read("to-the-store/total-v1.pkl").value == 30
    assert len(T.calls_in(calls)) == 1

    second = f.run(parameters=params, executor=executor)
    assert second.is_successful(), second.result
    assert second.result[total].is_cached() and second.result[total].result == 30
    assert len(T.calls_in(calls)) == 1, "the total ran again although its target exists"
