"""Resuming runs stopped for real (issue 15): a driver process SIGKILLed half-way through a
100,000-element checkpointed map on a real Dask cluster, and one stopped with Ctrl-C
(SIGINT). The drivers are child processes (``python -m tests.flows.resumable``): no signal
can reach the pytest session. Every wait is for an event (journal lines), with a deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from headwater.errors import ResumeError
from headwater.executors import DaskExecutor, LocalExecutor
from headwater.runtime import journal
from tests.flows import resumable as R
from tests.support.cluster import cluster

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0


@contextmanager
def driver(folder: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m tests.flows.resumable ARGS`` in a session of its own; killed on exit if it
    still runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.flows.resumable", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=(folder / "driver.log").open("w"),
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not ready():
        assert proc.poll() is None, f"the driver ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s"
        time.sleep(0.05)


def done_children(folder: Path) -> set[int]:
    """The children of ``square`` the journal of the (only) run says finished, from the lines
    written so far (a last line cut short is skipped)."""
    files = list(folder.glob("*.jsonl"))
    if not files:
        return set()
    done: set[int] = set()
    for text in files[0].read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if line.get("kind") == "done" and line.get("task") == "square":
            start = int(line["map_index"])
            done.update(range(start, start + int(line.get("count", 1))))
    return done


def test_a_dask_driver_killed_half_way_resumes_only_what_had_not_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 100_000
    folder = tmp_path / "journal"
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(folder))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the workers import tests.flows.resumable
    with cluster(tmp_path, [], []) as (address, _workers):
        with driver(tmp_path, "dask", str(tmp_path), str(n), address) as proc:
            wait_until(lambda: len(done_children(folder)) >= n // 2, proc, "half the map")
            proc.send_signal(signal.SIGKILL)  # nothing of the driver runs after this
        finished = done_children(folder)
        [record] = journal.list_runs(flow_name="squares")
        assert record.state == journal.UNFINISHED and n // 2 <= len(finished) < n
        flow = R.squares(n, str(tmp_path))
        with pytest.raises(ResumeError, match="changed since run"):  # not the same flow
            R.squares(n + 1, str(tmp_path)).run(resume="last")
        state = flow.run(executor=DaskExecutor(address=address), resume=record.run_id)
    assert state.is_successful(), state.message
    runs = R.calls(tmp_path)
    first, again = runs[record.run_id], runs[str(journal.run_id_of(state))]
    recomputed = {int(x) for x in again if x != "total"}
    started = {int(x) for x in first}
    # at most the children that had not finished: those never started, and those of the
    # batches in flight at the kill (they finish on the workers and write their checkpoints
    # meanwhile; one the resume reaches first is computed again)
    assert recomputed <= set(range(n)) - finished
    assert recomputed | started == set(range(n)) and "total" in again
    print(
        f"killed at {len(finished):,} finished children, {len(started - finished):,} in "
        f"flight; the resume computed {len(recomputed):,}, {len(recomputed & started)} twice"
    )
    [total] = [s for t, s in state.result.items() if t.name == "total"]
    assert total.result == sum(i * i for i in range(n))


def test_a_run_stopped_with_ctrl_c_resumes_what_had_not_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 20_000
    folder = tmp_path / "journal"
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(folder))
    monkeypatch.setenv(journal.MAX_CHILDREN_ENV, str(n))  # the finished file: every child
    with driver(tmp_path, "threads", str(tmp_path), str(n)) as proc:
        wait_until(lambda: len(done_children(folder)) >= n // 4, proc, "a quarter of the map")
        with pytest.raises(ResumeError, match=r"is still going \(its driver, process"):
            R.squares(n, str(tmp_path)).run(resume="last")
        going = journal.load_run(journal.list_runs(1, flow_name="squares")[0].run_id)
        assert "--resume" not in going._repr_html_()  # no resume offered while it goes
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the run ends Cancelled, journaled whole
        out, _ = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0 and out.strip() == "Cancelled", out
    record = journal.load_run(journal.list_runs(1, flow_name="squares")[0].run_id)
    assert record.finished and record.state == "Cancelled"
    succeeded = {t.map_index for t in record.tasks if t.task == "square" and t.state == "Success"}
    assert n // 4 <= len(succeeded) < n
    state = R.squares(n, str(tmp_path)).run(executor=LocalExecutor(), resume="last")
    assert state.is_successful(), state.message
    runs = R.calls(tmp_path)
    first, again = runs[record.run_id], runs[str(journal.run_id_of(state))]
    recomputed = {int(x) for x in again if x != "total"}
    assert recomputed <= set(range(n)) - succeeded  # what had not finished, at most
    # a cancelled child that had checkpointed is read back: only children of the two batches
    # (of 20) that Ctrl-C interrupted on the two threads may run twice
    started = {int(x) for x in first}
    assert len(recomputed & started) <= 2 * 20
    assert recomputed | started == set(range(n))
    print(
        f"stopped at {len(succeeded):,} succeeded children; the resume computed "
        f"{len(recomputed):,}, {len(recomputed & started)} twice"
    )
    [total] = [s for t, s in state.result.items() if t.name == "total"]
    assert total.result == sum(i * i for i in range(n))
