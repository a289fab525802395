"""The benchmark suite: headwater against raw Dask on the same graphs and schedulers, in one run.

Design note
-----------
For every workload (:mod:`benchmarks.workloads`) and executor, the suite runs the headwater
flow and the same graph in raw Dask (or plain Python for LocalExecutor), alternating the two
in each repeat so that load on the machine falls on both alike, and reports the median
seconds, the ratio headwater / raw, and the engine's overhead per task
((headwater - raw) / task runs). Executors and their raw counterparts:

=============  ==========================================  =================================
executor       headwater                                   raw
=============  ==========================================  =================================
local          ``LocalExecutor()``                         plain Python calls, in order
threads        ``LocalDaskExecutor("threads", W)``         ``dask.threaded.get`` (W threads)
processes      ``LocalDaskExecutor("processes", W)``       ``dask.multiprocessing.get`` on a
                                                           new forkserver pool of W processes
dask           ``DaskExecutor(client=client)``             ``client.map`` / ``client.submit``
                                                           on the same Client
=============  ==========================================  =================================

Maps have dask.bag as their raw side on the three Dask schedulers (what a Dask expert writes:
``dask.bag.from_sequence(xs, npartitions=min(1000, ceil(n / 1000)))``, ``map``, ``sum``,
computed on the same threads, a new forkserver pool of W processes, or the same Client).

W is the number of CPUs, except in the concurrency workload (16 threads locally; the
distributed one runs on a second LocalCluster of 2 workers x 8 threads). The main
LocalCluster has 2 worker processes x 1 thread on 127.0.0.1, dashboard on 127.0.0.1:0.

Also measured: the engine's import time (``python -X importtime``, in fresh subprocesses),
the driver's peak memory (``VmHWM``, the peak resident set, of a fresh subprocess that runs
one workload once, next to the same figure after its imports and set-up; not ``ru_maxrss``,
which a process started from this one inherits from it on Linux), and, with ``--scale``,
``benchmarks/bench_scale.py``'s large map (``run_scale``).

The run journal is off (``HEADWATER_JOURNAL=false``), so are checkpointing by default
(``HEADWATER_CHECKPOINTING=false``; the checkpoint workload asks for it per task) and the
progress bar (``progress=False`` when ``flow.run`` takes it, and ``HEADWATER_PROGRESS=false``).
A cell stops repeating once it has spent ``--budget`` seconds (its repeats are reported).
The report ends with the targets of issue 14, each marked met or not met
(:func:`benchmarks.report.targets`).

Usage: python benchmarks/suite.py [--sizes tiny|small|full] [--repeats N] [--out PATH]
       [--executors local,threads,processes,dask] [--workloads map-1000,chain-200,...]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import inspect
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from headwater.runtime.machine import load_average, peak_memory_mib  # noqa: E402

SETTINGS = {
    "HEADWATER_JOURNAL": "false",
    "HEADWATER_CHECKPOINTING": "false",
    "HEADWATER_PROGRESS": "false",
}
"""Set in this process before anything starts (worker processes inherit them)."""

EXECUTORS = ("local", "threads", "processes", "dask")
RAW_NAMES = {
    "local": "plain Python",
    "threads": "dask.threaded.get",
    "processes": "dask.multiprocessing.get",
    "dask": "client futures",
}
BAG_NAMES = {
    "threads": "dask.bag (threads)",
    "processes": "dask.bag (processes)",
    "dask": "dask.bag (Client)",
}
"""The raw side's name for maps, which run as a dask.bag on the Dask schedulers."""


def raw_name(kind: str, workload: Any) -> str:
    """What the raw side of ``workload`` on ``kind`` is."""
    if workload.bag is not None and kind in BAG_NAMES:
        return BAG_NAMES[kind]
    return RAW_NAMES[kind]


DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest"


def _setup_environment() -> None:
    os.environ.update(SETTINGS)
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


# -- clusters --------------------------------------------------------------------------------


