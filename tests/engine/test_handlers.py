"""State handlers of tasks and flows go through one path (engine/handlers.py): one that raises
ends the run in a Failed state naming it, or in the state its signal asks for, on every
executor, and never escapes flow.run (docs/notices/0003-runner-pipeline.md)."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.model.states import Failed, Mapped, Skipped, Success
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


def test_a_flow_handler_raising_a_signal_after_the_tasks_ran_keeps_their_states(
    executor: Any,
) -> None:
    flow, a, b = handlers.build([handlers.fail_success])
    state = flow.run(executor=executor)
    assert type(state) is Failed and state.message == "failed by its handler"
    assert state.result[b].result == 2 and type(state.result[a]) is Success


@pytest.mark.parametrize("batch_size", [None, 2])
def test_handlers_of_mapped_children_and_of_the_map_itself(
    executor: Any, batch_size: int | None
) -> None:
    flow, t = handlers.mapped(batch_size)
    states = flow.run(executor=executor).result
    refused = states[t["children_refused"]]
    assert type(refused) is Mapped and refused.result == [0, None, 4, None, 8]
    for i in (1, 3):
        child = refused.map_states[i]
        assert type(child) is Failed and child.map_index == i
        assert child.message == (
            f"State handler 'refuse_running_odd' of task 'double' raised RuntimeError: odd child "
            f"{i} (on Pending -> Running)"
        )
    skipped = states[t["children_skipped"]]
    assert type(skipped) is Mapped and skipped.result == [None, 2, None, 6, None]
    assert skipped.map_states[2].message == "even child 2 skipped by its handler"
    assert type(skipped.map_states[2]) is Skipped
    map_refused = states[t["map_refused"]]
    assert type(map_refused) is Failed, map_refused
    assert "State handler 'refuse_the_map' of task 'double' raised ValueError: no maps here" in (
        map_refused.message
    )
    map_failed = states[t["map_failed"]]
    assert type(map_failed) is Failed and map_failed.message == "the map failed by its handler"


def test_a_handler_asking_for_a_retry_or_a_loop_fails_naming_it(executor: Any) -> None:
    flow, t = handlers.mapped(None)
    states = flow.run(executor=executor).result
    for name, handler, signal in (
        ("retry", "retry_on_running", "RETRY"),
        ("loop", "loop_on_finished", "LOOP"),
    ):
        state = states[t[name]]
        assert type(state) is Failed, state
        assert f"State handler {handler!r} of task {name!r} raised {signal}" in state.message
        assert "a state handler cannot ask for another run" in state.message
    flow, _, b = handlers.build([handlers.loop_on_finished])
    state = flow.run(executor=executor)
    assert type(state) is Failed and "'loop_on_finished' of flow 'handled' raised LOOP" in (
        state.message
    )
    assert state.result[b].result == 2
