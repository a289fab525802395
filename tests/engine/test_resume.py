"""task_states given back to a run, as in Prefect Core 1: finished states are kept, unfinished
mapped children run, a Paused state stays Paused until resumed; the resume recipe
``task_states={**previous.result, task: Resume()}`` finishes a flow that paused."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import Flow, HeadwaterError, Resume, unmapped
from headwater.model.states import Mapped, Paused, Pending, Skipped, Success
from tests.flows import fidelity as F
from tests.flows.targets import calls_in


def test_the_resume_recipe_runs_a_map_downstream_of_a_paused_task(executor: object) -> None:
    with Flow("resume-map") as f:
        g = F.gate()
        m = F.double.map([1, 2, 3], upstream_tasks=[unmapped(g)])
        t = F.total(m)
        over = F.double.map(F.gate_list())  # a map over the paused task's own output
    first = f.run(executor=executor)
    assert first.is_paused() and first.result[m].counts() == {"Pending": 3}
    [gl] = [task for task in f.upstream_tasks(over)]
    second = f.run(executor=executor, task_states={**first.result, g: Resume(), gl: Resume()})
    assert second.is_successful(), second.message
    assert [c.result for c in second.result[m].map_states] == [2, 4, 6]
    assert second.result[t].result == 12
    assert [c.result for c in second.result[over].map_states] == [2, 4, 6]


@pytest.mark.parametrize("batch_size", [1, 2])
def test_unfinished_children_run_and_finished_ones_are_kept(
    executor: object, tmp_path: Path, batch_size: int
) -> None:
    calls = tmp_path / "calls.txt"
    with Flow("children") as f:
        m = F.noted_double.map([1, 2, 3, 4, 5], calls=unmapped(str(calls)), batch_size=batch_size)
        t = F.total(m)
    given = Mapped(
        map_states=[
            Success(result=100, map_index=0),
            Pending(map_index=1),
            None,  # a child nobody knows about runs too
            Success(result=400),  # its map index is taken from its position
            Pending(),
        ]
    )
    state = f.run(executor=executor, task_states={m: given})
    assert state.is_successful(), state.message
    assert [c.result for c in state.result[m].map_states] == [100, 4, 6, 400, 10]
    assert [c.map_index for c in state.result[m].map_states] == [0, 1, 2, 3, 4]
    assert state.result[t].result == 520
    assert sorted(calls_in(calls)) == ["noted_double[1]", "noted_double[2]", "noted_double[4]"]


def test_a_paused_initial_state_stays_paused_until_resumed(
    executor: object, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    with Flow("paused") as f:
        a = F.noted(str(calls), 1)
        b = F.total([a, 2])
        m = F.noted_double.map([1, 2, 3], calls=unmapped(str(calls)))
    paused_child = Mapped(map_states=[None, Paused("wait for me", map_index=1), None])
    first = f.run(executor=executor, task_states={a: Paused("ask first"), m: paused_child})
    assert first.is_paused()
    assert type(first.result[a]) is Paused and first.result[b].is_pending()
    assert [type(c) for c in first.result[m].map_states] == [Success, Paused, Success]
    assert sorted(calls_in(calls)) == ["noted_double[0]", "noted_double[2]"]
    resumed_child = Mapped(
        map_states=[Resume() if c.is_paused() else c for c in first.result[m].map_states]
    )
    second = f.run(executor=executor, task_states={**first.result, a: Resume(), m: resumed_child})
    assert second.is_successful() and second.result[b].result == 3
    assert [c.result for c in second.result[m].map_states] == [2, 4, 6]
    assert sorted(calls_in(calls)) == [
        "noted",
        "noted_double[0]",
        "noted_double[1]",
        "noted_double[2]",
    ]


def test_a_given_map_whose_inputs_changed_length_runs_every_child_again(
    executor: object, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    with Flow("longer") as f:
        m = F.noted_double.map([1, 2, 3], calls=unmapped(str(calls)))
    given = Mapped(map_states=[Success(result=100, map_index=0), Pending(map_index=1)])
    state = f.run(executor=executor, task_states={m: given})
    assert state.is_successful() and [c.result for c in state.result[m].map_states] == [2, 4, 6]
    assert len(calls_in(calls)) == 3  # no given child is known to match an element now


def test_a_finished_state_given_to_a_mapped_task_is_kept_whole(executor: object) -> None:
    with Flow("kept") as f:
        m = F.double.map([1, 2, 3])
        t = F.total(m)
    state = f.run(executor=executor, task_states={m: Skipped("not today")})
    assert type(state.result[m]) is Skipped and state.result[m].message == "not today"
    assert state.result[t].is_skipped()


def test_a_mapped_state_whose_children_are_not_states_is_refused() -> None:
    with Flow("odd") as f:
        m = F.double.map([1, 2])
    with pytest.raises(HeadwaterError, match="gives 'double' a Mapped state whose map_states"):
        f.run(task_states={m: Mapped(map_states=[Success(result=2), 4])})


def test_paused_children_pause_the_flow_and_resume_alone(executor: object, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    with Flow("review") as f:
        m = F.pause_odd_unless_resumed.map([1, 2, 3, 4], calls=unmapped(str(calls)))
    first = f.run(executor=executor)
    assert first.is_paused(), first.message
    assert "give the map a Mapped state with Resume() in their place" in (first.message or "")
    assert [type(c) for c in first.result[m].map_states] == [Paused, Success, Paused, Success]
    children = first.result[m].map_states
    again = Mapped(map_states=[Resume() if c.is_paused() else c for c in children])
    second = f.run(executor=executor, task_states={**first.result, m: again})
    assert second.is_successful() and second.result[m].result == [10, 20, 30, 40]
    runs = calls_in(calls)
    assert sorted(runs) == sorted(f"pause_odd_unless_resumed[{i}]" for i in range(4))  # once each