class Clusters:
    """LocalClusters of 2 worker processes on 127.0.0.1, one per threads-per-worker, started
    on first use and closed at the end."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._clients: dict[int, Any] = {}

    def client(self, threads_per_worker: int) -> Any:
        """The Client of the cluster with ``threads_per_worker`` threads per worker."""
        if threads_per_worker not in self._clients:
            from distributed import Client, LocalCluster

            cluster = self._stack.enter_context(
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=threads_per_worker,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                )
            )
            client = self._stack.enter_context(Client(cluster, set_as_default=False))
            self._clients[threads_per_worker] = client
        return self._clients[threads_per_worker]

    def __enter__(self) -> Clusters:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


# -- one side of a cell --------------------------------------------------------------------


def progress_off() -> dict[str, Any]:
    """``{"progress": False}`` when ``Flow.run`` takes a ``progress`` argument."""
    from headwater import Flow

    return {"progress": False} if "progress" in inspect.signature(Flow.run).parameters else {}


def local_threads(kind: str, workload: Any) -> int:
    """Tasks at once for a local executor on a workload."""
    if kind == "local":
        return 1
    if kind == "threads" and workload.threads:
        return int(workload.threads)
    return os.cpu_count() or 1


def total_threads(kind: str, workload: Any) -> int:
    """Tasks at once for ``kind`` on ``workload`` (what the ideal time divides by)."""
    if kind == "dask":
        return 2 * int(workload.cluster_threads)
    return local_threads(kind, workload)


def headwater_runner(kind: str, workload: Any, clusters: Clusters | None) -> Callable[[], Any]:
    """A function running the workload's flow once on ``kind`` and returning its value."""
    from headwater.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor

    flow, final = workload.flow()
    extra = progress_off()
    threads = local_threads(kind, workload)

    def run() -> Any:
        executor: Any
        if kind == "local":
            executor = LocalExecutor()
        elif kind in ("threads", "processes"):
            executor = LocalDaskExecutor(kind, threads)
        else:
            assert clusters is not None
            executor = DaskExecutor(client=clusters.client(workload.cluster_threads))
        state = flow.run(executor=executor, return_tasks=[final], **extra)
        if not state.is_successful():
            raise RuntimeError(f"{workload.id} on {kind} did not succeed: {state!r}")
        return state.result[final].result

    return run


def raw_runner(kind: str, workload: Any, clusters: Clusters | None) -> Callable[[], Any]:
    """A function running the same graph in raw Dask (plain Python for ``local``)."""
    threads = local_threads(kind, workload)
    if kind == "local":
        return workload.python
    if workload.bag is not None:
        bag = workload.bag
        if kind == "dask":
            assert clusters is not None
            return lambda: bag(kind, clusters.client(workload.cluster_threads), threads)
        return lambda: bag(kind, None, threads)
    if kind == "threads":
        import dask.threaded

        def run_threads() -> Any:
            dsk, key = workload.graph()
            return dask.threaded.get(dsk, key, num_workers=threads)

        return run_threads
    if kind == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import dask.multiprocessing

        def run_processes() -> Any:
            dsk, key = workload.graph()
            ctx = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(threads, mp_context=ctx) as pool:
                return dask.multiprocessing.get(dsk, key, num_workers=threads, pool=pool)

        return run_processes
    assert clusters is not None
    return lambda: workload.futures(clusters.client(workload.cluster_threads))


# -- timing ---------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds to call ``fn`` once, and what it returned."""
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def check(value: Any, expected: Any, what: str) -> None:
    """Refuse a wrong answer (a benchmark of a broken run measures nothing)."""
    if value != expected:
        raise AssertionError(f"{what} returned {value!r}, expected {expected!r}")


