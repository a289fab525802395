"""The flow's own executor (``Flow(executor=...)`` or ``flow.executor = ...``), as in Prefect
Core 1: ``flow.run()`` uses it when given none, and an executor given to ``run`` wins."""

from __future__ import annotations

import os
import threading

import pytest

from headwater import Flow, flow
from headwater.executors import LocalExecutor
from tests.flows.own_executor import where


def expected_place(executor: object) -> tuple[bool, bool]:
    """Whether a task on ``executor`` runs in this process, and in this thread."""
    kind = type(executor).__name__
    if kind == "LocalExecutor":
        return True, True
    if kind == "LocalDaskExecutor" and getattr(executor, "scheduler", "") == "threads":
        return True, False
    return False, False


def place(pid: int, thread: str) -> tuple[bool, bool]:
    """Whether a task that reported ``pid`` and ``thread`` ran in this process, and in this
    thread."""
    here = pid == os.getpid()
    return here, here and thread == threading.current_thread().name


def test_flow_run_uses_the_flows_executor(executor: object) -> None:
    with Flow("own", executor=executor) as f:
        w = where()
    assert f.executor is executor
    assert place(*f.run().result[w].result) == expected_place(executor)


def test_an_executor_set_on_the_flow_later_is_used(executor: object) -> None:
    with Flow("later") as f:
        w = where()
    f.executor = executor
    assert place(*f.run().result[w].result) == expected_place(executor)
    f.executor = None  # back to the default: a LocalExecutor
    assert place(*f.run().result[w].result) == (True, True)


def test_an_executor_given_to_run_wins_over_the_flows(executor: object) -> None:
    with Flow("given", executor=executor) as f:
        w = where()
    assert place(*f.run(executor=LocalExecutor()).result[w].result) == (True, True)


def test_a_flow_function_takes_an_executor_too(executor: object) -> None:
    @flow(executor=executor)
    def located() -> object:
        return where()

    assert place(*located()) == expected_place(executor)


def test_an_executor_that_is_not_one_is_refused_when_set() -> None:
    with pytest.raises(
        TypeError, match=r"got the class LocalExecutor; write executor=LocalExecutor\(\)"
    ):
        Flow("f", executor=LocalExecutor)
    f = Flow("f")
    with pytest.raises(TypeError, match="executor must be an executor such as LocalDaskExecutor()"):
        f.executor = "threads"
