"""A map run again on the same cluster is planned at once from the pace its children took
the last time (notice 0018): one graph instead of pilots and then the rest, for the same
Task objects only, never fewer nodes than slots, and pilots again when the remembered pace
is slow. Checked on what the scheduler of a real (in-process) cluster receives, with every
run's values; and on the pure sizing rule.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator
from typing import Any

import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from headwater import Flow, Parameter, task, unmapped
from headwater.engine.children import StateBatch
from headwater.engine.sizing import PaceMemory, pace_memory, remembered_bounds
from headwater.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor
from headwater.model.states import Success
from tests.flows import executor_flows as E

_graphs: list[set[str]] = []


class _Graphs(SchedulerPlugin):
    """Records the keys of each graph the scheduler is sent."""

    name = "headwater-pace-graphs"

    def update_graph(self, scheduler: Any, *, keys: Any, **kwargs: Any) -> None:
        _graphs.append({k for k in scheduler.tasks if isinstance(k, str)} - set().union(*_graphs))


@pytest.fixture
def graphs_client() -> Iterator[Client]:
    _graphs.clear()
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.register_plugin(_Graphs())
        yield client


@task
def wait_then_inc(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x + 1


def _map_flow(n: int) -> tuple[Flow, Any, Any]:
    with Flow("paced") as f:
        ys = E.inc.map(list(range(n)))
        s = E.total(ys)
    return f, ys, s


def _batches(graph: set[str], task: Any) -> list[str]:
    return sorted(k for k in graph if k.startswith(f"{task.slug}-") and "batch" in k)


def test_a_fast_map_run_again_is_planned_in_one_graph(graphs_client: Client) -> None:
    f, ys, s = _map_flow(1000)
    executor = DaskExecutor(client=graphs_client)
    first = f.run(executor=executor, return_tasks=[s])
    assert first.result[s].result == sum(range(1, 1001))
    pilots_then_rest = len(_graphs)
    assert pilots_then_rest == 2, _graphs
    _graphs.clear()
    again = f.run(executor=DaskExecutor(client=graphs_client), return_tasks=[s, ys])
    assert again.result[s].result == sum(range(1, 1001))
    assert [c.result for c in again.result[ys].map_states] == list(range(1, 1001))
    assert len(_graphs) == 1, _graphs  # the map's nodes and the reduce at once
    nodes = _batches(_graphs[0], ys)
    assert len(nodes) == 2, nodes  # one node a slot (2 threads): fast children share them


def test_the_same_function_in_another_flow_is_measured_again(graphs_client: Client) -> None:
    f, _, s = _map_flow(1000)
    f.run(executor=DaskExecutor(client=graphs_client), return_tasks=[s])
    _graphs.clear()
    other, _, s2 = _map_flow(1000)  # new Task objects: nothing remembered for them
    state = other.run(executor=DaskExecutor(client=graphs_client), return_tasks=[s2])
    assert state.result[s2].result == sum(range(1, 1001))
    assert len(_graphs) == 2, _graphs


def test_children_slower_than_remembered_still_share_the_slots(graphs_client: Client) -> None:
    with Flow("slowed") as f:
        seconds = Parameter("seconds")
        ys = wait_then_inc.map(list(range(40)), unmapped(seconds))
        s = E.total(ys)
    f.run(parameters={"seconds": 0.0}, executor=DaskExecutor(client=graphs_client))
    _graphs.clear()
    state = f.run(
        parameters={"seconds": 0.02},
        executor=DaskExecutor(client=graphs_client),
        return_tasks=[s, ys],
    )
    assert state.result[s].result == sum(range(1, 41))
    assert len(_graphs) == 1  # planned from the fast pace remembered...
    assert len(_batches(_graphs[0], ys)) == 2  # ...yet over both slots
    threads = {c.run_info.thread for c in state.result[ys].map_states if c.run_info}
    assert len(threads) == 2, threads
    # this run was slow: the next one measures with pilots again
    _graphs.clear()
    f.run(parameters={"seconds": 0.02}, executor=DaskExecutor(client=graphs_client))
    assert len(_graphs) == 2, _graphs


def test_remembered_bounds_plan_small_fast_maps_only() -> None:
    assert remembered_bounds(1000, 2e-6, 2) == [0, 500, 1000]
    assert remembered_bounds(10, 2e-6, 16) == list(range(11))  # one a slot at most
    assert remembered_bounds(1000, 0.001, 2) is None  # 1 s of work: pilots size it
    assert remembered_bounds(200, 0.05, 16) is None  # slow children: one per node
    assert remembered_bounds(1_000_000, 2e-6, 2) is None  # 40 nodes of 50 ms: pilots


def _batch(pace: float) -> StateBatch:
    """Three plain children, each ending ``pace`` seconds after the one before."""
    times = array("d")
    for i in range(3):
        times.extend([0.0, i * pace, (i + 1) * pace])
    return StateBatch(0, 3, [1, 2, 3], {}, times, ("host", "worker", "thread"), {Success: 3})


def test_the_memory_keeps_the_median_pace_of_a_maps_batches() -> None:
    _, ys, _ = _map_flow(3)
    memory = PaceMemory()
    memory.note(ys, [None, RuntimeError("lost")])
    assert memory.get(ys) is None  # nothing told a pace: nothing remembered
    memory.note(ys, [_batch(0.001), _batch(0.003), RuntimeError("lost"), _batch(0.002)])
    assert memory.get(ys) == pytest.approx(0.002)
    memory.note(ys, [_batch(0.5)])  # the last run's pace replaces it
    assert memory.get(ys) == pytest.approx(0.5)


def test_only_dask_remembers() -> None:
    assert pace_memory(LocalExecutor()) is None
    assert pace_memory(LocalDaskExecutor("threads")) is None
    assert pace_memory(DaskExecutor()) is None  # outside a run: no cluster yet
