"""State handlers of tasks and flows go through one path (engine/handlers.py): one that raises
ends the run in a Failed state naming it, or in the state its signal asks for, on every
executor, and never escapes flow.run (docs/notices/0003-runner-pipeline.md)."""

from __future__ import annotations

from typing import Any

from headwater.model.states import Failed, Skipped, Success
from tests.flows import handlers


def test_a_task_handler_raising_a_signal_ends_in_that_state(executor: Any) -> None:
    flow, _, _ = handlers.build([])
    state = flow.run(executor=executor)
    [task] = flow.get_tasks("skipped_by_handler")
    assert type(state.result[task]) is Skipped
    assert state.result[task].message == "skipped by its handler"
    assert state.is_successful()


def test_a_flow_handler_raising_at_the_end_fails_the_run_and_keeps_the_task_states(
    executor: Any,
) -> None:
    flow, a, b = handlers.build([handlers.refuse_success])
    state = flow.run(executor=executor)
    assert type(state) is Failed
    assert "refuse_success" in state.message and "ValueError: no success here" in state.message
    assert "flow 'handled'" in state.message
    assert state.result[b].result == 2 and type(state.result[a]) is Success


def test_a_flow_handler_raising_when_the_run_starts_runs_no_task() -> None:
    flow, a, _ = handlers.build([handlers.refuse_running])
    state = flow.run()
    assert type(state) is Failed
    assert "refuse_running" in state.message and "RuntimeError: not today" in state.message
    assert state.result == {}


def test_a_flow_handler_raising_a_signal_ends_in_that_state() -> None:
    flow, _, _ = handlers.build([handlers.skip_on_running])
    state = flow.run()
    assert type(state) is Skipped and state.message == "skipped by its handler"
