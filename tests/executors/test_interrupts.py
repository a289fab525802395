"""Ctrl-C: a real SIGINT sent to a flow run in a process of its own (tests/flows/interrupted.py),
once a task has started or while the Dask cluster starts. The run ends Cancelled, keeps the
states that finished, and leaves no cluster or worker process behind; an interrupt can never
reach the pytest session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.interrupts import child


@pytest.mark.parametrize("kind", ["threads", "processes", "dask"])
def test_ctrl_c_once_a_task_started_cancels_the_rest_and_closes_the_cluster(
    kind: str, tmp_path: Path
) -> None:
    with child(kind, tmp_path) as run:
        run.wait_until(lambda: any(tmp_path.glob("started-*")), "a sleeper starting")
        run.interrupt()
        got = run.result()
    assert got["state"] == "Cancelled", got
    assert "interrupted" in got["message"]
    assert got["seconds"] < 20  # it did not wait for the 20 s sleepers
    assert got["quick"] == 2  # a state that was final is kept
    assert got["tasks"]["slow"] == ["Cancelled"] * 4 and got["tasks"]["after"] == "Cancelled"
    if kind == "dask":
        assert got["left"] == {"clusters": 0, "processes": 0}


def test_ctrl_c_while_the_dask_cluster_starts_cancels_the_run_and_closes_the_cluster(
    tmp_path: Path,
) -> None:
    with child("dask-starting", tmp_path) as run:
        run.wait_until((tmp_path / "cluster-up").exists, "the cluster being up")
        run.interrupt()
        run.wait_until(lambda: "Interrupted while the Dask cluster" in "".join(run.err), "a word")
        (tmp_path / "go").touch()  # the cluster's constructor may return now
        got = run.result()
    assert got["state"] == "Cancelled", got
    assert "interrupted" in got["message"]
    assert got["tasks"] == {"quick": "Cancelled", "slow": "Cancelled", "after": "Cancelled"}
    assert not any(tmp_path.glob("started-*"))  # no task ran
    assert got["left"] == {"clusters": 0, "processes": 0}
