"""Retry delays: one per retry (a list, the last repeating) or an exponential backoff with
jitter, checked when the task is made, waited on every executor without holding a slot."""

from __future__ import annotations

import datetime as _dt
import random
import time
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater import Flow, Task, exponential_backoff, task, unmapped
from headwater.executors import DaskExecutor, LocalDaskExecutor
from headwater.model import states as S
from headwater.model.retries import ExponentialBackoff, retry_wait
from tests.flows import executor_flows as E
from tests.flows import porting_fidelity as P
from tests.support.cluster import fragile_cluster

# -- on every executor ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failing", "delays"),
    [
        (P.listed, [0.2, 0.6, 0.6]),  # retry_delay=[0.2, 0.6]: the last repeats
        (P.backed_off, [0.1, 0.4, 0.5]),  # exponential_backoff(0.1, factor=4, max_delay=0.5)
    ],
    ids=["list", "backoff"],
)
def test_each_retry_waits_its_own_delay(
    executor: Any, tmp_path: Path, failing: Task, delays: list[float]
) -> None:
    marker = tmp_path / "runs"
    with Flow("retried") as f:
        t = failing(str(marker))
    state = f.run(executor=executor)
    assert state.result[t].result == 4
    waits = P.gaps(marker)
    assert len(waits) == 3
    for waited, delay in zip(waits, delays, strict=True):
        assert waited >= delay, waits


def test_mapped_children_in_one_batch_each_wait_their_listed_delay(
    executor: Any, tmp_path: Path
) -> None:
    marker = str(tmp_path / "child")
    with Flow("children") as f:
        ys = P.child_retried.map(unmapped(marker), [0, 1, 2, 3], batch_size=4)
    started = time.time()
    state = f.run(executor=executor)
    assert state.result[ys].result == [0, 10, 20, 30]
    for x in range(4):
        (waited,) = P.gaps(Path(f"{marker}-{x}"))
        assert waited >= 0.5
    # the first listed delay (0.5 s), not the second (30 s): the run was over long before
    assert time.time() - started < 25


@pytest.mark.parametrize("kind", ["threads", "dask"])
def test_a_listed_retry_delay_does_not_hold_a_worker_slot(kind: str) -> None:
    """2 worker slots, 2 tasks waiting 3 s to retry: 10 short tasks finish meanwhile."""
    with Flow("f") as f:
        waiting = P.fails_once_then_says_when.map([1, 2])
        shorts = E.short.map(list(range(10)), upstream_tasks=[])
    cluster = client = None
    if kind == "dask":
        cluster = LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0"
        )
        client = Client(cluster, set_as_default=False)
        executor: Any = DaskExecutor(client=client)
    else:
        executor = LocalDaskExecutor("threads", num_workers=2)
    try:
        state = f.run(executor=executor)
    finally:
        if client is not None and cluster is not None:
            client.close()
            cluster.close()
    assert state.is_successful(), state.result
    # 10 x 0.2 s on 2 slots is 1 s of work: all of it happens during the 3 s wait
    assert max(state.result[shorts].result) < min(state.result[waiting].result) - 1


