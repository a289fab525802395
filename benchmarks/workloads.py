"""The benchmark workloads: each one as a headwater flow and as the same graph in raw Dask.

Design note
-----------
A :class:`Workload` builds one graph four ways, so that every executor is compared with raw
Dask (or plain Python) running the *same* graph on the *same* scheduler:

- :meth:`Workload.flow`: a headwater ``Flow`` and its final task (the only state the suite
  asks back, ``return_tasks=[final]``, as the raw side returns only the final value);
- :meth:`Workload.python`: plain Python calls in topological order (for LocalExecutor);
- :meth:`Workload.graph`: a plain Dask graph (a dict of ``(function, *args)`` tuples) and
  its final key, run with ``dask.threaded.get`` / ``dask.multiprocessing.get``;
- :meth:`Workload.futures`: client futures (``client.map`` / ``client.submit``) on a
  dask.distributed Client;
- for maps, :attr:`Workload.bag`: what a Dask expert writes for a map and a reduce,
  ``dask.bag.from_sequence(xs, npartitions=min(1000, ceil(n / 1000))).map(f).sum()``, computed
  on the same scheduler (threads, processes or the Client). It is the raw side of the maps on
  those schedulers (issue 14): one future per element is not how anyone maps a million
  values in raw Dask.

Why a plain graph rather than ``dask.delayed`` for the local schedulers: building a
``delayed`` reduce over 10,000 ``delayed`` children costs about 11 s on this machine (its
HighLevelGraph has one layer per child and merging/culling them is quadratic), while the
threaded scheduler itself runs the same graph in about 0.6 s. Comparing with ``delayed``
would credit headwater with a cost that is not Dask's scheduler; the plain graph is the
honest "raw Dask" for the threaded and processes schedulers.

The task functions live at module level so that worker processes import them by name.
Every workload checks its own answer (:attr:`Workload.expected`).
"""

from __future__ import annotations

import math
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headwater import Flow, Task, task, unmapped

# -- task functions (plain, importable by worker processes) -------------------------------


def inc(x: int) -> int:
    """Add one."""
    return x + 1


def add(a: int, b: int = 0, c: int = 0) -> int:
    """Add up to three numbers."""
    return a + b + c


def total(xs: list[int]) -> int:
    """The reduce of a map: the sum of its children."""
    return sum(xs)


def nap(i: int, seconds: float) -> int:
    """Sleep, then return the index (the concurrency workload)."""
    time.sleep(seconds)
    return i


def count(xs: list[Any]) -> int:
    """How many values arrived."""
    return len(xs)


