"""Batched maps (issue 6, docs/notices/0010-batched-maps.md): several children per graph node,
with every child's state exactly as when unbatched; the compact Mapped state; batch_size.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater import Flow, FlowDefinitionError, task, unmapped
from headwater.engine.batches import auto_batch_size, run_batch
from headwater.engine.children import ChildStates, StateBatch
from headwater.executors import LocalDaskExecutor, LocalExecutor
from headwater.model import states as S
from tests.conftest import EXECUTOR_KINDS
from tests.flows import batched_flows as B
from tests.support.recording import RecordingExecutor

# -- helpers --------------------------------------------------------------------------------


def outcome(state: S.State) -> Any:
    """What must not change with batching: class, message, result, map index, run count
    (and the same for every child of a Mapped state)."""
    if isinstance(state, S.Mapped):
        return ("Mapped", state.message, tuple(outcome(c) for c in state.map_states))
    result = state.result
    return (type(state).__name__, state.message, result, state.map_index, state.run_count)


def outcomes(flow: Flow, tasks: Mapping[str, Any], executor: Any, **params: Any) -> Any:
    flow_state = flow.run(executor=executor, parameters=params)
    states = flow_state.result
    return type(flow_state).__name__, {name: outcome(states[t]) for name, t in tasks.items()}


@pytest.fixture(params=["local", "threads", "dask"])
def some_executor(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The executors the property test runs on (processes are covered by the
    example tests below, which take every kind)."""
    if request.param == "dask":
        request.getfixturevalue("dask_client")
    yield EXECUTOR_KINDS[request.param]()


# -- equivalence: batched == unbatched --------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    n=st.integers(min_value=0, max_value=30),
    batch_size=st.integers(min_value=1, max_value=9),
    second=st.one_of(st.none(), st.integers(min_value=1, max_value=9)),
)
def test_batched_maps_give_the_same_states_as_unbatched(
    some_executor: Any, data: st.DataObject, n: int, batch_size: int, second: int | None
) -> None:
    indices = st.sets(st.integers(min_value=0, max_value=max(n - 1, 0)), max_size=4)
    fail, skip, flaky = data.draw(indices), data.draw(indices), data.draw(indices)
    f1, t1 = B.element_wise(n, 1, fail, skip, flaky, second_batch_size=1)
    f2, t2 = B.element_wise(n, batch_size, fail, skip, flaky, second_batch_size=second)
    assert outcomes(f1, t1, some_executor) == outcomes(f2, t2, some_executor)


@pytest.mark.parametrize("batch_size", [2, 4, 100])
def test_runtime_length_maps_batch_like_unbatched(executor: Any, batch_size: int) -> None:
    f1, t1 = B.runtime_length(1)
    f2, t2 = B.runtime_length(batch_size)
    got = outcomes(f2, t2, executor)
    assert got == outcomes(f1, t1, executor)
    assert got[1]["total"][2] == sum(x * 10 + 1 for x in range(9))


def test_an_empty_batched_map_is_mapped_with_no_children(executor: Any) -> None:
    f, t = B.element_wise(0, 5)
    state = f.run(executor=executor)
    assert state.is_successful()
    assert state.result[t["a"]].map_states == ()
    assert state.result[t["count"]].result == 0


def test_failures_skips_and_retries_in_a_batch_on_every_executor(executor: Any) -> None:
    f, t = B.element_wise(12, 5, fail={3, 8}, skip={4}, flaky={0, 6})
    state = f.run(executor=executor)
    a = state.result[t["a"]]
    assert isinstance(a.map_states, ChildStates)
    assert a.counts() == {"Success": 9, "Failed": 2, "Skipped": 1}
    assert a.failed_indices() == [3, 8]
    assert a.failures() == {
        3: "Task 'step' raised ValueError: element 3 is bad",
        8: "Task 'step' raised ValueError: element 8 is bad",
    }
    assert [c.run_count for c in a.children([0, 1, 6])] == [2, 1, 2]
    b = state.result[t["b"]]
    assert [c.result for c in b.children([0, 1, 2])] == [(1, 0), (11, 1), (21, 2)]
    assert state.result[t["count"]].result == 12
    assert state.result[t["total"]].is_trigger_failed()
    assert len(state.result[t["kept"]].result) == 9
    assert state.is_failed() and "'total'" in (state.message or "")