def test_a_task_lost_with_its_worker_waits_the_listed_delay_of_the_retry_it_uses(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "runs"
    with Flow("f") as f:
        bad = E.poison(str(marker), task_args={"retry_delay": [2.0, 30.0]})
    with fragile_cluster() as client:
        state = f.run(executor=DaskExecutor(client=client))
    assert type(state.result[bad]) is S.Crashed, state.result[bad]
    starts = [float(line.split()[1]) for line in marker.read_text().splitlines()]
    assert len(starts) == 2  # max_retries=1
    # the first run dies 1 s after it starts; the second waits the first delay (2 s), not 30 s
    assert 3.0 <= starts[1] - starts[0] < 25, starts


# -- the waits ------------------------------------------------------------------------------


def seconds(delay: Any, retry: int) -> float:
    return retry_wait(Task(retry_delay=delay, max_retries=9).retry_delay, retry).total_seconds()


def test_one_delay_is_the_same_before_every_retry() -> None:
    assert [seconds(1.5, n) for n in (1, 2, 7)] == [1.5, 1.5, 1.5]
    assert seconds(_dt.timedelta(minutes=1), 3) == 60
    assert seconds(None, 1) == 0
    assert Task(retry_delay=2).retry_delay == _dt.timedelta(seconds=2)  # as in Prefect 1


def test_a_list_gives_one_delay_per_retry_and_repeats_its_last() -> None:
    delays = [1, _dt.timedelta(seconds=10), 60.0]
    assert [seconds(delays, n) for n in range(1, 6)] == [1, 10, 60, 60, 60]
    assert Task(retry_delay=(2, 3)).retry_delay == (
        _dt.timedelta(seconds=2),
        _dt.timedelta(seconds=3),
    )


def test_an_exponential_backoff_grows_by_its_factor_up_to_its_cap() -> None:
    backoff = exponential_backoff(_dt.timedelta(seconds=2), factor=3, max_delay=60)
    assert [seconds(backoff, n) for n in range(1, 7)] == [2, 6, 18, 54, 60, 60]
    assert [seconds(exponential_backoff(5, factor=1), n) for n in (1, 9)] == [5, 5]
    # without a cap it stops growing at a wait a date can still hold
    assert seconds(exponential_backoff(1), 5000) == pytest.approx(100 * 365.25 * 86400)
    assert repr(backoff) == "exponential_backoff(base=2, factor=3, max_delay=60, jitter=0)"


def test_jitter_shortens_each_wait_at_random_by_at_most_its_fraction() -> None:
    backoff = exponential_backoff(10, factor=2, max_delay=100, jitter=0.25)
    rng = random.Random(7)
    waits = [backoff.wait(3, rng) for _ in range(200)]
    assert all(30 <= w <= 40 for w in waits)
    assert len(set(waits)) == 200  # spread, so tasks failing together come back apart
    assert min(waits) < 31 and max(waits) > 39
    full = exponential_backoff(10, jitter=1)
    assert all(0 <= full.wait(1, rng) <= 10 for _ in range(100))


@settings(max_examples=60, deadline=None)
@given(
    base=st.floats(0.001, 1000),
    factor=st.floats(1, 10),
    cap=st.one_of(st.none(), st.floats(1000, 10**6)),
    jitter=st.floats(0, 1),
    retry=st.integers(1, 200),
)
def test_a_backoff_wait_is_never_negative_nor_over_its_cap(
    base: float, factor: float, cap: float | None, jitter: float, retry: int
) -> None:
    backoff = exponential_backoff(base, factor=factor, max_delay=cap, jitter=jitter)
    wait = retry_wait(backoff, retry).total_seconds()
    undisturbed = min(base * factor ** (retry - 1), cap if cap is not None else float("inf"))
    assert 0 <= wait <= undisturbed * (1 + 1e-9) + 1e-6
    assert wait >= undisturbed * (1 - jitter) * (1 - 1e-9) - 1e-6 or cap is None


# -- bad values, refused when the task is made ----------------------------------------------


@pytest.mark.parametrize(
    ("delay", "error", "message"),
    [
        (-1, ValueError, r"retry_delay must be a delay from 0 seconds to 100 years, got -1"),
        (_dt.timedelta(seconds=-5), ValueError, r"retry_delay must be a delay from 0 seconds"),
        (float("nan"), ValueError, r"retry_delay must be a delay from 0 seconds"),
        (float("inf"), ValueError, r"retry_delay must be a delay from 0 seconds"),
        ([], ValueError, r"retry_delay is an empty list; give one delay per retry"),
        ([1, -2], ValueError, r"retry_delay\[1\] must be a delay from 0 seconds"),
        ([1, "2"], TypeError, r"retry_delay\[1\] must be a datetime.timedelta or a number"),
        ("5", TypeError, r"retry_delay must be a datetime.timedelta or a number of seconds, "
         r"a list of them \(one per retry\), or exponential_backoff\(...\); got '5'"),
        (True, TypeError, r"retry_delay must be .*; got True"),
        ({1: 2}, TypeError, r"retry_delay must be .*; got \{1: 2\}"),
    ],
)  # fmt: skip
def test_a_bad_retry_delay_is_refused_naming_the_task(
    delay: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^Task 'fetch': {message}"):

        @task(max_retries=2, retry_delay=delay)
        def fetch() -> None: ...


def test_a_bad_retry_delay_given_to_a_copy_or_in_task_args_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_delay is an empty list"):
        E.inc.copy(retry_delay=[])
    with pytest.raises(ValueError, match=r"Task 'inc': retry_delay must be a delay from 0"):
        with Flow("f"):
            E.inc(1, task_args={"retry_delay": -3})
    t = E.inc.copy(retry_delay=[1, 2])
    assert t.retry_delay == (_dt.timedelta(seconds=1), _dt.timedelta(seconds=2))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"base": 0}, ValueError, r"base must be > 0 seconds"),
        ({"base": -1}, ValueError, r"base must be a delay from 0 seconds"),
        ({"base": "1"}, TypeError, r"base must be a datetime.timedelta or a number"),
        ({"factor": 0.5}, ValueError, r"factor must be a number >= 1"),
        ({"factor": None}, TypeError, r"factor must be a number >= 1, got None"),
        ({"base": 10, "max_delay": 5}, ValueError, r"max_delay \(5s\) is shorter than base"),
        ({"jitter": 1.5}, ValueError, r"jitter must be from 0 to 1"),
        ({"jitter": -0.1}, ValueError, r"jitter must be from 0 to 1"),
        ({"jitter": "0.1"}, TypeError, r"jitter must be a number from 0 to 1"),
    ],
)
def test_a_bad_backoff_is_refused_naming_the_argument(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^exponential_backoff: {message}"):
        exponential_backoff(**kwargs)


def test_a_backoff_is_a_value_that_pickles_and_compares() -> None:
    import pickle

    backoff = exponential_backoff(1, factor=2, max_delay=30, jitter=0.1)
    assert isinstance(backoff, ExponentialBackoff)
    assert pickle.loads(pickle.dumps(backoff)) == backoff
    assert Task(retry_delay=backoff).retry_delay is backoff


def test_a_retrying_state_says_how_long_this_retry_waits() -> None:
    from headwater.engine.runner import TaskRunner

    @task(max_retries=2, retry_delay=[0.01, 0.02])
    def flaky() -> None:
        raise RuntimeError("no")

    seen: list[S.State] = []
    flaky.state_handlers = [lambda t, old, new: seen.append(new)]
    final = TaskRunner(flaky).run()
    assert final.is_failed()
    retrying = [s for s in seen if isinstance(s, S.Retrying)]
    assert [r.message.split(" (")[0] for r in retrying] == [
        "Retrying in 0.01s",
        "Retrying in 0.02s",
    ]
