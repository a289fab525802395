"""apply_map (issue 13.8): a function that builds tasks, conditions included, mapped over
elements; each element decides its own branch. Runs on every executor."""

from __future__ import annotations

from typing import Any

import pytest

from headwater import (
    Flow,
    FlowDefinitionError,
    Parameter,
    Task,
    apply_map,
    case,
    flatten,
    flow,
    unmapped,
)
from headwater.model import states as S
from tests.flows import porting as P


def results(state: S.State, task: Task) -> list[Any]:
    return [c.result for c in state.result[task].map_states]


def kinds(state: S.State, task: Task) -> list[str]:
    return [type(c).__name__ for c in state.result[task].map_states]


def test_a_case_inside_the_function_decides_per_element(executor: Any) -> None:
    with Flow("per-element") as f:
        d, i, m = apply_map(P.branch_per_element, [1, 2, 3, 4])
    state = f.run(executor=executor)
    assert state.is_successful(), state
    assert kinds(state, d) == ["Skipped", "Success", "Skipped", "Success"]
    assert results(state, d)[1::2] == [4, 8]
    assert kinds(state, i) == ["Success", "Skipped", "Success", "Skipped"]
    assert results(state, i)[::2] == [2, 4]
    assert results(state, m) == [2, 4, 4, 8]
    (a,) = [t for t in f.tasks if t.name == "always"]
    # the gate is checked per element before the trigger: always_run cannot run a branch
    # its element did not take
    assert kinds(state, a) == ["Skipped", "Success", "Skipped", "Success"]
    assert [c.reason for c in state.result[a].map_states[::2]] == ["condition", "condition"]
    assert results(state, a)[1::2] == ["ran 2", "ran 4"]


def test_prefect_1s_example_merges_a_branch_with_the_element_itself(executor: Any) -> None:
    with Flow("inc-if-even") as f:
        out = apply_map(P.inc_if_even, range(6))
    state = f.run(executor=executor)
    assert state.is_successful(), state
    assert results(state, out) == [1, 1, 3, 3, 5, 5]


def test_maps_over_a_result_known_only_at_run_time(executor: Any) -> None:
    with Flow("run-time") as f:
        xs = Parameter("xs")
        out = apply_map(P.inc_if_even, xs)
        summed = P.total(out)
    state = f.run(parameters={"xs": [2, 5, 8]}, executor=executor)
    assert results(state, out) == [3, 5, 9]
    assert state.result[summed].result == 17


def test_unmapped_and_flattened_arguments(executor: Any) -> None:
    with Flow("args") as f:
        ten = P.inc(9)
        plain = apply_map(P.offset_by, [1, 2, 3], unmapped(10))
        task_arg = apply_map(P.offset_by, x=[1, 2], y=unmapped(ten))
        zipped = apply_map(P.offset_by, [1, 2], [10, 20])
        flat = apply_map(P.inc_if_even, flatten([[1, 2], [3]]))
    state = f.run(executor=executor)
    assert results(state, plain) == [22, 24, 26]
    assert results(state, task_arg) == [22, 24]
    assert results(state, zipped) == [22, 44]
    assert results(state, flat) == [1, 3, 3]


def test_one_failing_element_fails_only_its_own_chain(executor: Any) -> None:
    def checked(x: Any) -> Any:
        return P.double(P.fail_on_three(x))

    with Flow("one-fails") as f:
        out = apply_map(checked, [1, 2, 3, 4])
        summed = P.total(out)
    state = f.run(executor=executor)
    assert state.is_failed()
    assert kinds(state, out) == ["Success", "Success", "TriggerFailed", "Success"]
    assert results(state, out)[:2] == [2, 4]
    assert isinstance(state.result[summed], S.TriggerFailed)