# -- the structure of the graph -------------------------------------------------------------


def test_a_large_map_becomes_far_fewer_graph_nodes_than_children() -> None:
    recording = RecordingExecutor(LocalExecutor())
    with Flow("big") as f:
        total = B.total(B.plus_index.map(list(range(20_000))))
    state = f.run(executor=recording, return_tasks=[total])
    assert state.result[total].result == sum(range(1, 20_001))
    nodes = recording.nodes()
    # one node per batch, and one that strips the values of each batch not returned
    assert len(nodes) < 20_000 / 5
    batch_nodes = [n for n in nodes.values() if n[0] is run_batch]
    assert len(batch_nodes) == 20_000 // auto_batch_size(20_000)


def test_element_wise_batches_depend_only_on_the_matching_upstream_batch() -> None:
    recording = RecordingExecutor(LocalExecutor())
    f, t = B.element_wise(20, 4, second_batch_size=4)
    f.run(executor=recording)
    nodes = recording.nodes()
    a_keys = [k for k, n in nodes.items() if n[0] is run_batch and n[3].inputs[0].kind == "range"]
    b_nodes = {k: n for k, n in nodes.items() if n[0] is run_batch and k not in a_keys}
    assert len(a_keys) == len(b_nodes) == 5
    a_by_start = {nodes[k][3].start: k for k in a_keys}
    for node in b_nodes.values():
        spec = node[3]
        assert [a for a in node[4:] if isinstance(a, str)] == [a_by_start[spec.start]]


def test_batches_of_different_sizes_read_only_the_upstream_batches_they_overlap() -> None:
    recording = RecordingExecutor(LocalExecutor())
    f, t = B.element_wise(20, 4, second_batch_size=6)
    state = f.run(executor=recording)
    assert state.is_successful()
    nodes = recording.nodes()
    firsts = {
        n[3].start: k
        for k, n in nodes.items()
        if n[0] is run_batch and n[3].stop - n[3].start in (4,)
    }
    for node in nodes.values():
        if node[0] is not run_batch or node[3].inputs[0].kind != "span":
            continue
        spec = node[3]
        wanted = [firsts[s] for s in sorted(firsts) if s < spec.stop and s + 4 > spec.start]
        assert list(node[4:]) == wanted


def test_a_small_map_is_not_batched_unless_asked() -> None:
    assert auto_batch_size(0) == auto_batch_size(1000) == 1
    assert auto_batch_size(10_000) == 10
    assert auto_batch_size(1_000_000, slots=4) == 1000
    recording = RecordingExecutor(LocalExecutor())
    f, _ = B.element_wise(50, None)
    f.run(executor=recording)
    assert not any(n[0] is run_batch for n in recording.nodes().values())


def test_a_retry_waiting_in_a_batch_lets_the_rest_of_the_batch_run() -> None:
    @task(max_retries=1, retry_delay=0.2)
    def flaky_first(x: int) -> int:
        from headwater import context

        if x == 0 and context["task_run_count"] == 1:
            raise RuntimeError("first try")
        return x

    with Flow("retry-in-batch") as f:
        m = flaky_first.map(list(range(4)), batch_size=4)
    state = f.run(executor=LocalDaskExecutor("threads", num_workers=2))
    children = state.result[m].map_states
    assert [c.result for c in children] == [0, 1, 2, 3]
    assert children[0].run_count == 2
    retried = children[0].run_info
    assert retried is not None and retried.start is not None
    for other in children[1:]:
        assert other.run_info is not None and other.run_info.end <= retried.end


# -- the compact Mapped state -----------------------------------------------------------------


