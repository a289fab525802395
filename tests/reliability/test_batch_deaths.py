"""A batched map child that kills its worker (a worker process of LocalDaskExecutor, a Dask
worker) is the only child Crashed (issue 12, item 11): the lost batch runs again one child per
node, its siblings read back the checkpoints they wrote in this run instead of running again,
the children after the culprit run, and the reduce runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow, unmapped
from headwater.executors import DaskExecutor, LocalDaskExecutor
from headwater.model import states as S
from headwater.results import LocalResult
from tests.flows import reliability as R
from tests.support.cluster import fragile_cluster


@pytest.fixture(params=["processes", "dask"])
def executor(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A worker process of LocalDaskExecutor, or a Dask worker (given up at its first loss)."""
    if request.param == "processes":
        yield LocalDaskExecutor("processes", num_workers=2)
        return
    with fragile_cluster() as client:
        yield DaskExecutor(client=client)


def test_only_the_child_that_kills_its_worker_is_crashed(tmp_path: Path, executor: Any) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    result = LocalResult(dir=tmp_path / "results", serializer=R.NotingSerializer(str(marks)))
    with Flow("a batch dies", result=result) as f:
        xs = R.noted_kill_at.map(
            list(range(8)), fatal=unmapped(5), marks=unmapped(str(marks)), batch_size=8
        )
        total = R.count_done(xs)
    state = f.run(executor=executor)
    children = state.result[xs].map_states
    kinds = [type(c) for c in children]
    # 0-4 ran in the lost batch and read their checkpoints back; 6 and 7 never ran in it
    assert kinds == [S.Cached] * 5 + [S.Crashed] + [S.Success] * 2, children
    assert "Task 'noted_kill_at'[5] was lost (lost 2 times)" in children[5].message
    assert [c.map_index for c in children] == list(range(8))
    assert [c.result for i, c in enumerate(children) if i != 5] == [0, 1, 2, 3, 4, 6, 7]
    runs = {x: R.marks_of(marks, x).count("run") for x in range(8)}
    assert runs == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 1, 7: 1}  # no sibling ran twice
    assert all("read" in R.marks_of(marks, x) for x in range(5))
    assert state.result[total].result == 7
