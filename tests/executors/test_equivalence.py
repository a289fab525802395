"""Executor equivalence: random flows (DAG shapes, triggers, maps, cases, tasks that return,
raise, SKIP, FAIL or retry) end in the same state on every executor.

LocalExecutor is the reference; each flow runs once on every other kind (threads, processes,
dask), so each example costs a few flow runs. Compared: the state class of every task (and
of every mapped child) and the result of every success.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.executors import LocalExecutor
from headwater.model import states as S
from tests.conftest import EXECUTOR_KINDS
from tests.flows.random_flows import MODES, TRIGGERS, Node, build


@st.composite
def random_nodes(draw: st.DrawFn) -> list[Node]:
    nodes: list[Node] = []
    for i in range(draw(st.integers(2, 7))):
        earlier = st.integers(0, i - 1) if i else st.nothing()
        kinds = ["plain", "list", "map"] + (["case"] if i else [])
        kind = draw(st.sampled_from(kinds))
        k = draw(st.integers(0, 5))
        mode = draw(st.sampled_from(MODES))
        trigger = draw(st.sampled_from(sorted(TRIGGERS)))
        length = draw(st.integers(0, 3))
        if kind == "list":
            nodes.append(Node("list", k, length=length))
            continue
        if kind == "map":
            sources = [j for j, n in enumerate(nodes) if n.kind in ("list", "map")]
            use = draw(st.booleans()) if sources else False
            inputs = (draw(st.sampled_from(sources)),) if use else ()
            nodes.append(Node("map", k, mode, trigger, inputs, length))
            continue
        n_inputs = draw(st.integers(1 if kind == "case" else 0, min(2, i)))
        inputs = tuple(draw(earlier) for _ in range(n_inputs))
        nodes.append(Node(kind, k, mode, trigger, inputs))
    return nodes


def outcome(state: S.State) -> Any:
    """What must match across executors: the class, the result of a success, children."""
    if isinstance(state, S.Mapped):
        return ("Mapped", tuple(outcome(c) for c in state.map_states))
    if state.is_successful():
        return (type(state).__name__, state.result)
    return (type(state).__name__,)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(nodes=random_nodes())
def test_every_executor_ends_every_task_in_the_same_state(
    nodes: list[Node], dask_client: Any
) -> None:
    flow, tasks = build(nodes)
    reference = flow.run(executor=LocalExecutor())
    expected = [outcome(reference.result[t]) for t in tasks]
    for kind in sorted(EXECUTOR_KINDS):
        if kind == "local":
            continue
        state = flow.run(executor=EXECUTOR_KINDS[kind]())
        got = [outcome(state.result[t]) for t in tasks]
        assert got == expected, f"{kind} differs from local for {nodes}"
        assert type(state) is type(reference), kind
