"""headwater on every executor against raw Dask on the same schedulers, in one run.

Graphs (the same for headwater and raw Dask):

- ``map``: a map over N elements (10,000) and a reduce of the children;
- ``chain``: a chain of 200 tasks, each taking the previous result;
- ``layers``: 10 layers of 100 tasks, each depending on 1-3 random tasks of the layer above
  (seed 0);
- ``sleep``: 200 independent tasks sleeping 50 ms each.

Raw Dask: ``dask.delayed`` on the threaded scheduler (compared with LocalDaskExecutor
threads), and client futures (``client.map`` / ``client.submit``) on the same LocalCluster as
DaskExecutor. Prints seconds and the ratio headwater / raw Dask. ``--small`` shrinks every
graph for a quick smoke run (CI); ``--only threads,dask`` picks executors.

Usage: python benchmarks/bench_executors.py [--small] [--only local,threads,processes,dask]
       [--graphs map,chain,layers,sleep]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headwater import Flow, Task, task  # noqa: E402


def inc(x: int) -> int:
    return x + 1


def add(a: int, b: int = 0, c: int = 0) -> int:
    return a + b + c


def total(xs: list[int]) -> int:
    return sum(xs)


def nap(i: int) -> int:
    time.sleep(0.05)
    return i


inc_t, add_t, total_t, nap_t = task(inc), task(add), task(total), task(nap)


def sizes(small: bool) -> dict[str, int]:
    if small:
        return {"map": 200, "chain": 20, "layers": 5, "width": 10, "sleep": 20}
    return {"map": 10_000, "chain": 200, "layers": 10, "width": 100, "sleep": 200}


def layer_deps(n_layers: int, width: int) -> list[list[list[int]]]:
    rng = random.Random(0)
    return [
        [sorted(rng.sample(range(width), rng.randint(1, 3))) for _ in range(width)]
        for _ in range(n_layers - 1)
    ]


# -- headwater flows ------------------------------------------------------------------------


def flows(n: dict[str, int]) -> dict[str, tuple[Flow, Callable[[Any], Any]]]:
    out: dict[str, tuple[Flow, Callable[[Any], Any]]] = {}
    with Flow("map") as f:
        t = total_t(inc_t.map(list(range(n["map"]))))
    out["map"] = (f, lambda s, t=t: s.result[t].result)
    with Flow("chain") as f:
        x: Task = inc_t(0)
        for _ in range(n["chain"] - 1):
            x = inc_t(x)
    out["chain"] = (f, lambda s, x=x: s.result[x].result)
    with Flow("layers") as f:
        layer = [inc_t(i) for i in range(n["width"])]
        for deps in layer_deps(n["layers"], n["width"]):
            layer = [add_t(*(layer[j] for j in d)) for d in deps]
        last = total_t(layer)
    out["layers"] = (f, lambda s, last=last: s.result[last].result)
    with Flow("sleep") as f:
        naps = nap_t.map(list(range(n["sleep"])))
    out["sleep"] = (f, lambda s, naps=naps: len(s.result[naps].result))
    return out


# -- raw Dask -------------------------------------------------------------------------------


def raw_delayed(name: str, n: dict[str, int]) -> Any:
    import dask
    from dask import delayed

    if name == "map":
        target = delayed(total)([delayed(inc)(i) for i in range(n["map"])])
    elif name == "chain":
        target = delayed(inc)(0)
        for _ in range(n["chain"] - 1):
            target = delayed(inc)(target)
    elif name == "layers":
        layer = [delayed(inc)(i) for i in range(n["width"])]
        for deps in layer_deps(n["layers"], n["width"]):
            layer = [delayed(add)(*(layer[j] for j in d)) for d in deps]
        target = delayed(total)(layer)
    else:
        target = delayed(len)([delayed(nap)(i) for i in range(n["sleep"])])
    return dask.compute(target, scheduler="threads")[0]


def raw_futures(client: Any, name: str, n: dict[str, int]) -> Any:
    if name == "map":
        futs = client.map(inc, range(n["map"]), pure=False)
        return client.submit(total, futs, pure=False).result()
    if name == "chain":
        fut = client.submit(inc, 0, pure=False)
        for _ in range(n["chain"] - 1):
            fut = client.submit(inc, fut, pure=False)
        return fut.result()
    if name == "layers":
        layer = client.map(inc, range(n["width"]), pure=False)
        for deps in layer_deps(n["layers"], n["width"]):
            layer = [client.submit(add, *(layer[j] for j in d), pure=False) for d in deps]
        return client.submit(total, layer, pure=False).result()
    futs = client.map(nap, range(n["sleep"]), pure=False)
    return len(client.gather(futs))


# -- the run --------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny graphs (a smoke run)")
    parser.add_argument("--only", default="local,threads,processes,dask")
    parser.add_argument("--graphs", default="map,chain,layers,sleep")
    args = parser.parse_args(argv)
    graphs = [g.strip() for g in args.graphs.split(",") if g.strip()]
    os.environ.setdefault("HEADWATER_JOURNAL", "false")
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    n = sizes(args.small)
    workers = os.cpu_count() or 2

    from distributed import Client, LocalCluster

    from headwater.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor

    rows: list[tuple[str, str, float, float | None]] = []
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        for name, (flow, value_of) in flows(n).items():
            if name not in graphs:
                continue
            expected = raw_delayed(name, n)
            raw_threads, got = timed(lambda name=name: raw_delayed(name, n))
            assert got == expected
            raw_dist, got = timed(lambda name=name: raw_futures(client, name, n))
            assert got == expected, (name, got, expected)
            for kind in kinds:
                executor: Any = {
                    "local": LocalExecutor,
                    "threads": lambda: LocalDaskExecutor("threads", workers),
                    "processes": lambda: LocalDaskExecutor("processes", workers),
                    "dask": lambda: DaskExecutor(client=client),
                }[kind]()
                seconds, state = timed(lambda ex=executor, f=flow: f.run(executor=ex))
                assert state.is_successful(), (kind, name, state)
                assert value_of(state) == expected, (kind, name)
                raw = raw_dist if kind == "dask" else raw_threads
                rows.append((name, kind, seconds, raw))
            rows.append((name, "raw dask.threaded", raw_threads, None))
            rows.append((name, "raw distributed", raw_dist, None))
    print(f"{'graph':<8} {'executor':<20} {'seconds':>9} {'vs raw':>8}")
    for name, kind, seconds, raw in rows:
        ratio = f"{seconds / raw:8.2f}" if raw else " " * 8
        print(f"{name:<8} {kind:<20} {seconds:9.3f} {ratio}")
    print("(vs raw: headwater / raw Dask on the same scheduler: dask.threaded for local, threads")
    print(" and processes; client futures on the same LocalCluster for dask)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
