"""The executor hands the run's key to the processes that run its tasks (issue 12.6): a key
set on the driver after the workers started reaches them, a process pool does not keep the
environment of its first run, and the key shows in no graph, log, repr or journal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cloudpickle
import pytest

from headwater import Flow
from headwater.executors import LocalDaskExecutor
from headwater.results import LocalResult
from tests.flows import trust as T
from tests.support.recording import RecordingExecutor

TEAM_KEY = "team-key-7f3c2a91e4b8d605"
SIGNING_KEY_ENV = "HEADWATER_RESULT_SIGNING_KEY"


def test_a_key_set_on_the_driver_after_the_workers_started_reaches_them(
    tmp_path: Path,
    executor: object,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, calls = tmp_path / "r", tmp_path / "calls.txt"
    flow = T.checkpoint_flow(LocalResult(dir=str(root)))
    (task,) = flow.get_tasks("checkpointed_double")
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    first = flow.run(parameters={"n": 1, "calls": str(calls)}, executor=executor)
    assert first.is_successful()  # the workers (and a forkserver) run now, without the key
    monkeypatch.setenv(SIGNING_KEY_ENV, TEAM_KEY)
    recorder = RecordingExecutor(executor)
    with caplog.at_level(logging.DEBUG):
        second = flow.run(parameters={"n": 2, "calls": str(calls)}, executor=recorder)
    assert second.is_successful(), second.result
    written = second.result[task].result_object.location
    assert LocalResult(dir=str(root), signing_key=TEAM_KEY).read(written).value == 4
    # the key travelled outside the graph, and nothing wrote it down
    assert TEAM_KEY.encode() not in cloudpickle.dumps(recorder.batches)
    assert TEAM_KEY not in caplog.text and TEAM_KEY not in repr(second.result)
    journal = Path(os.environ["HEADWATER_JOURNAL_DIR"])
    for path in journal.rglob("*.jsonl"):
        assert TEAM_KEY not in path.read_text(errors="replace"), path


def test_worker_processes_start_with_the_environment_of_each_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Flow("environment") as flow:
        value = T.environment_value("HEADWATER_TEST_MARK")
    seen = []
    for mark in ("first", "second"):
        monkeypatch.setenv("HEADWATER_TEST_MARK", mark)
        state = flow.run(executor=LocalDaskExecutor("processes", num_workers=2))
        assert state.is_successful(), state.result
        seen.append(state.result[value].result)
    monkeypatch.delenv("HEADWATER_TEST_MARK")
    state = flow.run(executor=LocalDaskExecutor("processes", num_workers=2))
    seen.append(state.result[value].result)
    assert seen == ["first", "second", None]
