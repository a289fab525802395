"""Memory stays flat: 20 runs of a 1,000-task flow on the same Client.

Starts a real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (so the
scheduler's memory is its own), runs the flow once to warm up, then N more times, and prints
the resident memory of the scheduler and of this (driver) process after the warm-up and at
the end. Exits 1 when either grew by more than the limit (50 MB).

Usage: python benchmarks/bench_memory.py [--runs 20] [--tasks 1000] [--limit-mb 50]
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headwater import Flow, task  # noqa: E402


@task
def inc(x: int) -> int:
    return x + 1


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--limit-mb", type=float, default=50.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("HEADWATER_JOURNAL", "false")

    from distributed import Client

    from headwater.executors import DaskExecutor

    with Flow("memory") as flow:
        t = total(inc.map(list(range(args.tasks - 1))))
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", "127.0.0.1:0", "--no-show"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    ]  # fmt: skip
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "2", "--host", "127.0.0.1",
                     "--no-dashboard"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )  # fmt: skip
        with Client(address, timeout=30, set_as_default=False) as client:
            deadline = time.monotonic() + 30
            while len(client.scheduler_info()["workers"]) < 2:
                if time.monotonic() > deadline:
                    raise TimeoutError("workers did not join")
                time.sleep(0.1)
            executor = DaskExecutor(client=client)

            def measure() -> tuple[float, float]:
                gc.collect()
                client.run_on_scheduler(gc.collect)
                return client.run_on_scheduler(rss_mb), rss_mb()

            expected = sum(range(1, args.tasks))
            assert flow.run(executor=executor).result[t].result == expected
            sched0, driver0 = measure()
            started = time.perf_counter()
            for _ in range(args.runs):
                state = flow.run(executor=executor)
                assert state.result[t].result == expected
            seconds = time.perf_counter() - started
            sched1, driver1 = measure()
            tasks_left = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    print(f"{args.runs} runs of a {args.tasks}-task flow in {seconds:.1f} s")
    print(f"scheduler: {sched0:7.1f} MB -> {sched1:7.1f} MB  ({sched1 - sched0:+.1f} MB)")
    print(f"driver:    {driver0:7.1f} MB -> {driver1:7.1f} MB  ({driver1 - driver0:+.1f} MB)")
    print(f"tasks left on the scheduler: {tasks_left}")
    grew = max(sched1 - sched0, driver1 - driver0)
    if grew > args.limit_mb or tasks_left:
        print(f"FAIL: grew {grew:.1f} MB (limit {args.limit_mb} MB) or tasks left")
        return 1
    print(f"OK: within {args.limit_mb:g} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
