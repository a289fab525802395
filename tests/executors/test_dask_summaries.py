"""What DaskExecutor brings back of values without the values (issue 14, fourth pass): the
pilots of a map send their pace as they finish (no ``Client.run`` to ask for it); a summary
that cannot travel as an event is asked for as before; summaries and whole values are read
in one call, errors as values; the workers' threads are read from the cluster object the
client was made with, with no trip to the scheduler. On a real cluster of 2 worker
processes (tests/conftest.py ``dask_client``), values checked in every run.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

import pytest
from distributed import Client

from headwater import Flow
from headwater.engine.sizing import pace_of
from headwater.executors import DaskExecutor
from tests.flows import executor_flows as E


def as_set(value: Any) -> set[Any]:
    """A summary msgpack cannot carry (sent as an event, it is refused)."""
    return {value}


def fails(value: Any) -> Any:
    """A node that raises."""
    raise ValueError(f"no {value}")


@pytest.fixture
def counted_runs(dask_client: Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The functions ``Client.run`` is asked to run on the workers, in order."""
    asked: list[Any] = []
    real = dask_client.run

    def run(function: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(args[0] if args else function)
        return real(function, *args, **kwargs)

    monkeypatch.setattr(dask_client, "run", run)
    yield asked


def test_a_maps_pilots_send_their_pace_as_they_finish(
    dask_client: Client, counted_runs: list[Any]
) -> None:
    with Flow("paced") as f:
        xs = E.numbers(1000)
        ys = E.inc.map(xs)
        s = E.total(ys)
    state = f.run(executor=DaskExecutor(client=dask_client), return_tasks=[s, ys])
    assert state.is_successful()
    assert state.result[s].result == sum(range(1, 1001))
    events = dask_client.get_events(f"headwater-summaries-{dask_client.id}")
    sent = {key: pace for _, (key, pace) in events}
    pilots = [k for k in sent if k.startswith(f"{ys.slug}-")]
    assert pilots and all(isinstance(sent[k], float) for k in pilots), sent
    assert pace_of not in counted_runs  # the pace was never asked for
    assert [c.result for c in state.result[ys].map_states] == list(range(1, 1001))


def test_a_summary_that_cannot_be_an_event_is_asked_for(
    dask_client: Client, counted_runs: list[Any]
) -> None:
    executor = DaskExecutor(client=dask_client)
    with executor.start():
        executor.summarize_early(["early-a", "early-b"], as_set)
        executor.submit({"early-a": (operator.add, 1, 2), "early-b": (fails, 3)})
        got = executor.gather_summaries(["early-a", "early-b"], as_set)
    assert got["early-a"] == {3}
    assert isinstance(got["early-b"], ValueError) and "no 3" in str(got["early-b"])
    assert as_set in counted_runs  # not sent as an event: read where the value is


def test_values_and_summaries_come_back_together_errors_as_values(
    dask_client: Client,
) -> None:
    executor = DaskExecutor(client=dask_client)
    with executor.start():
        executor.submit(
            {
                "both-x": (operator.add, 1, 2),
                "both-y": (operator.mul, 3, 4),
                "both-z": (fails, 5),
                "both-w": (operator.sub, 9, 1),
            }
        )
        got = executor.gather_with_summaries(["both-x", "both-z"], ["both-y", "both-w"], as_set)
    assert got["both-x"] == 3
    assert got["both-y"] == {12} and got["both-w"] == {8}
    assert isinstance(got["both-z"], ValueError)
    assert set(got) == {"both-x", "both-y", "both-z", "both-w"}


def test_the_workers_threads_are_read_from_the_cluster_without_a_trip(
    dask_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = sum(dask_client.nthreads().values())

    def no_trip() -> Any:
        raise AssertionError("asked the scheduler")

    monkeypatch.setattr(dask_client, "nthreads", no_trip)
    executor = DaskExecutor(client=dask_client)
    with executor.start():
        assert executor.parallelism() == expected == 4


def test_a_client_made_from_an_address_asks_the_scheduler_for_threads(
    dask_client: Client,
) -> None:
    with Client(dask_client.scheduler.address, set_as_default=False) as apart:
        assert getattr(apart, "cluster", None) is None
        executor = DaskExecutor(client=apart)
        with executor.start():
            assert executor.parallelism() == 4