def bench_cell(
    workload: Any, kind: str, clusters: Clusters, repeats: int, budget: float
) -> dict[str, Any]:
    """Time headwater and raw on one workload and executor, alternating them per repeat."""
    hw, raw = headwater_runner(kind, workload, clusters), raw_runner(kind, workload, clusters)
    runs: dict[str, list[float]] = {"headwater": [], "raw": []}
    spent = 0.0
    raw_error: str | None = None
    for i in range(repeats):
        order = [("headwater", hw), ("raw", raw)]
        for side, fn in order if i % 2 == 0 else order[::-1]:
            if side == "raw" and raw_error is not None:
                continue
            try:
                seconds, value = timed(fn)
            except RecursionError as exc:  # Dask's own limit (a long chain): reported as such
                if side != "raw":
                    raise
                raw_error = f"{type(exc).__name__}: {exc}"
                continue
            check(value, workload.expected, f"{workload.id} on {kind} ({side})")
            runs[side].append(seconds)
            spent += seconds
        if spent > budget:
            break
    hw_s = statistics.median(runs["headwater"])
    raw_s = statistics.median(runs["raw"]) if runs["raw"] else None
    row: dict[str, Any] = {
        "workload": workload.id,
        "label": workload.label,
        "executor": kind,
        "raw_name": raw_name(kind, workload),
        "tasks": workload.n_tasks,
        "threads": total_threads(kind, workload),
        "headwater_s": hw_s,
        "raw_s": raw_s,
        "ratio": hw_s / raw_s if raw_s else None,
        "overhead_us_per_task": None if raw_s is None else (hw_s - raw_s) / workload.n_tasks * 1e6,
        "raw_error": raw_error,
        "repeats": len(runs["headwater"]),
        "headwater_first_s": runs["headwater"][0],  # the flow's first run (notice 0018)
        "headwater_runs": runs["headwater"],
        "raw_runs": runs["raw"],
        "load_1min": (load_average() or [float("nan")])[0],
    }
    if workload.ideal_seconds is not None and raw_s is not None:
        ideal = workload.ideal_seconds(row["threads"])
        row["ideal_s"] = ideal
        row["headwater_vs_ideal"] = hw_s / ideal
        row["raw_vs_ideal"] = raw_s / ideal
    return row


def warm_up(kind: str, clusters: Clusters, cluster_threads: set[int]) -> None:
    """Small untimed runs on each side (and every cluster started), so imports, process
    pools and first connections are not timed."""
    from benchmarks.workloads import map_reduce

    for threads in sorted(cluster_threads) if kind == "dask" else [1]:
        small = map_reduce(10)
        small.cluster_threads = threads
        for fn in (headwater_runner(kind, small, clusters), raw_runner(kind, small, clusters)):
            check(fn(), small.expected, f"warm-up on {kind}")


# -- import time and memory (fresh subprocesses) ---------------------------------------------


