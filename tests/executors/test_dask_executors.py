"""LocalDaskExecutor and DaskExecutor: construction, clusters, retries that lend their slot,
pickling errors, logs, annotations, readable keys, small specs, results left on workers,
Ctrl-C and KilledWorker.

The shared behaviour (mapping, control flow, the engine) runs on every executor through the
``executor`` fixture in other modules; this one covers what is particular to Dask.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from headwater import Flow, Parameter, task, unmapped
from headwater.engine import collect
from headwater.engine.flow_runner import FlowRunner
from headwater.errors import SchedulerConnectionError
from headwater.executors import DaskExecutor, LocalDaskExecutor
from headwater.model import states as S
from tests.conftest import EXECUTOR_KINDS
from tests.flows import executor_flows as E
from tests.support.cluster import fragile_cluster, free_port
from tests.support.hooks import CountingHook


def in_process_cluster(**kwargs: Any) -> LocalCluster:
    options: dict[str, Any] = {
        "n_workers": 1,
        "threads_per_worker": 2,
        "processes": False,  # workers in this process: no network (inproc://)
        "dashboard_address": "127.0.0.1:0",
    }
    options.update(kwargs)
    return LocalCluster(**options)


# -- construction and imports ---------------------------------------------------------------


def test_executors_load_dask_only_when_used() -> None:
    code = (
        "import sys, headwater.executors as e; a = 'distributed' in sys.modules; "
        "e.LocalDaskExecutor; b = 'distributed' in sys.modules; e.DaskExecutor; "
        "print(a, b, 'distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]  # distributed: when a run starts


def test_bad_arguments_are_refused_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="'threads' or 'processes'"):
        LocalDaskExecutor("distributed")
    with pytest.raises(ValueError, match="not two"):
        DaskExecutor(address="tcp://127.0.0.1:1", client=object())
    with pytest.raises(ValueError, match="connects to a running scheduler"):
        DaskExecutor(address="tcp://127.0.0.1:1", cluster_kwargs={"n_workers": 1})
    with Flow("f") as f:
        E.inc(1)
    with pytest.raises(ValueError, match="cannot be imported"):
        f.run(executor=DaskExecutor(cluster_class="no_such_module.Cluster"))


def test_an_unreachable_scheduler_is_a_clear_error_within_the_connect_timeout(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"

    @task
    def touch() -> None:
        marker.write_text("ran")

    with Flow("f") as f:
        touch()
    address = f"tcp://127.0.0.1:{free_port()}"
    threads = threading.active_count()
    started = time.monotonic()
    with pytest.raises(SchedulerConnectionError, match=r"Could not connect to the Dask scheduler"):
        f.run(executor=DaskExecutor(address=address, client_kwargs={"timeout": 2}))
    assert time.monotonic() - started < 10
    assert not marker.exists()
    deadline = time.monotonic() + 5
    while threading.active_count() > threads + 1 and time.monotonic() < deadline:
        time.sleep(0.1)  # the client's event loop thread may linger a moment
    assert threading.active_count() <= threads + 1


def _live_clusters() -> list[Any]:
    from distributed.deploy.spec import SpecCluster

    return [c for c in list(SpecCluster._instances) if c.status.name not in ("closed",)]


def test_with_no_arguments_a_local_cluster_is_started_and_closed() -> None:
    before = len(_live_clusters())
    with Flow("f") as f:
        ys = E.inc.map(list(range(5)))
        t = E.total(ys)
    state = f.run(executor=DaskExecutor())
    assert state.is_successful() and state.result[t].result == 15
    assert len(_live_clusters()) == before


def test_a_cluster_class_by_import_path_with_adaptive_scaling() -> None:
    executor = DaskExecutor(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": 0, "processes": False, "dashboard_address": "127.0.0.1:0"},
        adapt_kwargs={"minimum": 1, "maximum": 2},
    )
    with Flow("f") as f:
        t = E.total(E.inc.map(list(range(4))))
    assert f.run(executor=executor).result[t].result == 10


# -- retries lend their worker slot ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["threads", "dask"])
def test_tasks_waiting_to_retry_do_not_hold_worker_slots(kind: str) -> None:
    """2 worker threads, 2 tasks waiting 5 s to retry: 10 short tasks finish meanwhile."""
    with Flow("f") as f:
        waiting = E.fails_once_then_waits.map([1, 2])
        shorts = E.short.map(list(range(10)), upstream_tasks=[])
    cluster = in_process_cluster(threads_per_worker=2) if kind == "dask" else None
    try:
        if cluster is not None:
            client = Client(cluster, set_as_default=False)
            executor: Any = DaskExecutor(client=client)
        else:
            executor = LocalDaskExecutor("threads", num_workers=2)
        started = time.time()
        state = f.run(executor=executor)
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    assert state.is_successful(), state.result
    retried_end = min(state.result[waiting].result)
    short_ends = state.result[shorts].result
    # 10 x 0.2 s on 2 slots is 1 s of work: all of it happens during the 5 s wait
    assert max(short_ends) < retried_end - 2, (max(short_ends) - started, retried_end - started)
    assert retried_end - started < 9


# -- pickling -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["processes", "dask"])
def test_an_unpicklable_result_fails_its_task_naming_the_task_and_the_object(
    kind: str, dask_client: Any
) -> None:
    with Flow("f") as f:
        bad = E.returns_a_lock()
        after = E.inc(1)
    state = f.run(executor=EXECUTOR_KINDS[kind]())
    failed = state.result[bad]
    assert type(failed) is S.Failed
    assert "Task 'returns_a_lock' returned a value that cannot be pickled" in failed.message
    assert "result['lock'] (a lock)" in failed.message
    assert state.result[after].result == 2


@pytest.mark.parametrize("kind", ["processes", "dask"])
def test_an_unpicklable_task_fails_naming_the_task_and_the_object(
    kind: str, dask_client: Any
) -> None:
    lock = threading.Lock()

    @task
    def uses_lock(x: int) -> int:  # a closure: pickled by value, lock included
        with lock:
            return x

    with Flow("f") as f:
        bad = uses_lock.map([1, 2])
        downstream = E.total(bad)
        fine = E.inc(1)
    state = f.run(executor=EXECUTOR_KINDS[kind]())
    children = state.result[bad].map_states
    assert [type(c) for c in children] == [S.Failed, S.Failed]
    message = children[0].message
    assert "Task 'uses_lock' cannot be sent to the workers" in message
    assert "<closure lock> (a lock)" in message
    assert type(state.result[downstream]) is S.TriggerFailed
    assert state.result[fine].result == 2


def test_an_unpicklable_parameter_is_refused_before_anything_runs(dask_client: Any) -> None:
    with Flow("f") as f:
        x = Parameter("x")
        E.inc(x)
    with pytest.raises(Exception, match=r"parameters or context must pickle.*a lock"):
        f.run(parameters={"x": threading.Lock()}, executor=EXECUTOR_KINDS["dask"]())


# -- logs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["processes", "dask"])
def test_logs_from_tasks_on_workers_reach_the_driver(
    kind: str, dask_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headwater")
    with Flow("f") as f:
        E.logs.map([7, 8])
    assert f.run(executor=EXECUTOR_KINDS[kind]()).is_successful()
    deadline = time.monotonic() + 10  # forwarded records arrive asynchronously on dask
    while time.monotonic() < deadline:
        messages = [r.getMessage() for r in caplog.records if r.name.startswith("headwater.task")]
        if sum("hello from child" in m for m in messages) >= 2:
            break
        time.sleep(0.1)
    assert any("hello from child 7" in m for m in messages), messages
    assert any("hello from child 8" in m for m in messages), messages


def _headwater_level() -> int:
    return logging.getLogger("headwater").getEffectiveLevel()


def test_workers_that_join_later_log_at_the_drivers_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="headwater")
    with Flow("f") as f:
        E.inc(1)
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        assert f.run(executor=DaskExecutor(client=client)).is_successful()
        cluster.scale(2)
        client.wait_for_workers(2, timeout=60)
        levels = client.run(_headwater_level)
    assert len(levels) == 2 and set(levels.values()) == {logging.DEBUG}, levels


# -- what reaches the scheduler -------------------------------------------------------------

_seen: list[dict[str, Any]] = []


class _Recorder(SchedulerPlugin):
    """Records, for every task the scheduler receives, its spec size, priority and
    resources (the scheduler of an in-process cluster shares this module)."""

    name = "headwater-test-recorder"

    def update_graph(self, scheduler: Any, *, keys: Any, **kwargs: Any) -> None:
        for key, ts in scheduler.tasks.items():
            if key in {s["key"] for s in _seen}:
                continue
            spec = ts.run_spec
            data = type(spec).__name__ == "DataNode"
            _seen.append(
                {
                    "key": key,
                    "size": 0 if data or spec is None else len(cloudpickle.dumps(spec)),
                    "priority": ts.priority,
                    "resources": ts.resource_restrictions,
                    "prefix": ts.prefix.name,
                    "data": data,
                }
            )


@pytest.fixture
def recording_client() -> Iterator[Client]:
    _seen.clear()
    with (
        in_process_cluster(resources={"GPU": 2}) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.register_plugin(_Recorder())
        yield client


def test_dask_keys_specs_priorities_and_resources(recording_client: Client) -> None:
    E.Counted.pickled = 0
    counted = E.Counted()
    with Flow("f") as f:
        xs = E.numbers(1000)
        ys = E.with_counted.map(xs, unmapped(counted), batch_size=1, task_args={"priority": 7})
        t = E.total(ys)
        gpu = E.available_gpus(task_args={"tags": {"dask-resource:GPU=1"}})
    state = f.run(executor=DaskExecutor(client=recording_client))
    assert state.is_successful(), state
    assert state.result[t].result == sum(range(1000))
    assert state.result[gpu].result == 1.0  # it held 1 of the worker's 2 GPUs
    # the task (and its constants) were pickled once for the run, not once per child (plus
    # once by the flow runner's check that it pickles at all, and once by the journal's
    # digest of the flow's graph, which a resume compares: notice 0013)
    assert E.Counted.pickled <= 3
    children = [s for s in _seen if s["prefix"] == "with_counted"]
    assert len(children) == 1000
    assert all(s["priority"][0] == -7 for s in children)  # Dask stores -priority first
    assert max(s["size"] for s in children) < 1000  # a child refers to its shared TaskDef
    # specs are small; only the reduce grows, by one reference per child it reads
    # a plain task carries its TaskDef inline (its function by value: ~1.5 kB)
    sizes = {s["prefix"]: s["size"] for s in _seen if not s["data"] and s["prefix"] != "total"}
    assert max(sizes.values()) < 2500, sizes
    (gpu_task,) = [s for s in _seen if s["prefix"] == "available_gpus"]
    assert gpu_task["resources"] == {"GPU": 1.0}
    prefixes = {s["prefix"] for s in _seen}
    assert {"numbers", "with_counted", "total", "available_gpus"} <= prefixes
    # readable keys: task name, then its number, the run's token and the map index
    assert any(s["key"].startswith("with_counted-") and s["key"].endswith("-999") for s in children)


def test_the_pilots_and_the_rest_of_an_adaptive_map_carry_its_annotations(
    recording_client: Client,
) -> None:
    with Flow("f") as f:
        ys = E.inc.map(list(range(1000)), task_args={"priority": 3})
        t = E.total(ys)
    state = f.run(executor=DaskExecutor(client=recording_client), return_tasks=[t])
    assert state.result[t].result == sum(range(1, 1001))
    batches = [s for s in _seen if s["prefix"] == "inc"]
    assert 1 < len(batches) < 1000  # pilots, then the rest (a thousand fast children)
    assert all("-batch" in s["key"] and s["priority"][0] == -3 for s in batches)


def test_a_task_is_one_dask_task_whether_its_result_is_returned_or_not(
    recording_client: Client,
) -> None:
    with Flow("f") as f:
        ys = E.inc.map(list(range(50)), batch_size=1)
        t = E.total(ys)
    state = f.run(executor=DaskExecutor(client=recording_client), return_tasks=[t])
    assert state.is_successful(), state
    assert list(state.result) == [t] and state.result[t].result == sum(range(1, 51))
    # the children's states reach the driver without their results, made where the
    # results are, with no extra node per task (no strip node; notice 0008)
    tasks = [s for s in _seen if not s["data"]]
    # (the Constant made for the list is run as the flow is planned: a literal, notice 0017)
    assert sorted({s["prefix"] for s in tasks}) == ["inc", "total"], tasks
    assert len(tasks) == 51


def test_a_bad_resource_tag_is_refused() -> None:
    with Flow("f") as f:
        E.inc(1, task_args={"tags": {"dask-resource:GPU"}})
    with pytest.raises(Exception, match="'dask-resource:NAME=N'"):
        f.run(executor=LocalDaskExecutor())


def test_results_of_tasks_not_returned_stay_on_the_workers(dask_client: Any) -> None:
    with Flow("f") as f:
        bomb = E.make_bomb()
        t = E.inc(1)
    state = f.run(executor=EXECUTOR_KINDS["dask"](), return_tasks=[t])
    assert state.is_successful(), state
    assert list(state.result) == [t]
    # and with every task returned, the Bomb has to come back, and says so
    everything = f.run(executor=EXECUTOR_KINDS["dask"]())
    assert type(everything.result[bomb]) is S.Crashed
    assert "was unpickled in process" in everything.result[bomb].message


# -- KilledWorker ---------------------------------------------------------------------------


def test_a_task_dask_gives_up_on_is_crashed_its_retries_apply_and_the_rest_runs(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "runs"
    with Flow("f") as f:
        bad = E.poison(str(marker))
        after_bad = E.inc(bad)
        good = E.sturdy_total(E.sturdy_inc.map(list(range(10))))
    with fragile_cluster() as client:
        state = f.run(executor=DaskExecutor(client=client))
    crashed = state.result[bad]
    assert type(crashed) is S.Crashed, crashed
    assert "Task 'poison' was lost (lost 2 times): KilledWorker" in crashed.message
    assert "poison-" in crashed.message and "tcp://127.0.0.1:" in crashed.message
    assert marker.read_text().count("run") == 2  # max_retries=1: two runs
    assert type(state.result[after_bad]) is S.TriggerFailed
    assert state.result[good].result == sum(range(1, 11))


def test_a_lost_task_waits_its_retry_delay_before_running_again(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    with Flow("f") as f:
        bad = E.poison(str(marker), task_args={"retry_delay": timedelta(seconds=2)})
        fine = E.sturdy_inc(1)  # retried at once if its worker is killed under it
    with fragile_cluster() as client:
        state = f.run(executor=DaskExecutor(client=client))
    assert type(state.result[bad]) is S.Crashed, state.result[bad]
    starts = [float(line.split()[1]) for line in marker.read_text().splitlines()]
    assert len(starts) == 2  # max_retries=1
    # the first run dies 1 s after it starts; the second waits 2 s after the loss is known
    assert starts[1] - starts[0] >= 3.0, starts
    assert state.result[fine].result == 2


def test_a_task_lost_in_every_repair_round_is_crashed_and_the_run_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its worker dies every time and its retries outlast the repair rounds: the rounds end,
    # the task is Crashed, its downstream sees that, and flow.run returns (it used to raise
    # a KeyError on a renamed key). Two rounds instead of 100 keep the test short.
    monkeypatch.setattr(collect, "MAX_REPAIR_ROUNDS", 2)
    marker = tmp_path / "runs"
    with Flow("f") as f:
        bad = E.poison(str(marker), task_args={"max_retries": 10})
        after_bad = E.inc(bad)
        fine = E.inc(1)
    with fragile_cluster() as client:
        state = f.run(executor=DaskExecutor(client=client))
    crashed = state.result[bad]
    assert type(crashed) is S.Crashed, crashed
    assert "Task 'poison' was lost (lost 3 times): KilledWorker" in crashed.message
    assert marker.read_text().count("run") == 3  # the first run and two repair rounds
    assert type(state.result[after_bad]) is S.TriggerFailed
    assert state.result[fine].result == 2
    assert type(state) is S.Failed


def test_the_hooks_hear_every_task_run_finish_before_the_run_ends_and_a_listener_error_is_logged(
    dask_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with Flow("heard") as f:
        ys = E.inc.map(list(range(6)), batch_size=1)
        t = E.total(ys)
    quiet, broken = CountingHook(fail=False), CountingHook(fail=True)
    runner = FlowRunner(f, DaskExecutor(client=dask_client))
    with caplog.at_level(logging.ERROR, logger="headwater.executors"):
        state = runner.run(return_tasks=[t], hooks=[quiet, broken])
    assert state.is_successful() and state.result[t].result == sum(range(1, 7))
    assert quiet.planned >= 7  # six children and the reduce at least
    # every task run was told before the run ended, to both, the raise notwithstanding
    assert quiet.at_end == quiet.finished == quiet.planned
    assert broken.at_end == broken.finished == broken.planned
    assert "a listener that breaks" in caplog.text