def test_the_mapped_state_of_a_batched_map_is_compact() -> None:
    f, t = B.element_wise(5000, None, fail={17, 4000, 4321})
    state = f.run(executor=LocalExecutor(), return_tasks=[t["a"]])
    a = state.result[t["a"]]
    children = a.map_states
    assert isinstance(children, ChildStates) and len(children) == 5000
    kept_whole = sum(len(b.others) for b in children.batches)
    assert kept_whole == 3  # only the failures are States; the successes are columns
    assert a.counts() == {"Success": 4997, "Failed": 3}
    assert a.failed_indices() == [17, 4000, 4321]
    assert list(a.failures(limit=2)) == [17, 4000]
    picked = a.children([0, 17, 4999])
    assert [c.map_index for c in picked] == [0, 17, 4999]
    assert [type(c) for c in picked] == [S.Success, S.Failed, S.Success]
    assert picked[0].result == 0 and picked[2].result == 49_990
    assert picked[0].run_info is not None and picked[0].run_count == 1
    assert a.result[:3] == [0, 10, 20] and len(a.result) == 5000
    again = pickle.loads(pickle.dumps(a))
    assert again == a and isinstance(again.map_states, ChildStates)


def test_a_batch_rebuilds_each_state_as_the_runner_made_it() -> None:
    f, t = B.element_wise(3, 1)
    made = f.run(executor=LocalExecutor()).result[t["b"]].map_states
    batch = StateBatch.of(0, made)
    assert not batch.others
    for original, rebuilt in zip(made, batch, strict=True):
        assert rebuilt == original
        assert rebuilt.timestamp == original.timestamp
        assert rebuilt.run_info == original.run_info
    assert batch.without_results().values() == [None, None, None]


def test_a_batched_mapped_state_can_be_given_back_to_a_run() -> None:
    f, t = B.element_wise(3000, None, fail={5})
    first = f.run(executor=LocalExecutor())
    again = f.run(executor=LocalExecutor(), task_states={t["a"]: first.result[t["a"]]})
    assert outcome(again.result[t["b"]]) == outcome(first.result[t["b"]])


# -- batch_size -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10", [2]])
def test_batch_size_must_be_a_positive_int(bad: Any) -> None:
    with Flow("bad"), pytest.raises(FlowDefinitionError) as info:
        B.plus_index.map([1, 2, 3], batch_size=bad)
    message = str(info.value)
    assert message.startswith(
        f"plus_index.map(batch_size={bad!r}): batch_size must be a positive int"
    )
    assert "or left out to choose it automatically" in message


def test_batch_size_given_through_task_args_is_checked_too() -> None:
    with (
        Flow("bad"),
        pytest.raises(FlowDefinitionError, match=r"batch_size must be a positive int"),
    ):
        B.plus_index.map([1, 2], task_args={"batch_size": 0})


def test_a_function_taking_batch_size_receives_it() -> None:
    @task
    def chunked(x: int, batch_size: int) -> int:
        return x * batch_size

    with Flow("own argument") as f:
        m = chunked.map([1, 2, 3], batch_size=unmapped(10), task_args={"batch_size": 2})
    state = f.run()
    assert state.result[m].result == [10, 20, 30]
    assert m.batch_size == 2


def test_secrets_are_masked_in_a_batched_map_without_building_its_children() -> None:
    from headwater.model.secrets import MASK, SecretValue
    from headwater.runtime.redaction import redact_state

    SecretValue("batch-secret-77")
    f, t = B.element_wise(3000, None)
    clean_map = f.run(executor=LocalExecutor()).result[t["a"]]
    secret = S.Failed("failed with batch-secret-77", map_index=3000)
    batches = [*clean_map.map_states.batches, StateBatch.of(3000, [secret])]
    mapped = S.Mapped("m", map_states=ChildStates(batches))
    redacted = redact_state(mapped)
    children = redacted.map_states
    assert isinstance(children, ChildStates)
    assert children[3000].message == f"failed with {MASK}"
    assert children.batches[0] is batches[0]  # untouched batches are shared, not rebuilt
