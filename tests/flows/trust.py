"""Flows for the trust tests (tests/reliability): cached and checkpointed tasks that count
their real calls in a side-effect file, and what a hostile user plants in storage."""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import struct
import threading
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater import Flow, Parameter, Secret, context, task
from headwater.engine import caching
from headwater.results import Result
from tests.flows.targets import calls_in, note_call

__all__ = ["calls_in", "note_call"]


@task(cache_for=timedelta(hours=1))
def cached_double(x: int, calls: str) -> int:
    note_call(calls)
    return 2 * x


@task(cache_for=timedelta(hours=1), cache_validator=caching.all_parameters)
def cached_by_parameters(calls: str) -> int:
    note_call(calls)
    return 10 * context["parameters"]["n"]


@task(cache_for=timedelta(hours=1), cache_key="shared-double")
def shared_double(x: int, calls: str) -> int:
    note_call(calls)
    return 2 * x


@task(cache_for=timedelta(hours=1), cache_validator=caching.partial_inputs_only(["x"]))
def cached_by_x(x: int, y: int, calls: str) -> int:
    note_call(calls)
    return 100 * x + y


@task(checkpoint=True)
def checkpointed_double(x: int, calls: str) -> int:
    note_call(calls)
    return 2 * x


@task(target="{flow_name}/{name}.pkl")
def made(name: str, calls: str) -> str:
    note_call(calls)
    return f"made {name}"


@task
def environment_value(name: str) -> str | None:
    return os.environ.get(name)


def two_calls_flow(result: Result) -> Flow:
    """One cached task called twice with different arguments."""
    with Flow("two-calls", result=result) as f:
        calls = Parameter("calls")
        cached_double(1, calls)
        cached_double(2, calls)
    return f


def named_flow(flow_name: str, task_name: str, x: int, result: Result) -> Flow:
    """A flow of one cached task, both named as asked."""
    with Flow(flow_name, result=result) as f:
        cached_double(x, Parameter("calls"), task_args={"name": task_name})
    return f


def parameter_flow(result: Result, which: Any = cached_double) -> Flow:
    """A cached task fed by the parameter ``n`` (or, for ``cached_by_parameters``, reading it)."""
    with Flow("by-n", result=result) as f:
        n, calls = Parameter("n"), Parameter("calls")
        if which is cached_by_parameters:
            which(calls)
        else:
            which(n, calls)
    return f


def partial_flow(result: Result) -> Flow:
    with Flow("partial", result=result) as f:
        cached_by_x(Parameter("x"), Parameter("y"), Parameter("calls"))
    return f


def secret_flow(result: Result) -> Flow:
    """A flow with a Secret parameter and a cached task (that does not even use it)."""
    with Flow("with-secret", result=result) as f:
        Secret("token")
        cached_double(Parameter("x"), Parameter("calls"))
    return f


def checkpoint_flow(result: Result) -> Flow:
    with Flow("checkpointed", result=result) as f:
        checkpointed_double(Parameter("n"), Parameter("calls"))
    return f


def targets_flow(result: Result) -> Flow:
    with Flow("targets", result=result) as f:
        calls = Parameter("calls")
        made("a", calls)
        made("b", calls)
    return f


class Trap:
    """Unpickling this makes a folder: proof that planted bytes were (not) unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def format_1(data: bytes, key: bytes | None = None) -> bytes:
    """``data`` framed as headwater wrote results before they were signed by default: a
    13-byte header, then a CRC-32 (or an HMAC with ``key``); no binding."""
    head = struct.pack(">3sBBQ", b"HWR", 1, 1 if key else 0, len(data))
    if key:
        return head + hmac.new(key, head + data, hashlib.sha256).digest() + data
    return head + struct.pack(">I", zlib.crc32(data, zlib.crc32(head))) + data


def planted_pickle(marker: Path, key: bytes | None = None) -> bytes:
    """A pickle that runs code when read, framed the way a Result without a key wrote them."""
    return format_1(pickle.dumps(Trap(marker)), key)


class Loader:
    """A class whose method is a task (it takes ``self``)."""

    factor = 2

    @task(target="{flow_name}/{x}.pkl")
    def load(self, x: int) -> int:
        return x * self.factor


@task(target="{flow_name}/{x}.pkl")
def ambiguous(flow_name: str, x: int) -> str:
    return f"{flow_name}-{x}"


@task(target="{inputs[flow_name]}/{context[flow_name]}-{x}.pkl")
def disambiguated(flow_name: str, x: int) -> str:
    return f"{flow_name}-{x}"


STARTED = threading.Event()
"""Set by ``hold`` once it runs (storage-down tests, LocalExecutor: one process)."""
GO = threading.Event()
"""``hold`` waits for it (at most a minute)."""


@task(checkpoint=True)
def first_write() -> int:
    return 1


@task
def hold(x: int) -> int:
    STARTED.set()
    GO.wait(60)
    return x


@task(checkpoint=True)
def stored(x: int, i: int) -> int:
    return x + i


def storage_down_flow(result: Result, n: int) -> Flow:
    """A checkpoint written, a task that holds until told, then ``n`` checkpoints."""
    with Flow("storage-down", result=result) as f:
        held = hold(first_write())
        for i in range(n):
            stored(held, i)
    return f