def test_a_case_around_apply_map_gates_every_task_it_makes(executor: Any) -> None:
    with Flow("outer-case") as f:
        go = Parameter("go", default=False)
        with case(go, True):
            out = apply_map(P.inc_if_even, [1, 2])
    skipped = f.run(executor=executor)
    others = [s for t, s in skipped.result.items() if not isinstance(t, Parameter)]
    runs = [c for s in others for c in (s.map_states if isinstance(s, S.Mapped) else (s,))]
    assert len(runs) > 5 and all(r.is_skipped() for r in runs), skipped.result
    taken = f.run(parameters={"go": True}, executor=executor)
    assert results(taken, out) == [1, 3]


def test_gates_reach_children_run_in_batches(executor: Any) -> None:
    with Flow("batched") as f:
        out = apply_map(P.branch_in_batches, [1, 2, 3, 4, 5])
    state = f.run(executor=executor)
    assert kinds(state, out) == ["Skipped", "Success", "Skipped", "Success", "Skipped"]
    assert results(state, out)[1::2] == ["ran 2", "ran 4"]


def test_an_empty_sequence_maps_to_no_children(executor: Any) -> None:
    with Flow("empty") as f:
        out = apply_map(P.inc_if_even, [])
        summed = P.total(out)
    state = f.run(executor=executor)
    assert state.is_successful()
    assert state.result[out].map_states == ()
    assert state.result[summed].result == 0


def test_in_a_flow_function_over_a_parameter() -> None:
    @flow
    def evens(xs: list[int]) -> Any:
        return apply_map(P.inc_if_even, xs)

    assert evens(xs=[4, 7]) == [5, 7]


def test_the_structure_every_task_is_mapped_element_wise() -> None:
    with Flow("structure") as f:
        outside = P.inc(0)

        def fn(x: Any) -> Any:
            with case(P.is_even(x), True):
                y = P.add(x, outside)  # a task of the flow used from a closure: passed whole
            return P.double(y)

        apply_map(fn, [1, 2])
    made = [t for t in f.tasks if t.name in ("is_even", "add", "double") or t.is_gate]
    assert len(made) == 4
    for t in made:
        assert f.is_mapped(t), t
    add = next(t for t in f.tasks if t.name == "add")
    by_key = {e.key: e for e in f.upstream_edges(add)}
    assert by_key["x"].mapped and not by_key["y"].mapped  # y is the closure's task, whole
    (gate_edge,) = [e for e in f.upstream_edges(add) if e.key is None]
    assert gate_edge.upstream_task.is_gate and gate_edge.mapped


def test_the_function_receives_the_flow_when_one_is_given() -> None:
    seen: list[Flow] = []

    def fn(x: Any, flow: Flow) -> Any:
        seen.append(flow)
        return P.inc(x, flow=flow)

    f = Flow("explicit")
    out = apply_map(fn, [1, 2], flow=f)
    assert seen and seen[0] is not f  # the function builds apart, then its tasks are mapped
    assert results(f.run(), out) == [2, 3]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: apply_map(lambda x: P.inc.map(x), [1, 2]), "mapped again"),
        (lambda: apply_map(lambda x: apply_map(P.inc_if_even, x), [[1], [2]]), "mapped again"),
        (lambda: apply_map(lambda x: P.total(flatten(P.inc(x))), [1, 2]), "flatten the argument"),
        (lambda: apply_map(P.inc_if_even, 3), "'int' is not a sequence"),
        (lambda: apply_map(P.inc_if_even, {"a": 1}), "'dict' is not a sequence"),
        (lambda: apply_map(P.offset_by, unmapped([1]), unmapped(2)), "nothing to map over"),
    ],
)
def test_mistakes_are_refused_when_the_flow_is_defined(build: Any, match: str) -> None:
    with pytest.raises(FlowDefinitionError, match=match), Flow("bad"):
        build()


def test_outside_a_flow_it_is_refused() -> None:
    with pytest.raises(FlowDefinitionError, match="only be used while defining a flow"):
        apply_map(P.inc_if_even, [1])
