"""A run hook for tests: counts the task runs it hears of finishing, and the count when the
run ended; a broken one raises each time it is told."""

from __future__ import annotations

import threading
from typing import Any

from headwater import Flow
from headwater.engine.hooks import RunHook
from headwater.model import states as S


class CountingHook(RunHook):
    """Counts the task runs planned and finished (``at_end``: finished when the run ended).

    Args:
        fail: raise ``RuntimeError("a listener that breaks")`` each time it hears of task
            runs finishing (after counting them).
    """

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.planned = 0
        self.finished = 0
        self.at_end: int | None = None
        self.lock = threading.Lock()

    def on_tasks_planned(self, *, total: int) -> None:
        self.planned = total

    def on_tasks_finished(self, *, counts: Any) -> None:
        with self.lock:
            self.finished += sum(counts.values())
        if self.fail:
            raise RuntimeError("a listener that breaks")

    def on_run_finished(self, *, flow: Flow, state: S.State, counts: Any) -> S.State:
        self.at_end = self.finished
        return state