def make_array(i: int, megabytes: float) -> Any:
    """A float64 array of ``megabytes`` MB filled with ``i``."""
    import numpy as np

    return np.full(int(megabytes * 1_000_000) // 8, float(i))


def shift(a: Any) -> Any:
    """A new array: ``a + 1`` (so the data is both moved and computed on)."""
    return a + 1.0


def checksum(arrays: list[Any]) -> float:
    """The sum of every element of every array."""
    return float(sum(float(a.sum()) for a in arrays))


def blob(i: int) -> bytes:
    """A 1 KiB value to checkpoint."""
    return i.to_bytes(8, "little") * 128


def total_bytes(blobs: list[bytes]) -> int:
    """How many bytes arrived."""
    return sum(len(b) for b in blobs)


def blob_to_file(i: int, folder: str) -> bytes:
    """The raw side of the checkpoint workload: make the value and write the bytes a
    ``LocalResult`` with a ``PickleSerializer`` writes (header, binding and HMAC included),
    atomically."""
    from headwater.results._payload import seal
    from headwater.serializers import PickleSerializer

    value = blob(i)
    data = seal(PickleSerializer().serialize(value), b"benchmark key", f"{i}.bin")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{i}.bin")
    temp = os.path.join(folder, f".{i}.bin.{uuid.uuid4().hex[:12]}.tmp")
    with open(temp, "wb") as out:
        out.write(data)
    os.replace(temp, path)
    return value


inc_t, add_t, total_t, nap_t, count_t = task(inc), task(add), task(total), task(nap), task(count)
make_array_t, shift_t, checksum_t = task(make_array), task(shift), task(checksum)
total_bytes_t = task(total_bytes)


# -- workloads ------------------------------------------------------------------------------


@dataclass
class Workload:
    """One graph, built as a headwater flow, plain Python calls, a Dask graph and futures.

    Attributes:
        id: a short stable name (``map-10000``, ``chain``, ...).
        label: what it is, for the table.
        n_tasks: headwater task runs per flow run (children of a map count one each).
        expected: the final value every side must return.
        threads: how many tasks run at once on the local schedulers (None: the suite's
            default); the concurrency workload asks for more threads than cores.
        ideal_seconds: per run, with T tasks at once: a function of T (concurrency workload).
    """

    id: str
    label: str
    n_tasks: int
    expected: Any
    build_flow: Callable[[], tuple[Flow, Task]]
    python: Callable[[], Any]
    graph: Callable[[], tuple[dict[str, Any], str]]
    futures: Callable[[Any], Any]
    threads: int | None = None
    ideal_seconds: Callable[[int], float] | None = None
    cluster_threads: int = 1
    """Threads per worker of the LocalCluster this workload runs on."""
    bag: Callable[[str, Any, int], Any] | None = None
    """For maps: ``bag(kind, client, workers)`` runs the same map and reduce as a dask.bag on
    the scheduler of ``kind`` (``threads``, ``processes`` or ``dask``; ``client`` for
    ``dask``, ``workers`` processes or threads locally) and returns the reduce's value."""
    notes: list[str] = field(default_factory=list)

    def flow(self) -> tuple[Flow, Task]:
        """The headwater flow and its final task."""
        return self.build_flow()


def map_reduce(n: int) -> Workload:
    """A map over ``n`` elements and a reduce of the children."""

    def build() -> tuple[Flow, Task]:
        with Flow(f"map-{n}") as f:
            t = total_t(inc_t.map(list(range(n))))
        return f, t

    def graph() -> tuple[dict[str, Any], str]:
        dsk: dict[str, Any] = {f"inc-{i}": (inc, i) for i in range(n)}
        dsk["total"] = (total, list(dsk))
        return dsk, "total"

    def futures(client: Any) -> Any:
        futs = client.map(inc, range(n), pure=False)
        return client.submit(total, futs, pure=False).result()

    return Workload(
        id=f"map-{n}",
        label=f"map {n:,} + reduce",
        n_tasks=n + 1,
        expected=n * (n + 1) // 2,
        build_flow=build,
        python=lambda: total([inc(i) for i in range(n)]),
        graph=graph,
        futures=futures,
        bag=lambda kind, client, workers: bag_map_sum(n, kind, client, workers),
    )


def bag_partitions(n: int) -> int:
    """The partitions a Dask expert gives a bag of ``n`` elements: about 1,000 elements each,
    at most 1,000 partitions (issue 14).

    >>> bag_partitions(1_000), bag_partitions(10_000), bag_partitions(10_000_000)
    (1, 10, 1000)
    """
    return max(1, min(1000, math.ceil(n / 1000)))


def bag_map_sum(n: int, kind: str, client: Any, workers: int) -> Any:
    """``sum(inc(x) for x in range(n))`` as a dask.bag on the scheduler of ``kind``."""
    import dask.bag as db

    summed = db.from_sequence(range(n), npartitions=bag_partitions(n)).map(inc).sum()
    if kind == "dask":
        return client.compute(summed, sync=True)
    if kind == "threads":
        return summed.compute(scheduler="threads", num_workers=workers)
    if kind == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # a new pool per run, as for the plain graphs (and as headwater starts its processes)
        ctx = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            return summed.compute(scheduler="processes", num_workers=workers, pool=pool)
    raise ValueError(f"no dask.bag scheduler for {kind!r}")


def chain(n: int) -> Workload:
    """A chain of ``n`` tasks, each taking the previous result."""

    def build() -> tuple[Flow, Task]:
        with Flow("chain") as f:
            x: Task = inc_t(0)
            for _ in range(n - 1):
                x = inc_t(x)
        return f, x

    def python() -> int:
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    def graph() -> tuple[dict[str, Any], str]:
        dsk: dict[str, Any] = {"inc-0": (inc, 0)}
        for i in range(1, n):
            dsk[f"inc-{i}"] = (inc, f"inc-{i - 1}")
        return dsk, f"inc-{n - 1}"

    def futures(client: Any) -> Any:
        fut = client.submit(inc, 0, pure=False)
        for _ in range(n - 1):
            fut = client.submit(inc, fut, pure=False)
        return fut.result()

    return Workload(
        id=f"chain-{n}",
        label=f"chain of {n:,}",
        n_tasks=n,
        expected=n,
        build_flow=build,
        python=python,
        graph=graph,
        futures=futures,
    )


def layer_deps(n_layers: int, width: int, seed: int = 0) -> list[list[list[int]]]:
    """For each layer after the first, each task's 1-3 parents in the layer above."""
    rng = random.Random(seed)
    return [
        [sorted(rng.sample(range(width), min(width, rng.randint(1, 3)))) for _ in range(width)]
        for _ in range(n_layers - 1)
    ]


def layers(n_layers: int, width: int) -> Workload:
    """``n_layers`` layers of ``width`` tasks with random dependencies (seed 0), reduced."""
    deps = layer_deps(n_layers, width)

    def build() -> tuple[Flow, Task]:
        with Flow("layers") as f:
            layer = [inc_t(i) for i in range(width)]
            for d in deps:
                layer = [add_t(*(layer[j] for j in parents)) for parents in d]
            last = total_t(layer)
        return f, last

    def python() -> int:
        layer = [inc(i) for i in range(width)]
        for d in deps:
            layer = [add(*(layer[j] for j in parents)) for parents in d]
        return total(layer)

    def graph() -> tuple[dict[str, Any], str]:
        dsk: dict[str, Any] = {f"l0-{i}": (inc, i) for i in range(width)}
        for depth, d in enumerate(deps, 1):
            for i, parents in enumerate(d):
                dsk[f"l{depth}-{i}"] = (add, *(f"l{depth - 1}-{j}" for j in parents))
        dsk["total"] = (total, [f"l{len(deps)}-{i}" for i in range(width)])
        return dsk, "total"

    def futures(client: Any) -> Any:
        layer = client.map(inc, range(width), pure=False)
        for d in deps:
            layer = [client.submit(add, *(layer[j] for j in p), pure=False) for p in d]
        return client.submit(total, layer, pure=False).result()

    return Workload(
        id=f"layers-{n_layers}x{width}",
        label=f"{n_layers} layers x {width:,}, random deps",
        n_tasks=n_layers * width + 1,
        expected=python(),
        build_flow=build,
        python=python,
        graph=graph,
        futures=futures,
    )


def sleeps(n: int, seconds: float, threads: int) -> Workload:
    """``n`` tasks sleeping ``seconds`` each, counted by a reduce; run ``threads`` at once."""

    def build() -> tuple[Flow, Task]:
        with Flow("sleep") as f:
            c = count_t(nap_t.map(list(range(n)), seconds=unmapped(seconds)))
        return f, c

    def graph() -> tuple[dict[str, Any], str]:
        dsk: dict[str, Any] = {f"nap-{i}": (nap, i, seconds) for i in range(n)}
        dsk["count"] = (count, list(dsk))
        return dsk, "count"

    def futures(client: Any) -> Any:
        futs = client.map(nap, range(n), seconds=seconds, pure=False)
        return client.submit(count, futs, pure=False).result()

    return Workload(
        id="sleep",
        label=f"{n} tasks sleeping {seconds * 1000:g} ms",
        n_tasks=n + 1,
        expected=n,
        build_flow=build,
        python=lambda: count([nap(i, seconds) for i in range(n)]),
        graph=graph,
        futures=futures,
        threads=threads,
        ideal_seconds=lambda t: n * seconds / t,
        cluster_threads=threads // 2,
    )


def arrays(n: int, megabytes: float) -> Workload:
    """``n`` tasks each making an array of ``megabytes`` MB, ``n`` tasks each adding one to
    one of them, and a reduce receiving every result (data movement)."""

    def build() -> tuple[Flow, Task]:
        with Flow("arrays") as f:
            shifted = [shift_t(make_array_t(i, megabytes)) for i in range(n)]
            c = checksum_t(shifted)
        return f, c

    def python() -> float:
        return checksum([shift(make_array(i, megabytes)) for i in range(n)])

    def graph() -> tuple[dict[str, Any], str]:
        dsk: dict[str, Any] = {}
        for i in range(n):
            dsk[f"make-{i}"] = (make_array, i, megabytes)
            dsk[f"shift-{i}"] = (shift, f"make-{i}")
        dsk["checksum"] = (checksum, [f"shift-{i}" for i in range(n)])
        return dsk, "checksum"

    def futures(client: Any) -> Any:
        made = [client.submit(make_array, i, megabytes, pure=False) for i in range(n)]
        shifted = [client.submit(shift, m, pure=False) for m in made]
        return client.submit(checksum, shifted, pure=False).result()

    length = int(megabytes * 1_000_000) // 8
    return Workload(
        id="arrays",
        label=f"{n} x {megabytes:g} MB numpy arrays passed on",
        n_tasks=2 * n + 1,
        expected=float(sum((i + 1.0) * length for i in range(n))),
        build_flow=build,
        python=python,
        graph=graph,
        futures=futures,
    )


def checkpointed(n: int, folder: str) -> Workload:
    """A map of ``n`` children each checkpointing a 1 KiB value to a ``LocalResult``; the
    raw side writes the same bytes with the same serializer to files."""
    from headwater.results import LocalResult
    from headwater.serializers import PickleSerializer

    hw_dir = os.path.join(folder, "headwater")
    raw_dir = os.path.join(folder, "raw")

    def build() -> tuple[Flow, Task]:
        result = LocalResult(dir=hw_dir, location="{map_index}.bin", serializer=PickleSerializer())
        blob_t = task(checkpoint=True, result=result)(blob)
        with Flow("checkpoint") as f:
            t = total_bytes_t(blob_t.map(list(range(n))))
        return f, t

    def graph() -> tuple[dict[str, Any], str]:
        dsk: dict[str, Any] = {f"blob-{i}": (blob_to_file, i, raw_dir) for i in range(n)}
        dsk["total"] = (total_bytes, list(dsk))
        return dsk, "total"

    def futures(client: Any) -> Any:
        futs = client.map(blob_to_file, range(n), folder=raw_dir, pure=False)
        return client.submit(total_bytes, futs, pure=False).result()

    return Workload(
        id="checkpoint",
        label=f"map {n:,} checkpointed to a LocalResult",
        n_tasks=n + 1,
        expected=1024 * n,
        build_flow=build,
        python=lambda: total_bytes([blob_to_file(i, raw_dir) for i in range(n)]),
        graph=graph,
        futures=futures,
    )


SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "maps": [10, 100],
        "chains": [10],
        "layers": [(3, 5)],
        "sleep": (10, 0.01),
        "arrays": (2, 1.0),
        "checkpoint": 10,
        "repeats": 1,
    },
    "small": {
        "maps": [1_000, 10_000],
        "chains": [50],
        "layers": [(5, 20)],
        "sleep": (50, 0.02),
        "arrays": (4, 10.0),
        "checkpoint": 200,
        "repeats": 3,
    },
    "full": {
        "maps": [1_000, 10_000, 100_000, 1_000_000],
        "chains": [200, 1_000, 10_000],
        "layers": [(10, 100), (10, 1_000)],
        "sleep": (200, 0.05),
        "arrays": (8, 10.0),
        "checkpoint": 1_000,
        "repeats": 3,
    },
}
"""The graphs' sizes by ``--sizes``; tiny runs every code path in seconds (CI)."""

SLEEP_THREADS = 16
"""Tasks at once in the concurrency workload: 2 workers x 8 threads, or 16 local threads."""


def workloads(sizes: str, folder: str) -> list[Workload]:
    """Every workload at the given sizes.

    Args:
        sizes: ``tiny``, ``small`` or ``full``.
        folder: where the checkpoint workload writes (both sides, in subfolders).
    """
    s = SIZES[sizes]
    n_sleep, seconds = s["sleep"]
    n_arrays, megabytes = s["arrays"]
    return [
        *(map_reduce(n) for n in s["maps"]),
        *(chain(n) for n in s["chains"]),
        *(layers(*shape) for shape in s["layers"]),
        sleeps(n_sleep, seconds, SLEEP_THREADS),
        arrays(n_arrays, megabytes),
        checkpointed(s["checkpoint"], folder),
    ]


__all__ = ["SIZES", "Workload", "bag_map_sum", "bag_partitions", "workloads"]
