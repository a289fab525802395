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
from headwater.engine.batches import run_batch
from headwater.engine.children import ChildStates, StateBatch
from headwater.engine.sizing import (
    FIRST_PILOT_CHILDREN,
    PILOT_CHILDREN,
    pace_of,
    pilot_size,
    rest_size,
)
from headwater.executors import LocalDaskExecutor, LocalExecutor
from headwater.model import states as S
from headwater.taskgraph import is_node
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
    batch_size=st.one_of(st.none(), st.integers(min_value=1, max_value=9)),
    second=st.one_of(st.none(), st.integers(min_value=1, max_value=9)),
)
def test_batched_maps_give_the_same_states_as_unbatched(
    some_executor: Any, data: st.DataObject, n: int, batch_size: int | None, second: int | None
) -> None:
    """Batches of a given size, or adaptive ones (None: pilots, then the rest sized by their
    pace), give every child the state one child per node gives."""
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


def slug(flow: Flow, name: str) -> str:
    """The slug of the flow's task called ``name`` (its keys start with it)."""
    return next(t.slug for t in flow.tasks if t.name == name)


def batch_bounds(recording: RecordingExecutor, task_slug: str) -> list[tuple[int, int]]:
    """The children of each batch node of a task, in the order they were submitted."""
    return [
        (n[3].start, n[3].stop)
        for b in recording.batches
        for k, n in b.items()
        if is_node(n) and n[0] is run_batch and k.startswith(f"{task_slug}-")
    ]


def test_a_large_map_of_fast_children_becomes_a_few_graph_nodes_sized_by_its_pace() -> None:
    recording = RecordingExecutor(LocalExecutor())
    with Flow("big") as f:
        mapped = B.plus_index.map(list(range(20_000)))
        total = B.total(mapped)
    state = f.run(executor=recording, return_tasks=[total, mapped])
    assert state.result[total].result == sum(range(1, 20_001))
    bounds = batch_bounds(recording, slug(f, "plus_index"))
    # one pilot (one slot here) of PILOT_CHILDREN children, then the rest cut by the pace
    # its children took, which the pilot's own batch holds
    assert bounds[0] == (0, PILOT_CHILDREN) == (0, pilot_size(20_000, 1))
    pace = pace_of(state.result[mapped].map_states.batches[0])
    assert pace is not None
    size = rest_size(20_000 - PILOT_CHILDREN, pace, 1)
    expected = [(s, min(s + size, 20_000)) for s in range(PILOT_CHILDREN, 20_000, size)]
    assert bounds[1:] == expected
    assert len(bounds) < 20_000 / 100  # (a few microseconds a child: a handful of nodes)


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


def test_a_map_of_no_more_children_than_slots_runs_one_child_per_node() -> None:
    executor = LocalDaskExecutor("threads", num_workers=4)
    recording = RecordingExecutor(executor)
    f, t = B.element_wise(4, None)
    state = f.run(executor=recording)
    assert state.is_successful()
    assert not any(n[0] is run_batch for n in recording.nodes().values())
    assert isinstance(state.result[t["a"]].map_states, tuple)


def test_a_small_map_batches_when_it_has_more_children_than_slots() -> None:
    recording = RecordingExecutor(LocalExecutor())  # one slot
    f, t = B.element_wise(3, None)
    state = f.run(executor=recording)
    assert state.result[t["total"]].result == sum(x * 10 + 1 for x in range(3))
    # the pilot covers the whole map: one node each, planned at once with the rest
    assert batch_bounds(recording, slug(f, "step")) == [(0, 3)]
    assert batch_bounds(recording, slug(f, "plus_index")) == [(0, 3)]
    assert len(recording.batches) == 1


def test_the_rest_of_a_map_and_what_follows_are_planned_once_a_pilot_finished() -> None:
    recording = RecordingExecutor(LocalDaskExecutor("threads", num_workers=2))
    f, t = B.element_wise(40, None)
    state = f.run(executor=recording)
    assert state.result[t["count"]].result == 40
    first = recording.batches[0]
    pilots = [k for k, n in first.items() if is_node(n) and n[0] is run_batch]
    assert len(pilots) == 2 and all(k.startswith(slug(f, "step")) for k in pilots)
    # the first pilot is shorter (it tells the pace while the other still runs)
    assert [(first[k][3].start, first[k][3].stop) for k in pilots] == [
        (0, FIRST_PILOT_CHILDREN),
        (FIRST_PILOT_CHILDREN, FIRST_PILOT_CHILDREN + PILOT_CHILDREN),
    ]
    later = {k for b in recording.batches[1:] for k in b}
    # the rest of the first map, the second map and the reduces wait for a pilot's pace
    for name in ("step", "plus_index", "count_finished"):
        assert any(k.startswith(f"{slug(f, name)}-") for k in later), name


def test_slow_children_run_one_per_node(executor: Any) -> None:
    """A child that sleeps longer than a node aims to run is alone in its node after the
    pilots (the pace cannot be under the sleep, so this holds on any machine)."""
    recording = RecordingExecutor(executor)
    with Flow("slow") as f:
        naps = B.nap.map(list(range(9)), seconds=unmapped(0.06))
    state = f.run(executor=recording)
    assert state.result[naps].result == list(range(9))
    prefix = f"{slug(f, 'nap')}-"
    sizes = [
        [
            n[3].stop - n[3].start if n[0] is run_batch else 1
            for k, n in b.items()
            if is_node(n) and k.startswith(prefix)
        ]
        for b in recording.batches
        if any(k.startswith(prefix) for k in b)
    ]
    pilots, *rest = sizes  # the first nodes planned: pilots (or one child per node)
    assert max(pilots) <= PILOT_CHILDREN
    assert [size for later in rest for size in later] == [1] * (9 - sum(pilots))


@pytest.mark.parametrize("executor_kind", ["local", "threads", "processes"])
def test_plain_children_see_the_context_the_runner_gives(executor_kind: str) -> None:
    """Children on the fast path (plain) and the runner's path (a LOOP, a failed first try
    retried, an async child that skips) see the same context and end in the same states as
    one child per node."""
    executor = EXECUTOR_KINDS[executor_kind]()
    f1, t1 = B.context_flow(6, 1)
    f2, t2 = B.context_flow(6, 6)
    one = f1.run(executor=executor)
    batched = f2.run(executor=EXECUTOR_KINDS[executor_kind]())
    ids = set()
    for name in ("looped", "plain"):
        a, b = one.result[t1[name]].map_states, batched.result[t2[name]].map_states
        assert isinstance(b, ChildStates)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert (type(x), x.message, x.run_count, x.map_index) == (
                type(y), y.message, y.run_count, y.map_index
            )  # fmt: skip
            assert x.result[:-2] == y.result[:-2]  # all but the slug and the run id
            assert y.result[0] == i and y.result[1] == f"where_and_how[{i}]"
            assert y.result[-2] == t2[name].slug
            ids.add(y.result[-1])
        assert [c.result[2] for c in b] == [1, 1, 1, 2, 1, 1]  # element 3 ran twice
    assert len(ids) == 12  # a task run id per child
    looped = batched.result[t2["looped"]].map_states
    assert [c.result[3:5] for c in looped][:2] == [(2, 0), (2, 1)]  # LOOP count and result
    got = [(type(c).__name__, c.result) for c in batched.result[t2["async"]].map_states]
    assert got == [("Success", 0), ("Success", 2), ("Skipped", None)] + [
        ("Success", 6), ("Success", 8), ("Success", 10)
    ]  # fmt: skip


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
