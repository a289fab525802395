"""``async def`` tasks (issue 13.12): awaited in a fresh event loop, with retries and timeouts
(a timed-out coroutine is cancelled), on every executor and from a thread whose event loop is
already running (what a Jupyter kernel's main thread is; tests/viz/test_notebook.py runs one)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from headwater import Flow
from headwater.engine.calls import await_coroutine, call_function
from headwater.model import states as S
from tests.flows import porting as P


def test_async_tasks_are_awaited(executor: Any) -> None:
    with Flow("async") as f:
        doubled = P.async_double.map([1, 2, 3])
        gathered = P.async_gather(4)
        where = P.async_where()
        after = P.inc(P.async_double(5))  # a plain task downstream gets the value
    state = f.run(executor=executor)
    assert state.is_successful(), state
    assert [c.result for c in state.result[doubled].map_states] == [2, 4, 6]
    assert state.result[gathered].result == [0, 1, 4, 9]
    assert state.result[where].result == {"task_name": "async_where", "map_index": None}
    assert state.result[after].result == 11


def test_async_tasks_retry(executor: Any) -> None:
    with Flow("async-retry") as f:
        flaky = P.async_flaky()
    state = f.run(executor=executor)
    assert state.result[flaky].is_successful(), state.result[flaky]
    assert state.result[flaky].result == 3 and state.result[flaky].run_count == 3


def test_a_timed_out_async_task_is_cancelled(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("async-timeout") as f:
        stuck = P.async_stuck(log)
        quick = P.async_in_time(1)
    state = f.run(executor=executor)
    assert isinstance(state.result[stuck], S.TimedOut), state.result[stuck]
    assert "timed out after 0.5 seconds" in (state.result[stuck].message or "")
    assert state.result[quick].result == 2
    assert P.wait_for_line(log, "cancelled") == ["started", "cancelled"]


def test_signals_raised_in_async_tasks_choose_their_state(executor: Any) -> None:
    with Flow("async-skip") as f:
        skipped = P.async_skip()
    state = f.run(executor=executor)
    assert state.result[skipped].is_skipped()
    assert state.result[skipped].message == "nothing to do"


def test_a_flow_run_from_a_thread_whose_loop_is_running() -> None:
    """As in a Jupyter cell: an event loop already runs in the caller's thread, so the
    coroutine must run elsewhere (asyncio.run would raise here)."""
    with Flow("inside-a-loop") as f:
        doubled = P.async_double(21)
        timed = P.async_in_time(1)

    async def cell() -> S.State:
        return f.run()

    state = asyncio.run(cell())
    assert state.is_successful(), state
    assert state.result[doubled].result == 42 and state.result[timed].result == 2


def test_await_coroutine_runs_in_this_thread_or_beside_a_running_loop() -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    outer: list[int] = []

    async def inside() -> int:
        outer.append(id(asyncio.get_running_loop()))
        return await_coroutine(loop_id(), "t")

    assert isinstance(await_coroutine(loop_id(), "t"), int)
    assert asyncio.run(inside()) != outer[0]  # a fresh loop, not the running one


def test_call_function_awaits_with_and_without_a_timeout() -> None:
    async def plus(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    assert call_function(plus, {"x": 1}, None, "plus") == 2
    assert call_function(plus, {"x": 1}, 5.0, "plus") == 2
