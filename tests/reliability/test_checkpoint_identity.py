"""A checkpoint is read back only by the task run that wrote it (issue 12.2): a second run
given the same ``flow_run_id`` never gets the first run's value, on any executor (the read
back happens on those that can lose a result with a worker: DaskExecutor)."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.results import LocalResult
from tests.flows import trust as T


@pytest.mark.parametrize(
    "location", [None, "{flow_run_id}/{task_name}.pkl"], ids=["default", "template"]
)
def test_a_reused_flow_run_id_never_returns_another_runs_checkpoint(
    tmp_path: Path, executor: object, location: str | None
) -> None:
    calls = tmp_path / "calls.txt"
    flow = T.checkpoint_flow(LocalResult(dir=str(tmp_path / "r"), location=location))
    (task,) = flow.get_tasks("checkpointed_double")
    got = []
    for n in (1, 2, 2):
        state = flow.run(
            parameters={"n": n, "calls": str(calls)},
            context={"flow_run_id": "the-same-run"},
            executor=executor,
        )
        assert state.is_successful(), state.result
        got.append(state.result[task])
    assert [s.result for s in got] == [2, 4, 4]
    assert not any(s.is_cached() for s in got), [s.message for s in got]
    assert len(T.calls_in(calls)) == 3
