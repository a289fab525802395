"""Targets (Makefile semantics), checkpoints and caches, through real Results on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headwater import Flow, task
from headwater.engine import caching
from headwater.results import LocalResult
from tests.flows import targets as T

ROOT = Path(__file__).resolve().parents[2]


def test_a_target_that_exists_is_read_back_and_the_task_is_cached(
    tmp_path: Path, executor: object
) -> None:
    calls = tmp_path / "calls.txt"
    f = T.restartable_flow(str(tmp_path / "results"))
    first = f.run(parameters={"calls": str(calls)}, executor=executor)
    assert first.is_successful() and len(T.calls_in(calls)) == 11
    second = f.run(parameters={"calls": str(calls)}, executor=executor)
    assert second.is_successful() and len(T.calls_in(calls)) == 11
    (total,) = f.get_tasks("total")
    assert second.result[total].is_cached() and second.result[total].result == 90
    assert "Target 'restartable/total.pkl' exists" in (second.result[total].message or "")
    (steps,) = f.get_tasks("step")
    assert all(c.is_cached() for c in second.result[steps].map_states)


def test_a_killed_run_restarts_without_redoing_finished_targets(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    root = tmp_path / "results"
    script = ROOT / "tests" / "flows" / "targets.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root), str(calls), "0.3"], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while len(T.calls_in(calls)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
            assert proc.poll() is None, "the flow finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    before = T.calls_in(calls)
    assert 4 <= len(before) < 11, before
    written = {p.name for p in (root / "restartable").glob("step-*.pkl")}
    state = T.restartable_flow(str(root)).run(parameters={"calls": str(calls), "pause": 0.0})
    assert state.is_successful()
    after = T.calls_in(calls)[len(before) :]
    rerun = {line for line in after if line.startswith("step")}
    finished_before = {f"step[{name[5:-4]}]" for name in written}
    assert not (rerun & finished_before), "a task whose target was written ran again"
    assert sorted(rerun | finished_before) == sorted(f"step[{i}]" for i in range(10))
    assert after.count("total") == 1


def test_a_half_written_target_is_never_read(tmp_path: Path) -> None:
    """A stray temporary file next to a target is not a target."""
    root = tmp_path / "results"
    (root / "restartable").mkdir(parents=True)
    (root / "restartable" / ".total.pkl.tmp").write_bytes(b"garbage")
    calls = tmp_path / "calls.txt"
    state = T.restartable_flow(str(root)).run(parameters={"calls": str(calls)})
    assert state.is_successful() and T.calls_in(calls).count("total") == 1


def test_checkpoint_writes_the_result_and_the_state_keeps_its_location(tmp_path: Path) -> None:
    with Flow("ckpt", result=LocalResult(dir=str(tmp_path), location="{task_name}-{x}.bin")) as f:
        t = T.checkpointed(7)
    state = f.run().result[t]
    assert state.result == 21 and state.result_object.location == "checkpointed-7.bin"
    assert LocalResult(dir=str(tmp_path)).read("checkpointed-7.bin").value == 21


def test_the_checkpoint_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = task(lambda: 1, name="plain")
    off = task(lambda: 1, name="off", checkpoint=False)
    res = LocalResult(dir=str(tmp_path))
    monkeypatch.delenv(caching.CHECKPOINT_ENV, raising=False)
    assert caching.resolve_result(plain, res, None, caching.checkpoint_switch())[1] is False
    assert caching.resolve_result(plain, res, True, False)[1] is True
    assert caching.resolve_result(off, res, True, True)[1] is False
    monkeypatch.setenv(caching.CHECKPOINT_ENV, "true")
    assert caching.resolve_result(plain, res, None, caching.checkpoint_switch())[1] is True
    monkeypatch.setenv(caching.CHECKPOINT_ENV, "maybe")
    with pytest.raises(
        ValueError, match="HEADWATER_CHECKPOINTING='maybe' is neither true nor false"
    ):
        caching.checkpoint_switch()
    targeted = task(lambda: 1, name="t", target="x.pkl", checkpoint=False)
    result, checkpoint = caching.resolve_result(targeted, res, False, False)
    assert (
        checkpoint is True
        and result is not None
        and result.location == "x.pkl"
        and res.location is None
    )


def test_cache_for_reuses_a_result_across_runs_and_processes(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"

    def build() -> tuple[Flow, object]:
        with Flow("cache", result=LocalResult(dir=str(tmp_path / "r"))) as f:
            t = T.cached_square(4, str(calls))
        return f, t

    f, t = build()
    assert f.run().result[t].result == 16
    f2, t2 = build()  # a new flow object: the cache lives in the Result, not in memory
    state = f2.run().result[t2]
    assert state.is_cached() and state.result == 16 and T.calls_in(calls) == ["cached_square"]


def test_all_inputs_validator_reruns_when_inputs_change(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"

    def run(x: int) -> object:
        with Flow("cache_inputs", result=LocalResult(dir=str(tmp_path / "r"))) as f:
            t = T.cached_by_inputs(x, str(calls))
        return f.run().result[t]

    assert (
        run(1).result == 2 and run(1).is_cached() and run(5).result == 6 and not run(2).is_cached()
    )
    assert T.calls_in(calls) == ["cached_by_inputs"] * 3


def test_cache_validators() -> None:
    import datetime as dt

    from headwater.model.states import Cached

    now = dt.datetime.now(dt.UTC)
    fresh = Cached(
        cached_inputs=caching.input_hashes({"x": 1, "y": 2}),
        cached_parameters=caching.input_hashes({"p": 1}),
        cached_result_expiration=now + dt.timedelta(hours=1),
    )
    stale = fresh.with_(cached_result_expiration=now - dt.timedelta(seconds=1))
    assert caching.duration_only(fresh, {}, {}) and not caching.duration_only(stale, {}, {})
    assert caching.all_inputs(fresh, {"x": 1, "y": 2}, {}) and not caching.all_inputs(
        fresh, {"x": 1, "y": 3}, {}
    )
    assert caching.all_parameters(fresh, {}, {"p": 1}) and not caching.all_parameters(
        fresh, {}, {"p": 2}
    )
    assert caching.partial_inputs_only(["x"])(fresh, {"x": 1, "y": 9}, {})
    assert not caching.partial_inputs_only(["y"])(fresh, {"x": 1, "y": 9}, {})
    assert caching.partial_parameters_only(["p"])(fresh, {}, {"p": 1, "q": 5})
    assert not caching.partial_parameters_only(["p"])(fresh, {}, {"p": 2})
    # as in Prefect 1: no names to compare, only the expiry counts; a name missing now counts
    assert caching.partial_inputs_only()(fresh, {"x": 9}, {})
    assert not caching.partial_inputs_only()(stale, {"x": 1, "y": 2}, {})
    assert caching.partial_parameters_only(None)(fresh, {}, {"p": 7})
    assert not caching.partial_inputs_only(["x"])(fresh, {"y": 2}, {})
    assert not caching.all_inputs(stale, {"x": 1, "y": 2}, {})
    assert not caching.never_use(fresh, {}, {})


def test_a_value_the_serializer_cannot_handle_fails_the_task_naming_it(tmp_path: Path) -> None:
    from headwater.serializers import JSONSerializer

    @task(checkpoint=True, result=LocalResult(dir=str(tmp_path), serializer=JSONSerializer()))
    def make_set() -> set[int]:
        return {1, 2}

    with Flow("json") as f:
        t = make_set()
    state = f.run().result[t]
    assert state.is_failed()
    assert "Task 'make_set' succeeded but its result could not be stored" in (state.message or "")
    assert "set" in (state.message or "") and "PickleSerializer" in (state.message or "")


def test_a_storage_error_fails_the_task_naming_the_location_and_retries_apply(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")

    @task(checkpoint=True, max_retries=1, result=LocalResult(dir=str(blocker), location="out.pkl"))
    def produce() -> int:
        return 1

    with Flow("storage_error") as f:
        t = produce()
    state = f.run().result[t]
    assert state.is_failed() and state.run_count == 2
    assert "out.pkl" in (state.message or "")
