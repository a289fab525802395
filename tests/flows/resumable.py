"""Flows that a run fails, is killed or interrupted in, and a resume finishes
(tests/runtime/test_resume.py, tests/runtime/test_resume_kills.py).

Every task notes each call in ``FOLDER/calls`` as a line ``<flow run id> <what>`` (an
append of one short line: whole even from several processes), so a test counts what each
run called. A child of :func:`squares` fails while ``FOLDER/broken`` exists and its element
ends in 07 (1% of them); every task is checkpointed under ``FOLDER/results``.

``python -m tests.flows.resumable KIND FOLDER N [ADDRESS]`` runs :func:`squares` of ``N``
elements on ``threads`` (LocalDaskExecutor) or ``dask`` (DaskExecutor at ADDRESS); the
tests kill or interrupt it.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from headwater import Flow, Parameter, context, task, unmapped
from headwater.results import LocalResult


def note(folder: str, what: object) -> None:
    """Note one call of this run in ``folder/calls``."""
    line = f"{context.get('flow_run_id')} {what}\n".encode()
    fd = os.open(os.path.join(folder, "calls"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def calls(folder: Path) -> dict[str, list[str]]:
    """Each run's noted calls (run id -> what it called, in order)."""
    out: dict[str, list[str]] = defaultdict(list)
    path = folder / "calls"
    if path.exists():
        for line in path.read_text().splitlines():
            run, _, what = line.partition(" ")
            out[run].append(what)
    return dict(out)


@task
def square(x: int, folder: str) -> int:
    """``x * x``; fails for elements ending in 07 while ``folder/broken`` exists."""
    note(folder, x)
    if x % 100 == 7 and os.path.exists(os.path.join(folder, "broken")):
        raise ValueError(f"bad element {x}")
    return x * x


@task
def total(xs: list[int], folder: str) -> int:
    note(folder, "total")
    return sum(xs)


def squares(n: int, folder: str) -> Flow:
    """``total(square.map(range(n)))``, every task checkpointed under ``folder/results``."""
    with Flow("squares", result=LocalResult(os.path.join(folder, "results")), checkpoint=True) as f:
        total(square.map(list(range(n)), unmapped(folder)), unmapped(folder))
    return f


@task
def step(x: int, folder: str, name: str) -> int:
    """``x + 1``; the step named in ``folder/broken`` fails while that file exists."""
    note(folder, name)
    broken = Path(folder, "broken")
    if broken.exists() and broken.read_text() == name:
        raise ValueError(f"step {name} is broken")
    return x + 1


def chain(folder: str) -> tuple[Flow, dict[str, Any]]:
    """``n -> first -> middle -> last -> report``, each a :func:`step`, checkpointed."""
    with Flow("chain", result=LocalResult(os.path.join(folder, "results")), checkpoint=True) as f:
        n = Parameter("n", default=1)
        first = step(n, folder, "first")
        middle = step(first, folder, "middle")
        last = step(middle, folder, "last")
        report = step(last, folder, "report")
    return f, {"first": first, "middle": middle, "last": last, "report": report}


def main(kind: str, folder: str, n: int, address: str | None = None) -> None:
    from headwater.executors import DaskExecutor, LocalDaskExecutor

    executor: Any = (
        DaskExecutor(address=address) if kind == "dask" else LocalDaskExecutor(kind, num_workers=2)
    )
    state = squares(n, folder).run(executor=executor)
    print(type(state).__name__, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
