"""A flow run that the tests interrupt with a real SIGINT (Ctrl-C), in a process of its own so
that the interrupt can never reach the pytest session (tests/executors/test_interrupts.py).

``python -m tests.flows.interrupted KIND FOLDER`` runs :func:`build` on the executor KIND
(``threads``, ``processes``, ``dask``: a LocalCluster started for the run, ``dask-starting``:
one whose start the interrupt cuts into) and prints one JSON line describing what came back
and what was left running; ``killed`` runs :func:`killed`, which a test kills. Events go through files in FOLDER: a task writes ``started-<i>``
when it starts; :class:`SlowStartCluster` writes ``cluster-up`` once its cluster is up, then
waits for ``go`` before its constructor returns.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from distributed import LocalCluster

from headwater import Flow, Parameter, task, unmapped

DEADLINE = 60.0
"""How long any wait here lasts at most (seconds)."""

CLUSTER = {"n_workers": 1, "threads_per_worker": 4, "host": "127.0.0.1", "dashboard_address": None}


@task
def inc(x: int) -> int:
    return x + 1


@task
def mark_and_sleep(folder: str, i: int, seconds: float, after: object = None) -> float:
    """Write ``started-<i>`` in ``folder``, then sleep in short steps (``after``: a value
    that must exist first)."""
    Path(folder, f"started-{i}").touch()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return seconds


@task
def total(xs: list[float]) -> float:
    return sum(xs)


def wait_for(path: Path) -> None:
    """Wait (at most :data:`DEADLINE`) until ``path`` exists."""
    deadline = time.monotonic() + DEADLINE
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


class SlowStartCluster(LocalCluster):  # type: ignore[misc]
    """A LocalCluster whose constructor returns only once ``go`` exists in ``folder``: an
    interrupt sent after ``cluster-up`` lands while the cluster starts."""

    def __init__(self, folder: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        Path(folder, "cluster-up").touch()
        wait_for(Path(folder, "go"))


def build(folder: str) -> tuple[Flow, dict[str, Any]]:
    """``quick``, then four 20 s sleepers that mark their start, and their ``total``."""
    with Flow("interrupted") as f:
        quick = inc(1)
        slow = mark_and_sleep.map(unmapped(folder), [0, 1, 2, 3], unmapped(20.0), unmapped(quick))
        after = total(slow)
    return f, {"quick": quick, "slow": slow, "after": after}


def killed(folder: str) -> Flow:
    """A flow that a test kills mid-run: a parameter, a batched map and its total finish,
    then two 60 s sleepers start."""
    with Flow("killed") as f:
        Parameter("label", default="kill-me")
        first = total(inc.map(list(range(6)), batch_size=2))
        mark_and_sleep.map(unmapped(folder), [0, 1], unmapped(60.0), unmapped(first))
    return f


def executor_for(kind: str, folder: str) -> Any:
    from headwater.executors import DaskExecutor, LocalDaskExecutor

    if kind == "dask":
        return DaskExecutor(cluster_kwargs=CLUSTER)
    if kind == "dask-starting":
        return DaskExecutor(cluster_class=SlowStartCluster, cluster_kwargs={**CLUSTER, "folder": folder})
    return LocalDaskExecutor(kind, num_workers=4)


def _children() -> list[Any]:
    """This process's children, but multiprocessing's resource tracker (it lives as long as
    this process)."""
    import psutil

    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if not any("resource_tracker" in part for part in p.cmdline()):
                out.append(p)
        except psutil.Error:  # gone meanwhile
            pass
    return out


def left_running() -> dict[str, int]:
    """Clusters not closed, and child processes still alive (after up to 10 s)."""
    from distributed.deploy.spec import SpecCluster

    deadline = time.monotonic() + 10
    while _children() and time.monotonic() < deadline:
        time.sleep(0.1)
    clusters = [c for c in list(SpecCluster._instances) if c.status.name != "closed"]
    return {"clusters": len(clusters), "processes": len(_children())}


def describe(state: Any) -> Any:
    children = getattr(state, "map_states", None)
    if children is not None:
        return [type(c).__name__ for c in children]
    return type(state).__name__


def main(kind: str, folder: str) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if kind == "killed":  # on threads; nothing is printed: the test kills this process
        from headwater.executors import LocalDaskExecutor

        killed(folder).run(executor=LocalDaskExecutor("threads", num_workers=4))
        return
    f, tasks = build(folder)
    began = time.monotonic()
    state = f.run(executor=executor_for(kind, folder))
    took = time.monotonic() - began
    out = {
        "state": type(state).__name__,
        "message": state.message,
        "seconds": took,
        "tasks": {name: describe(state.result[t]) for name, t in tasks.items()},
        "quick": state.result[tasks["quick"]].result,
        "left": left_running(),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
