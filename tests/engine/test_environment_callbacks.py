"""PIN-12's environment callbacks: an executor's on_start and on_exit run once around each flow
run, on the driver, on every executor; their errors end the run Failed, never swallowed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow
from headwater.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor
from headwater.model import states as S
from headwater.taskgraph import Graph
from tests.flows import porting_fidelity as P


def two_tasks(marker: Path) -> tuple[Flow, Any, Any]:
    with Flow("around") as f:
        a = P.noted(str(marker), 1)
        b = P.noted(str(marker), a)
    return f, a, b


def attach(executor: Any, marker: Path, fail: str | None = None) -> P.Callbacks:
    """Give ``executor`` callbacks that note their calls in ``marker`` (one may raise)."""
    callbacks = P.Callbacks(marker, fail)
    executor.on_start, executor.on_exit = callbacks.on_start, callbacks.on_exit
    return callbacks


def test_on_start_and_on_exit_run_once_on_the_driver_around_the_tasks(
    executor: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "calls"
    callbacks = P.Callbacks(marker)
    pids: list[int] = []

    def on_start() -> None:
        pids.append(os.getpid())
        callbacks.on_start()

    executor.on_start, executor.on_exit = on_start, callbacks.on_exit
    f, _, b = two_tasks(marker)
    state = f.run(executor=executor)
    assert state.is_successful(), state
    assert state.result[b].result == 1
    assert callbacks.calls() == ["start", "task", "task", "exit"]
    assert pids == [os.getpid()]
    f.run(executor=executor)  # once per run
    assert callbacks.calls() == ["start", "task", "task", "exit"] * 2


def test_on_start_that_raises_fails_the_run_before_any_task_and_skips_on_exit(
    executor: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "calls"
    callbacks = attach(executor, marker, fail="on_start")
    seen: list[S.State] = []
    f, a, b = two_tasks(marker)
    f.state_handlers = [lambda flow, old, new: seen.append(new)]
    state = f.run(executor=executor)
    assert type(state) is S.Failed
    said = (
        f"the on_start callback 'Callbacks.on_start' of {executor!r} raised "
        "ConnectionError: the cluster did not answer"
    )
    assert state.message == f"The flow run's tasks did not run: {said}."
    assert isinstance(state.exception, ConnectionError)
    assert "the cluster did not answer" in (state.traceback or "")
    assert callbacks.calls() == ["start"]  # no task, no on_exit
    for t in (a, b):
        assert type(state.result[t]) is S.Pending
        assert state.result[t].message == f"Not run: {said}."
    assert [type(s) for s in seen] == [S.Running, S.Failed]  # the flow's handlers see it


def test_on_exit_that_raises_after_a_successful_run_fails_it_and_keeps_the_task_states(
    executor: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "calls"
    callbacks = attach(executor, marker, fail="on_exit")
    f, a, b = two_tasks(marker)
    state = f.run(executor=executor)
    assert type(state) is S.Failed
    assert state.message == (
        "After the run ended Success (All reference tasks succeeded.), the on_exit callback "
        f"'Callbacks.on_exit' of {executor!r} raised OSError: the metrics store is full."
    )
    assert isinstance(state.exception, OSError)
    assert state.result[b].is_successful() and state.result[b].result == 1
    assert callbacks.calls() == ["start", "task", "task", "exit"]


def test_on_exit_runs_after_a_failed_run_and_its_error_is_added_to_the_message(
    executor: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "calls"
    callbacks = attach(executor, marker, fail="on_exit")
    with Flow("fails") as f:
        bad = P.fails(1)
    state = f.run(executor=executor)
    assert type(state) is S.Failed
    assert state.message.startswith(
        "After the run ended Failed (Some reference tasks failed: 'fails'.), the on_exit "
        "callback 'Callbacks.on_exit'"
    )
    assert type(state.result[bad]) is S.Failed
    assert callbacks.calls() == ["start", "exit"]


class BrokenExecutor(LocalExecutor):
    """A LocalExecutor whose submit fails: an error that escapes the run itself."""

    def submit(
        self, graph: Graph, annotations: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        raise RuntimeError("the executor broke")


def test_an_error_escaping_the_run_still_calls_on_exit_and_keeps_both_errors(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "calls"
    callbacks = P.Callbacks(marker, fail="on_exit")
    executor = BrokenExecutor(on_start=callbacks.on_start, on_exit=callbacks.on_exit)
    f, _, _ = two_tasks(marker)
    with pytest.raises(RuntimeError, match="the executor broke") as err:
        f.run(executor=executor)
    assert callbacks.calls() == ["start", "exit"]
    assert err.value.__notes__ == [
        "Then the on_exit callback 'Callbacks.on_exit' of LocalExecutor() raised OSError: "
        "the metrics store is full"
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: LocalExecutor(**kw),
        lambda **kw: LocalDaskExecutor("threads", **kw),
        lambda **kw: LocalDaskExecutor("processes", **kw),
        lambda **kw: DaskExecutor(address="tcp://127.0.0.1:1", **kw),
    ],
)
def test_every_executor_takes_callbacks_and_refuses_what_cannot_be_called(make: Any) -> None:
    def hello() -> None: ...

    executor = make(on_start=hello, on_exit=hello)
    assert executor.on_start is hello and executor.on_exit is hello
    assert make().on_start is None
    with pytest.raises(TypeError, match=r"^on_start must be a function taking no arguments "
                       r"\(or None\), got 'hello'$"):  # fmt: skip
        make(on_start="hello")
    with pytest.raises(TypeError, match=r"^on_exit must be a function taking no arguments"):
        executor.on_exit = 3
