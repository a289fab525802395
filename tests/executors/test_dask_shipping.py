"""How a run's graph reaches a dask.distributed scheduler (issue 14, headwater.engine.shipping):
the flow context inside the nodes when small, one literal when large; a round's graph in
parts; a small map's definition and constant inside its nodes; a map's first nodes spread
over the workers; no key watched when no hook follows task runs. Each is checked on what the scheduler received (a scheduler plugin of an
in-process cluster) or where the children ran (two worker processes), and every run's
values are checked too.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from headwater import Flow, Parameter, unmapped
from headwater.engine import shipping
from headwater.engine.flow_runner import FlowRunner
from headwater.engine.hooks import RunHook
from headwater.executors import DaskExecutor
from tests.flows import executor_flows as E
from tests.support.hooks import CountingHook

_seen: dict[str, dict[str, Any]] = {}
_graphs: list[int] = []


class _Recorder(SchedulerPlugin):
    """Records every task the scheduler receives (its kind and dependencies) and the size
    of every graph it is sent."""

    name = "headwater-shipping-recorder"

    def update_graph(self, scheduler: Any, *, keys: Any, **kwargs: Any) -> None:
        fresh = 0
        for key, ts in scheduler.tasks.items():
            if key in _seen:
                continue
            fresh += 1
            _seen[key] = {
                "data": type(ts.run_spec).__name__ == "DataNode",
                "deps": {d.key for d in ts.dependencies},
                "prefix": ts.prefix.name,
                "workers": set(ts.worker_restrictions or ()),
            }
        _graphs.append(fresh)


@pytest.fixture
def recording_client() -> Iterator[Client]:
    _seen.clear()
    _graphs.clear()
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.register_plugin(_Recorder())
        yield client


def _contexts() -> list[str]:
    return [k for k in _seen if k.startswith("flow-context-")]


def test_a_small_context_rides_inside_the_nodes_a_large_one_is_one_literal(
    recording_client: Client,
) -> None:
    with Flow("context") as f:
        prefix = Parameter("prefix")
        words = E.joined.map(unmapped(prefix), list(range(6)))
    small = f.run(parameters={"prefix": "abc"}, executor=DaskExecutor(client=recording_client))
    assert small.result[words].result == [f"abc{i}" for i in range(6)]
    assert _contexts() == []
    nodes = [s for s in _seen.values() if s["prefix"] == "joined"]
    assert nodes and not any(d.startswith("flow-context-") for s in nodes for d in s["deps"])

    _seen.clear()
    large = "x" * (shipping.INLINE_CONTEXT_BYTES + 1)  # the parameters are in the context
    state = f.run(parameters={"prefix": large}, executor=DaskExecutor(client=recording_client))
    assert state.result[words].result == [f"xxx{i}" for i in range(6)]
    (context,) = _contexts()
    nodes = [s for s in _seen.values() if s["prefix"] == "joined"]
    assert nodes and all(context in s["deps"] for s in nodes)


def test_a_large_graph_is_sent_in_parts_each_depending_on_the_ones_before(
    recording_client: Client,
) -> None:
    rng = random.Random(7)
    width, depth = 60, 6
    with Flow("layers") as f:
        layer = [E.inc(i) for i in range(width)]
        expected = [i + 1 for i in range(width)]
        for _ in range(depth - 1):
            parents = [rng.sample(range(width), 2) for _ in range(width)]
            layer = [E.add_two(layer[a], layer[b]) for a, b in parents]
            expected = [expected[a] + expected[b] for a, b in parents]
        last = E.total(layer)
    state = f.run(executor=DaskExecutor(client=recording_client), return_tasks=[last])
    assert state.result[last].result == sum(expected)
    # 362 tasks (the last one's list too): a first part of FIRST_FLUSH, then larger ones
    assert len(_graphs) >= 3 and _graphs[0] == shipping.FIRST_FLUSH, _graphs
    assert sum(_graphs) == len(f.tasks)


def test_a_small_maps_nodes_read_nothing_but_their_inputs(recording_client: Client) -> None:
    with Flow("small map") as f:
        ys = E.inc.map(list(range(1000)))
        t = E.total(ys)
    state = f.run(executor=DaskExecutor(client=recording_client), return_tasks=[t])
    assert state.result[t].result == sum(range(1, 1001))
    batches = {k: s for k, s in _seen.items() if s["prefix"] == "inc"}
    # pilots and a rest of fewer nodes than slots: the definition and the constant inside
    assert len(batches) >= 2
    assert all(not s["deps"] for s in batches.values()), batches


def test_a_map_over_a_large_constant_reads_it_by_its_key(recording_client: Client) -> None:
    n = shipping.INLINE_LITERAL_ITEMS + 1
    with Flow("large constant") as f:
        ys = E.inc.map(list(range(n)))
        t = E.total(ys)
    state = f.run(executor=DaskExecutor(client=recording_client), return_tasks=[t])
    assert state.result[t].result == sum(range(1, n + 1))
    constant = [k for k in _seen if k.startswith("Constant[list]-")]
    assert len(constant) == 1 and _seen[constant[0]]["data"]
    batches = [s for s in _seen.values() if s["prefix"] == "inc"]
    assert batches and all(constant[0] in s["deps"] for s in batches)


def test_a_maps_first_nodes_are_spread_over_the_workers(dask_client: Any) -> None:
    # The children read one upstream result, held by one worker: Dask alone would start
    # them all there. Four children, four slots (two workers of two threads).
    with Flow("spread") as f:
        xs = E.numbers(4)
        pids = E.pid_of.map(xs)
    state = f.run(executor=DaskExecutor(client=dask_client), return_tasks=[pids])
    ran_in = set(state.result[pids].result)
    workers = set(dask_client.run(os.getpid).values())
    assert ran_in == workers, (ran_in, workers)


def test_task_runs_are_watched_only_for_a_hook_that_follows_them(
    recording_client: Client,
) -> None:
    # The workers of this cluster share the driver's process, so a task sees its threads.
    with Flow("watched") as f:
        names = E.thread_names()
    runner = FlowRunner(f, DaskExecutor(client=recording_client))
    quiet = runner.run(return_tasks=[names], hooks=[RunHook()])
    assert "headwater-dask-watch" not in quiet.result[names].result
    counting = CountingHook()
    heard = runner.run(return_tasks=[names], hooks=[counting])
    assert "headwater-dask-watch" in heard.result[names].result
    assert counting.finished == counting.planned == 1


def test_a_definition_inside_the_pilots_is_sent_only_for_nodes_reading_it(
    recording_client: Client,
) -> None:
    # 1,000 fast children on 2 slots: pilots, then a rest of one node, all with the
    # definition inside: it is never a key of its own (a worker would compute it first).
    with Flow("held") as f:
        ys = E.inc.map(list(range(1000)))
    state = f.run(executor=DaskExecutor(client=recording_client), return_tasks=[ys])
    assert [c.result for c in state.result[ys].map_states] == list(range(1, 1001))
    assert [k for k in _seen if k.startswith(f"{ys.slug}-")]  # (the map's nodes were seen)
    assert not [k for k in _seen if k.startswith(f"taskdef-{ys.slug}-")]
    # 100,000: the rest is more nodes than slots, which read it by key: sent with them.
    with Flow("read") as g:
        zs = E.inc.map(list(range(100_000)))
    state = g.run(executor=DaskExecutor(client=recording_client), return_tasks=[zs])
    assert state.result[zs].map_states[-1].result == 100_000
    (definition,) = [k for k in _seen if k.startswith(f"taskdef-{zs.slug}-")]
    readers = [k for k, s in _seen.items() if definition in s["deps"]]
    assert len(readers) > 2, readers
