"""A large result is not copied to be checked or stored (issue 12, item 16): pickling checks
leave plain values out, and a checkpoint streams the value into its file, framed in place.
Measured with tracemalloc on a 64 MiB value: what a step allocates beyond what it keeps."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headwater.engine.nodes import picklable_state
from headwater.model.states import Success
from headwater.results import FSSpecResult, LocalResult
from headwater.serializers import PickleSerializer
from tests.flows import basic

SIZE = 64 << 20


def _extra(step: Callable[[], Any]) -> int:
    """Bytes ``step`` allocated at its peak beyond what was allocated before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_the_pickling_check_does_not_copy_a_large_bytes_result() -> None:
    blob = b"\x01" * SIZE
    state = Success("Task run succeeded.", result=LocalResult(dir="/nowhere", value=blob))
    assert _extra(lambda: picklable_state(state, basic.double)) < SIZE // 8


def test_a_checkpoint_streams_a_large_bytes_value_to_its_file(tmp_path: Path) -> None:
    blob = b"\x01" * SIZE
    result = LocalResult(dir=tmp_path, serializer=PickleSerializer())
    for key in (None, b"a team key"):
        result.signing_key = key
        assert _extra(lambda: result.write(blob, task_name="t")) < SIZE // 4  # noqa: B023
        written = result.write(blob, task_name="t")
        assert written.value is blob
        assert result.read(written.location or "").value == blob


def test_an_object_store_checkpoint_holds_the_value_once_more_at_most() -> None:
    blob = b"\x01" * SIZE
    result = FSSpecResult("memory://large-results")
    written = None

    def write() -> None:
        nonlocal written
        written = result.write(blob, task_name="t")

    # one buffer for the single PUT (the memory file system keeps it: it is the stored copy)
    assert _extra(write) < SIZE * 5 // 4
    assert written is not None and result.read(written.location or "").value == blob
