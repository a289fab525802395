"""State handlers of tasks and flows go through one path (engine/handlers.py): one that raises
ends the run in a Failed state naming it, or in the state its signal asks for, on every
executor, and never escapes flow.run (docs/notices/0003-runner-pipeline.md)."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.model.states import Failed, Mapped, Skipped, State, Success
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


# -- Prefect 1's flow handlers: on_failure and terminal_state_handler ----------------------------


class Calls:
    """Records what a flow's handlers were called with (they run on the driver)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def on_failure(self, flow: Any, state: State) -> None:
        self.seen.append(("on_failure", (flow.name, type(state).__name__, dict(state.result))))

    def transition(self, flow: Any, old: State, new: State) -> None:
        self.seen.append(("transition", (type(old).__name__, type(new).__name__)))


def test_on_failure_is_called_when_the_flow_run_ends_failed(executor: Any) -> None:
    calls = Calls()
    flow, m = handlers.mapped_failing(on_failure=calls.on_failure)
    state = flow.run(executor=executor)
    assert type(state) is Failed
    [(what, (name, kind, result))] = calls.seen
    assert (what, name, kind) == ("on_failure", "mapped", "Failed")
    assert result[m].counts() == {"Success": 2, "Failed": 1}  # it sees the task states
    passing, _, _ = handlers.build([])
    passing.on_failure = calls.on_failure
    assert passing.run(executor=executor).is_successful() and len(calls.seen) == 1


def test_the_terminal_state_handler_sees_the_reference_states_and_may_replace_the_state(
    executor: Any,
) -> None:
    calls = Calls()
    got: list[tuple[str, set[State]]] = []

    def accept_one_failure(flow: Any, state: State, reference: set[State]) -> State | None:
        got.append((type(state).__name__, reference))
        failures = [s for s in reference if s.is_failed()]
        return Success("one failure is fine") if len(failures) == 1 else None

    flow, m = handlers.mapped_failing(
        terminal_state_handler=accept_one_failure,
        on_failure=calls.on_failure,
        state_handlers=[calls.transition],
    )
    state = flow.run(executor=executor)
    assert type(state) is Success and state.message == "one failure is fine"
    assert state.result[m].counts() == {"Success": 2, "Failed": 1}  # the task states are kept
    [(kind, reference)] = got
    assert kind == "Failed"  # as the reference tasks decided it
    assert sorted(s.result for s in reference if s.is_successful()) == [10, 30]  # the children
    # the state handlers see the replacement; on_failure is not called for a Success
    assert calls.seen == [
        ("transition", ("Pending", "Running")),
        ("transition", ("Running", "Success")),
    ]
    kept, _, _ = handlers.build([])  # no failure: the handler returns None, the state stays
    kept.terminal_state_handler = accept_one_failure
    state = kept.run(executor=executor)
    assert type(state) is Success and state.message.startswith("All reference tasks succeeded")
    assert [kind for kind, _ in got] == ["Failed", "Success"]


def test_a_terminal_state_handler_that_raises_or_returns_no_state_fails_the_run_naming_it(
    executor: Any,
) -> None:
    calls = Calls()

    def explode(flow: Any, state: State, reference: set[State]) -> None:
        raise RuntimeError("cannot decide")

    def answer(flow: Any, state: State, reference: set[State]) -> str:
        return "fine"

    flow, a, b = handlers.build([])
    flow.on_failure = calls.on_failure
    flow.terminal_state_handler = explode
    state = flow.run(executor=executor)
    assert type(state) is Failed and state.result[b].result == 2
    assert state.message.startswith(
        "Terminal state handler 'explode' of flow 'handled' raised RuntimeError: cannot decide"
    )
    assert [what for what, _ in calls.seen] == ["on_failure"]  # the run ended Failed
    flow.terminal_state_handler = answer
    state = flow.run(executor=executor)
    assert type(state) is Failed and state.result[b].result == 2
    assert (
        "Terminal state handler 'answer' of flow 'handled' returned 'fine', which is not a State"
        in (state.message)
    )


def test_an_on_failure_callback_that_raises_fails_the_run_naming_it() -> None:
    def grumble(flow: Any, state: State) -> None:
        raise OSError("pager is down")

    flow, m = handlers.mapped_failing(on_failure=grumble)
    state = flow.run()
    assert type(state) is Failed and "'grumble' of flow 'mapped' raised OSError: pager is down" in (
        state.message
    )
    assert state.result[m].counts() == {"Success": 2, "Failed": 1}


def test_flow_handlers_must_be_callable() -> None:
    import pytest

    from headwater import Flow

    with pytest.raises(TypeError, match="Flow 'f': on_failure must be callable, got 'page me'"):
        Flow("f", on_failure="page me")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="terminal_state_handler must be callable"):
        Flow("f", terminal_state_handler=1)  # type: ignore[arg-type]


def test_a_tasks_callbacks_follow_the_state_its_handlers_leave() -> None:
    from headwater.engine.runner import TaskRunner

    calls: list[str] = []

    def forgive(task: Any, old: State, new: State) -> State | None:
        return Success("forgiven") if new.is_failed() else None

    forgiven = handlers.fails_on_two.copy(
        state_handlers=[forgive],
        on_failure=lambda t, s: calls.append(f"failure {s.message}"),
        on_success=lambda t, s: calls.append(f"success {s.message}"),
    )
    state = TaskRunner(forgiven, {"x": 2}).run()
    assert type(state) is Success and calls == ["success forgiven"]  # as in Prefect 1


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
