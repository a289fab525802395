"""LocalDaskExecutor("processes"): what crosses to the worker processes, counted in them.

Each worker process keeps counters (``_processes._received``: how many times it read each
literal's bytes; ``_processes._calls``: pool calls and nodes it ran); the tasks below read
them where they run and return them, so the figures are the workers' own.
"""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow, task
from headwater.executors import LocalDaskExecutor


@task
def received(x: int) -> tuple[int, dict[str, int]]:
    from headwater.executors import _processes

    return os.getpid(), dict(_processes._received)


@task
def calls(x: int) -> tuple[int, int]:
    from headwater.executors import _processes

    return _processes._calls[0], _processes._calls[1]


@task
def count(xs: list[Any]) -> int:
    return len(xs)


@task
def files_in(folder: str) -> list[str]:
    """The regular files under ``folder`` (multiprocessing keeps a socket and a folder there)."""
    return [p for p in glob.glob(os.path.join(folder, "**"), recursive=True) if os.path.isfile(p)]


def test_each_task_definition_and_the_context_reach_a_worker_process_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 children share one task definition and every node reads the run's context: each
    worker process reads each of them once, however many of its nodes use them."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a run could keep files
    with Flow("ship-once") as flow:
        probes = received.map(list(range(60)))
        again = received.map(list(range(60, 120)), upstream_tasks=[probes])
        count(again)
        files = files_in(str(tmp_path))
    state = flow.run(executor=LocalDaskExecutor("processes", num_workers=2))
    assert state.is_successful(), state.result
    seen: dict[int, dict[str, int]] = {}
    for pid, got in state.result[probes].result + state.result[again].result:
        assert got, "a child ran before its definition reached its process"
        assert set(got.values()) == {1}, got
        seen.setdefault(pid, {}).update(got)
    # per process: the two map definitions and the context at most, read once each
    assert all(len(tokens) <= 3 for tokens in seen.values()), seen
    # literals travel in memory: nothing of the run (its parameters...) is ever on disk
    assert state.result[files].result == []


def test_several_ready_nodes_go_to_a_worker_process_in_one_pool_call() -> None:
    with Flow("chunks") as flow:
        seen = calls.map(list(range(60)), batch_size=1)  # 60 nodes, not batches
        count(seen)
    state = flow.run(executor=LocalDaskExecutor("processes", num_workers=1))
    assert state.is_successful(), state.result
    pool_calls, nodes = max(state.result[seen].result)
    # 60 children ready at once, on one process
    assert nodes >= 3 * pool_calls, (pool_calls, nodes)


@task
def link(previous: tuple[int, int] | None) -> tuple[int, int]:
    from headwater.executors import _processes

    return _processes._calls[0], _processes._calls[1]


def test_the_next_task_of_a_chain_rides_in_the_same_pool_call() -> None:
    """A chain has one ready node at a time: its next links go along in the same call."""
    with Flow("chain") as flow:
        last = link(None)
        for _ in range(29):
            last = link(last)
    state = flow.run(executor=LocalDaskExecutor("processes", num_workers=1), return_tasks=[last])
    assert state.is_successful(), state.result
    pool_calls, nodes = state.result[last].result
    assert nodes >= 30
    assert pool_calls * 5 <= nodes, (pool_calls, nodes)  # up to 6 links per call
