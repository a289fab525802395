"""Large maps: a map of N elements + a reduce, batched headwater against raw ``client.map``.

For each size, headwater runs ``total(inc.map(range(N)))`` on each executor asked for
(``dask`` is a DaskExecutor on a LocalCluster of ``--workers`` worker processes, shared with
the raw Dask runs), and reports seconds, microseconds per element, the number of graph nodes
the map became, and the driver's peak resident memory during the run (sampled every 20 ms).
For the ``--raw`` sizes it also times raw Dask futures on the same cluster
(``client.map(inc, range(N))`` then ``client.submit(sum, futures)``) and prints the ratio
raw / headwater. Targets (issue 6, docs/notices/0010-batched-maps.md): 1,000,000 elements on
``dask`` with 2 workers in under 120 s with a driver peak under 2 GiB; at 100,000 elements
headwater at least 10x faster than raw client.map.

The run journal is switched off (HEADWATER_JOURNAL=false) for the runs: it costs time per
task.

Usage: python benchmarks/bench_scale.py [--sizes 1000000] [--executors dask]
       [--raw 100000] [--workers 2] [--batch-size N] [--json out.json]

Importable: :func:`run_scale` and :func:`run_raw` return dicts (benchmarks/suite.py uses
them); both take a Client for the ``dask`` kind or start their own cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headwater import Flow, task  # noqa: E402

KINDS = ("local", "threads", "processes", "dask")


def inc(x: int) -> int:
    """Add one."""
    return x + 1


def total(xs: list[int]) -> int:
    """Sum."""
    return sum(xs)


inc_t, total_t = task(inc), task(total)


def rss_mb() -> float:
    """This process's resident memory, in MiB."""
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


