"""LocalDaskExecutor("processes") hears of each node when it finishes, not when the call it
was sent in ends: a chain's quick node and its slow follower go to one worker process in one
call, and the quick one is told (and kept) while the slow one still runs. Each test waits
for an event (a file the run hook writes), bounded in time, never for a fixed time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from headwater import Flow, task
from headwater.engine.flow_runner import FlowRunner
from headwater.engine.hooks import RunHook
from headwater.executors import LocalDaskExecutor


@task
def quick(x: int) -> int:
    return x + 1


@task
def waits_for(x: int, path: str, timeout: float = 15.0) -> bool:
    """True once ``path`` exists (the driver heard of ``quick``); False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.path.exists(path)


class _Touch(RunHook):
    """Writes ``path`` the first time it hears of a task run finishing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.heard: list[dict[str, int]] = []

    def on_tasks_finished(self, *, counts: Any) -> None:
        self.heard.append(dict(counts))
        self.path.touch()


def test_a_quick_node_is_heard_while_its_slow_follower_runs(tmp_path: Path) -> None:
    flag = tmp_path / "heard"
    with Flow("fused") as f:
        a = quick(1)
        b = waits_for(a, str(flag))
    hook = _Touch(flag)
    runner = FlowRunner(f, LocalDaskExecutor("processes", num_workers=1))
    state = runner.run(return_tasks=[a, b], hooks=[hook])
    assert state.is_successful()
    assert state.result[a].result == 2
    assert state.result[b].result is True  # it saw the file: quick was heard as it ended
    assert hook.heard[0] == {"Success": 1}


@task
def counted(x: int, path: str) -> int:
    """Notes each of its runs in ``path``."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    return x + 1


@task(max_retries=1)
def dies_once(x: int, marker: str) -> int:
    """Kills its worker process the first time (``marker`` remembers it), then succeeds."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(3)
    return x * 10


def test_a_node_whose_value_came_back_is_not_run_again_when_its_process_dies(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    with Flow("dies after") as f:
        a = counted(1, str(runs))
        b = dies_once(a, str(tmp_path / "died"))
    state = f.run(executor=LocalDaskExecutor("processes", num_workers=1), return_tasks=[a, b])
    assert state.is_successful(), state.result
    assert state.result[b].result == 20
    assert (tmp_path / "died").exists()  # the process did die
    assert len(runs.read_text(encoding="utf-8").splitlines()) == 1  # counted ran once