def import_time(repeats: int = 5) -> dict[str, Any]:
    """``import headwater`` in fresh interpreters: ``-X importtime``'s cumulative figure
    (median), the wall time over a bare interpreter, and which heavy packages it loaded."""
    cumulative: list[float] = []
    wall: list[float] = []
    bare: list[float] = []
    env = {**os.environ}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import headwater"],
            capture_output=True, text=True, env=env, cwd=ROOT, check=True,
        )  # fmt: skip
        for line in out.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == "headwater":
                cumulative.append(int(parts[1]) / 1e6)
        for code, into in (("import headwater", wall), ("pass", bare)):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
            into.append(time.perf_counter() - start)
    heavy = ("dask", "distributed", "numpy", "fsspec", "msgpack", "click", "pydantic")
    probe = subprocess.run(
        [sys.executable, "-c",
         f"import sys, headwater; print([m for m in {heavy!r} if m in sys.modules])"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    return {
        "importtime_cumulative_s": statistics.median(cumulative) if cumulative else None,
        "wall_s": statistics.median(wall),
        "bare_interpreter_s": statistics.median(bare),
        "heavy_modules_loaded": json.loads(probe.stdout.strip().replace("'", '"')),
        "repeats": repeats,
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started, in MiB (``VmHWM``; see
    :mod:`headwater.runtime.machine`, which ``headwater bench`` measures with too)."""
    peak = peak_memory_mib()
    if peak is None:
        raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")
    return peak


def memory_probe(args: argparse.Namespace) -> int:
    """In a fresh process: set up one workload, note its peak resident memory, run it once,
    note it again; print both as JSON (the driver's peak memory, in MiB)."""
    from benchmarks.workloads import workloads

    workload = next(w for w in workloads(args.sizes, args.folder) if w.id == args.probe_memory)
    kind = args.executor
    client = None
    if kind == "dask":
        from distributed import Client

        address = args.address[str(workload.cluster_threads)]
        client = Client(address, set_as_default=False)

    class _One(Clusters):
        def client(self, threads_per_worker: int) -> Any:
            return client

    clusters = _One()
    fn = (headwater_runner if args.side == "headwater" else raw_runner)(kind, workload, clusters)
    # both sides' imports happen before the first figure, so the difference is the run's
    import dask.multiprocessing  # noqa: F401
    import dask.threaded  # noqa: F401
    import numpy  # noqa: F401

    import headwater.engine.flow_runner  # noqa: F401
    import headwater.executors.dask_local  # noqa: F401

    before = peak_rss_mib()
    check(fn(), workload.expected, f"{workload.id} on {kind} ({args.side})")
    after = peak_rss_mib()
    if client is not None:
        client.close()
    print(json.dumps({"before_mib": before, "peak_mib": after}))
    return 0


def driver_memory(
    rows: list[dict[str, Any]],
    kinds: list[str],
    sizes: str,
    folder: str,
    clusters: Clusters,
    max_seconds: float,
) -> list[dict[str, Any]]:
    """Peak driver memory per workload, for each executor in ``kinds``, both sides; a side
    whose timed run took longer than ``max_seconds`` is skipped (noted)."""
    out = []
    for row in rows:
        if row["executor"] not in kinds:
            continue
        entry: dict[str, Any] = {"workload": row["workload"], "executor": row["executor"]}
        for side in ("headwater", "raw"):
            if row[f"{side}_s"] > max_seconds:
                entry[side] = {"skipped": f"its run takes {row[f'{side}_s']:.0f} s"}
                continue
            cmd = [
                sys.executable, str(Path(__file__).resolve()), "--sizes", sizes,
                "--probe-memory", row["workload"], "--side", side,
                "--executor", row["executor"], "--folder", folder,
            ]  # fmt: skip
            if row["executor"] == "dask":
                addresses = {
                    str(t): clusters.client(t).scheduler.address for t in clusters._clients
                }
                cmd += ["--address", json.dumps(addresses)]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
            if done.returncode != 0:
                entry[side] = {"error": done.stderr.strip().splitlines()[-1:]}
            else:
                entry[side] = json.loads(done.stdout.strip().splitlines()[-1])
        out.append(entry)
    return out


# -- scale (benchmarks/bench_scale.py, with --scale) ----------------------------------------


SCALE_SIZES = {"tiny": 100, "small": 100_000, "full": 1_000_000}
"""By ``--sizes``: the large map run by ``run_scale``."""


def scale_section(sizes: str, clusters: Clusters) -> dict[str, Any]:
    """Call ``benchmarks/bench_scale.py``'s ``run_scale``: the large map on DaskExecutor, its
    graph nodes and the driver's memory sampled during the run (``--scale``; the suite's own
    map rows measure the same map against dask.bag)."""
    import benchmarks.bench_scale as bench_scale

    out: dict[str, Any] = {"status": "run", "results": []}
    try:
        out["results"].append(bench_scale.run_scale(SCALE_SIZES[sizes], "dask", clusters.client(1)))
    except Exception as exc:  # its failure is reported, not fatal to the suite
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


# -- the report -----------------------------------------------------------------------------


def metadata(args: argparse.Namespace) -> dict[str, Any]:
    """What the numbers depend on: versions, machine, sizes, settings."""
    import dask
    import distributed

    import headwater

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "headwater": getattr(headwater, "__version__", "?"),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "sizes": args.sizes,
        "repeats": args.repeats,
        "budget_s": args.budget,
        "settings": dict(SETTINGS),
        "progress_argument": bool(progress_off()),
        "cluster": "LocalCluster: 2 worker processes x 1 thread on 127.0.0.1 "
        "(sleep workload: 2 x 8)",
        "load_before": load_average(),
    }


# -- the command ----------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--sizes", choices=("tiny", "small", "full"), default="full")
    p.add_argument("--repeats", type=int, default=None, help="default: 3 (tiny: 1)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="writes OUT.md and OUT.json")
    p.add_argument("--executors", default=",".join(EXECUTORS))
    p.add_argument("--workloads", default="", help="ids to run (default: all)")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per cell")
    p.add_argument("--memory-executors", default="dask,threads")
    p.add_argument("--memory-max-seconds", type=float, default=60.0)
    p.add_argument(
        "--memory-workloads", default=None, help="ids (default: all; tiny: the first one)"
    )
    p.add_argument(
        "--scale", action="store_true", help="also run benchmarks/bench_scale.py's large map"
    )
    p.add_argument(
        "--journal",
        action="store_true",
        help="keep the run journal on (written to a temporary folder) to measure its cost",
    )
    # the memory probe (a subprocess of the suite)
    p.add_argument("--probe-memory", default=None, help=argparse.SUPPRESS)
    p.add_argument("--side", default="headwater", help=argparse.SUPPRESS)
    p.add_argument("--executor", default="threads", help=argparse.SUPPRESS)
    p.add_argument("--folder", default="", help=argparse.SUPPRESS)
    p.add_argument("--address", type=json.loads, default={}, help=argparse.SUPPRESS)
    return p.parse_args(argv)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    logging.getLogger("distributed").setLevel(logging.ERROR)
    yield


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write ``OUT.md`` and ``OUT.json``."""
    args = parse(argv)
    if args.journal:
        SETTINGS["HEADWATER_JOURNAL"] = "true"
        SETTINGS["HEADWATER_JOURNAL_DIR"] = tempfile.mkdtemp(prefix="headwater-bench-journal-")
    _setup_environment()
    if args.probe_memory:
        return memory_probe(args)
    from benchmarks.report import markdown, targets
    from benchmarks.workloads import SIZES, workloads

    if args.repeats is None:
        args.repeats = SIZES[args.sizes]["repeats"]
    kinds = [k.strip() for k in args.executors.split(",") if k.strip()]
    wanted = {w.strip() for w in args.workloads.split(",") if w.strip()}
    meta = metadata(args)
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", file=sys.stderr, flush=True)

    say("import time")
    imports = import_time(1 if args.sizes == "tiny" else 5)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, Clusters() as clusters, _quiet():
        chosen = [w for w in workloads(args.sizes, folder) if not wanted or w.id in wanted]
        say("warm-up (starting clusters and pools)")
        for kind in kinds:
            warm_up(kind, clusters, {w.cluster_threads for w in chosen})
        for workload in chosen:
            for kind in kinds:
                row = bench_cell(workload, kind, clusters, args.repeats, args.budget)
                rows.append(row)
                raw_said = (
                    f"{row['raw_s']:8.3f} s  ratio {row['ratio']:.2f}"
                    if row["raw_s"] is not None
                    else f"failed ({row['raw_error']})"
                )
                say(
                    f"{workload.id:<12} {kind:<10} headwater {row['headwater_s']:8.3f} s  "
                    f"{row['raw_name']} {raw_said}"
                )
        memory_kinds = [k for k in args.memory_executors.split(",") if k in kinds]
        if args.memory_workloads is None:
            measured = [w.id for w in chosen[: 1 if args.sizes == "tiny" else None]]
        else:
            measured = [w.strip() for w in args.memory_workloads.split(",") if w.strip()]
        say(f"driver memory: {', '.join(measured)} on {', '.join(memory_kinds)}")
        memory = driver_memory(
            [r for r in rows if r["workload"] in measured],
            memory_kinds,
            args.sizes,
            folder,
            clusters,
            args.memory_max_seconds,
        )
        scale = {"status": "not run (--scale runs it)"}
        if args.scale:
            say("scale")
            scale = scale_section(args.sizes, clusters)
    meta["load_after"] = load_average()
    report = {
        "meta": meta,
        "import_time": imports,
        "rows": rows,
        "memory": memory,
        "targets": targets(rows, memory, args.sizes),
        "scale": scale,
    }
    out = Path(args.out)
    if out.is_dir():
        out = out / "latest"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