@contextlib.contextmanager
def peak_rss(every: float = 0.02) -> Iterator[dict[str, float]]:
    """Sample this process's resident memory while inside; ``out["peak_mb"]`` at the end."""
    out = {"start_mb": rss_mb(), "peak_mb": 0.0}
    out["peak_mb"] = out["start_mb"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            out["peak_mb"] = max(out["peak_mb"], rss_mb())

    sampler = threading.Thread(target=sample, name="bench-rss", daemon=True)
    sampler.start()
    try:
        yield out
    finally:
        stop.set()
        sampler.join()
        out["peak_mb"] = max(out["peak_mb"], rss_mb())


@contextlib.contextmanager
def journal_off() -> Iterator[None]:
    """Switch the run journal off while inside (it costs time per task), then restore the
    setting (importing this module changes nothing)."""
    before = os.environ.get("HEADWATER_JOURNAL")
    os.environ["HEADWATER_JOURNAL"] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HEADWATER_JOURNAL", None)
        else:
            os.environ["HEADWATER_JOURNAL"] = before


@contextlib.contextmanager
def local_cluster(workers: int = 2, threads_per_worker: int = 1) -> Iterator[Any]:
    """A Client on a LocalCluster of ``workers`` processes on 127.0.0.1."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _ship_by_value() -> None:
    """Workers may not import this file as a module: send its functions by value."""
    if __name__ != "__main__":
        import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])


class _Counting:
    """Wraps an executor and counts the graph nodes submitted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.nodes = 0
        self.ships_values = getattr(inner, "ships_values", False)

    def start(self) -> Any:
        return self.inner.start()

    def submit(self, graph: Any, annotations: Any = None) -> None:
        from headwater.taskgraph import is_node

        self.nodes += sum(1 for v in graph.values() if is_node(v))
        self.inner.submit(graph, annotations)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def run_scale(
    n: int,
    executor_kind: str = "dask",
    client: Any = None,
    batch_size: int | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Run ``total(inc.map(range(n)))`` on one executor kind and measure it.

    Args:
        n: the number of elements.
        executor_kind: ``local``, ``threads``, ``processes`` or ``dask``.
        client: a dask.distributed Client for ``dask`` (a LocalCluster of ``workers``
            processes is started when None).
        batch_size: the map's batch size (automatic when None).
        workers: worker processes or threads to use.

    Returns:
        ``n``, ``executor``, ``seconds``, ``us_per_element``, ``graph_nodes``,
        ``driver_start_mb``, ``driver_peak_mb``, ``ok``.
    """
    from headwater.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor

    if executor_kind not in KINDS:
        raise ValueError(f"executor_kind must be one of {KINDS}, got {executor_kind!r}")
    if executor_kind == "dask" and client is None:
        with local_cluster(workers) as own:
            return run_scale(n, executor_kind, own, batch_size, workers)
    _ship_by_value()
    with Flow(f"scale-{n}") as flow:
        mapped = inc_t.map(list(range(n)), batch_size=batch_size)
        summed = total_t(mapped)
    inner: Any = {
        "local": LocalExecutor,
        "threads": lambda: LocalDaskExecutor("threads", workers),
        "processes": lambda: LocalDaskExecutor("processes", workers),
        "dask": lambda: DaskExecutor(client=client),
    }[executor_kind]()
    executor = _Counting(inner)
    with journal_off(), peak_rss() as memory:
        start = time.perf_counter()
        state = flow.run(executor=executor, return_tasks=[summed, mapped])
        seconds = time.perf_counter() - start
    expected = n * (n + 1) // 2
    reduce_state = state.result[summed]
    return {
        "n": n,
        "executor": executor_kind,
        "seconds": seconds,
        "us_per_element": seconds / max(n, 1) * 1e6,
        "graph_nodes": executor.nodes,
        "driver_start_mb": memory["start_mb"],
        "driver_peak_mb": memory["peak_mb"],
        "counts": state.result[mapped].counts(),
        "ok": bool(state.is_successful() and reduce_state.result == expected),
    }


def run_raw(n: int, client: Any) -> dict[str, Any]:
    """Time raw Dask futures: ``client.map(inc, range(n))`` then a sum of them.

    Args:
        n: the number of elements.
        client: a dask.distributed Client.

    Returns:
        ``n``, ``executor`` (``raw client.map``), ``seconds``, ``us_per_element``, ``ok``.
    """
    _ship_by_value()
    start = time.perf_counter()
    futures = client.map(inc, range(n), pure=False)
    got = client.submit(total, futures, pure=False).result()
    seconds = time.perf_counter() - start
    del futures
    return {
        "n": n,
        "executor": "raw client.map",
        "seconds": seconds,
        "us_per_element": seconds / max(n, 1) * 1e6,
        "graph_nodes": n + 1,
        "ok": got == n * (n + 1) // 2,
    }


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line; exit 1 when a run gave a wrong answer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000", help="map sizes, comma-separated")
    parser.add_argument("--executors", default="dask", help=f"some of {','.join(KINDS)}")
    parser.add_argument("--raw", default="100000", help="sizes to also run as raw client.map")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers (processes)")
    parser.add_argument("--batch-size", type=int, default=None, help="override (default auto)")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args(argv)
    os.environ["HEADWATER_JOURNAL"] = "false"
    kinds = [k.strip() for k in args.executors.split(",") if k.strip()]
    sizes, raw_sizes = _ints(args.sizes), _ints(args.raw)
    rows: list[dict[str, Any]] = []
    with local_cluster(args.workers) as client:
        for n in sorted(set(sizes) | set(raw_sizes)):
            mine = None
            for kind in kinds if n in sizes or n in raw_sizes else ():
                if n not in sizes and kind != "dask":
                    continue
                row = run_scale(n, kind, client, args.batch_size, args.workers)
                rows.append(row)
                if kind == "dask":
                    mine = row
            if n in raw_sizes:
                if mine is None:
                    mine = run_scale(n, "dask", client, args.batch_size, args.workers)
                    rows.append(mine)
                raw = run_raw(n, client)
                raw["raw_over_headwater"] = raw["seconds"] / mine["seconds"]
                rows.append(raw)
    load = os.getloadavg()[0]
    print(
        f"{'n':>9} {'executor':<16} {'seconds':>9} {'us/elem':>8} {'nodes':>8} "
        f"{'driver peak MiB':>15} {'ok':>3}"
    )
    for r in rows:
        peak = f"{r['driver_peak_mb']:15.0f}" if "driver_peak_mb" in r else " " * 15
        print(
            f"{r['n']:>9} {r['executor']:<16} {r['seconds']:9.2f} {r['us_per_element']:8.1f} "
            f"{r['graph_nodes']:>8} {peak} {'yes' if r['ok'] else 'NO':>3}"
        )
        if "raw_over_headwater" in r:
            print(f"{'':>9} raw client.map / headwater on dask: {r['raw_over_headwater']:.1f}x")
    print(f"(load average {load:.2f} on {os.cpu_count()} CPUs; {args.workers} Dask workers)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "load": load}, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
