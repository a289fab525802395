"""Worker peak memory for one large result: headwater against raw Dask (issue 12, item 16).

A task makes a ``bytes`` value of ``--mb`` MiB and a second task takes its length. Each case
runs on a fresh LocalCluster of one worker process (one thread, ``--limit`` of memory, 2 GiB
by default: past 95% of it the nanny kills the worker), and reads the worker's peak resident
memory (``VmHWM`` in ``/proc/<pid>/status``) after the run:

- ``raw``: ``client.submit(make, n)``, then ``client.submit(len, it).result()``;
- ``headwater``: the same two tasks as a flow on ``DaskExecutor(client=...)``, the first one
  without checkpoint;
- ``checkpointed``: the first one with ``checkpoint=True``, a LocalResult in a temporary
  folder, PickleSerializer (the default);
- ``signed``: as ``checkpointed``, the result signed with a key.

Prints, per case, the outcome, the worker's resident memory before the run and its peak,
and the peak over raw Dask's peak (the target: 1.2 or less). Run by hand:

    python benchmarks/bench_large_result.py [--mb 700] [--limit 2GiB] [--cases raw,...]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headwater import Flow, task  # noqa: E402
from headwater.results import LocalResult  # noqa: E402

CASES = ("raw", "headwater", "checkpointed", "signed")


def make(n: int) -> bytes:
    """``n`` bytes, every page touched (``bytes(n)`` would leave them untouched)."""
    return b"\x01" * n


@task(name="make")
def make_task(n: int) -> bytes:
    return make(n)


@task(name="size")
def size_task(blob: bytes) -> int:
    return len(blob)


def _memory(key: str) -> int:
    """A field of this process's /proc status, in bytes (run on the worker)."""
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(key)


def _worker_memory(client: Any, key: str) -> int:
    return int(next(iter(client.run(_memory, key).values())))


def run_case(case: str, n: int, limit: str, folder: str) -> tuple[str, int, int, float]:
    """Run one case on a fresh one-worker cluster: (outcome, RSS before, peak, seconds)."""
    from distributed import Client, LocalCluster

    from headwater.executors import DaskExecutor

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            memory_limit=limit,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("headwater.engine.nodes"))  # imports are not the result
        before = _worker_memory(client, "VmRSS")
        started = time.perf_counter()
        if case == "raw":
            blob = client.submit(make, n, pure=False)
            outcome = f"len {client.submit(len, blob).result()}"
        else:
            checkpoint = case != "headwater"
            key = "a team key" if case == "signed" else None
            result = LocalResult(dir=folder, signing_key=key)
            with Flow(f"large-{case}", result=result) as flow:
                size = size_task(make_task(n, task_args={"checkpoint": checkpoint}))
            state = flow.run(executor=DaskExecutor(client=client), return_tasks=[size])
            got = state.result[size]
            outcome = f"len {got.result}" if got.is_successful() else type(got).__name__
        seconds = time.perf_counter() - started
        try:
            peak = _worker_memory(client, "VmHWM")
        except Exception:  # the worker was killed and restarted: its peak is gone
            peak = 0
        return outcome, before, peak, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=700, help="size of the result, MiB")
    parser.add_argument("--limit", default="2GiB", help="the worker's memory limit")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args(argv)
    os.environ.setdefault("HEADWATER_JOURNAL", "false")
    n = args.mb << 20
    mib = 1 << 20
    raw_peak = 0
    print(f"{args.mb} MiB bytes result, one worker, memory limit {args.limit}")
    print(f"{'case':<14}{'outcome':<22}{'RSS before':>12}{'peak':>10}{'/ raw':>8}{'s':>8}")
    for case in args.cases.split(","):
        with tempfile.TemporaryDirectory() as folder:
            outcome, before, peak, seconds = run_case(case, n, args.limit, folder)
        if case == "raw":
            raw_peak = peak
        ratio = f"{peak / raw_peak:.2f}" if raw_peak and peak else "-"
        print(
            f"{case:<14}{outcome:<22}{before / mib:>10.0f}Mi{peak / mib:>8.0f}Mi"
            f"{ratio:>8}{seconds:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
