"""Progress of a flow run: a tqdm bar behind the engine's run hooks.

Design note
-----------
The flow runner knows how many task runs it has planned (a plain task is one, a mapped task
one per child; the number grows when a map is expanded at run time) and learns of each one
finishing from its executor (:meth:`~headwater.executors.base.Executor.watch`): in the
driver, as it happens, with the class name of the final state, without fetching any value
(dask.distributed reports a finished key's type along with it). It tells its run hooks
(:class:`~headwater.engine.hooks.RunHook`); :class:`ProgressBar` is one:

- ``on_tasks_planned(total=N)`` whenever N changes: the bar shows or grows;
- ``on_tasks_finished(counts={"Success": 1})`` as task runs finish (counts, so that one
  graph node that finishes many task runs, a batch of a map's children, reports them at
  once; under :data:`~headwater.engine.hooks.UNKNOWN` when their states are not known before
  the end, as for a batch on dask.distributed, whose type alone says nothing of its
  children's states): the bar moves;
- ``on_run_finished(counts=...)`` once, with the counts of the final states, which are
  authoritative: a task lost with its worker and run again is reported twice while the run
  goes on, and the last call sets the record straight.

Hooks are called from executor threads; :class:`ProgressBar` takes a lock.

Whether a run shows a bar (:func:`wants_progress`): ``flow.run(progress=True/False)`` decides
if given; else ``HEADWATER_PROGRESS=true/false``; else no bar under CI (``CI`` set, as CI
services do); else a bar in interactive sessions: stderr is a terminal, or the code runs in
IPython or Jupyter. tqdm is imported only when a bar is shown; ``tqdm.auto`` picks a text bar
in a terminal and a widget in Jupyter (with ipywidgets installed; a text bar otherwise).

While a text bar is on stderr, log lines of handlers writing to stderr (headwater's own and
the root logger's) are written above the bar instead of through it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from headwater.engine.hooks import UNKNOWN, RunHook

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State

SWITCH_ENV = "HEADWATER_PROGRESS"
"""Set to true or false to force the progress bar on or off."""


FIRST = ("Success", "Failed", "Skipped")
"""States always shown in the bar's counts, in this order; others follow when they occur."""

logger = logging.getLogger("headwater.progress")


def _flag(value: str) -> bool | None:
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def in_notebook() -> bool:
    """Whether this code runs in IPython or a Jupyter kernel (without importing IPython)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        return ipython.get_ipython() is not None
    except Exception:
        return False


def wants_progress(progress: bool | None = None) -> bool:
    """Whether a flow run shows a progress bar (see the module's note for the rule).

    Args:
        progress: the caller's choice; None to decide from the environment.

    >>> wants_progress(False)
    False
    """
    if progress is not None:
        return bool(progress)
    forced = os.environ.get(SWITCH_ENV, "").strip()
    if forced:
        choice = _flag(forced)
        if choice is not None:
            return choice
        logger.warning(
            "%s=%r is neither true nor false; use true or false (deciding as if it were unset)",
            SWITCH_ENV,
            forced,
        )
    ci = os.environ.get("CI", "").strip()
    if ci and _flag(ci) is not False:
        return False
    try:
        tty = sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or in_notebook()


def format_counts(counts: Mapping[str, int]) -> str:
    """The bar's postfix: ``Success``, ``Failed``, ``Skipped`` always, then other states seen.

    >>> format_counts({"Cached": 2, "Success": 3})
    'Success=3 Failed=0 Skipped=0 Cached=2'
    """
    names = [*FIRST, *sorted(n for n, c in counts.items() if c and n not in (*FIRST, UNKNOWN))]
    return " ".join(f"{n}={counts.get(n, 0)}" for n in names)


class _AboveTheBar:
    """A stream wrapper for a log handler: each write clears the bars, writes, redraws them."""

    def __init__(self, stream: IO[str], tqdm_class: Any) -> None:
        self.stream = stream
        self.tqdm_class = tqdm_class

    def write(self, text: str) -> int:
        with self.tqdm_class.external_write_mode(file=self.stream):
            return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class ProgressBar(RunHook):
    """A tqdm bar (``tqdm.auto``) of a flow run's task runs, with counts by state: a run hook.

    Shown on the first ``on_tasks_planned`` call, closed by ``on_run_finished`` (or
    :meth:`finish`) or :meth:`close`. Safe to call from several threads.

    Args:
        description: the text before the bar (the flow's name).
        file: where a text bar goes (stderr by default).
    """

    def __init__(self, description: str, file: IO[str] | None = None) -> None:
        self.description = description
        self.file = file
        self.total = 0
        self.done = 0
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._bar: Any = None
        self._closed = False
        self._patched: list[tuple[logging.StreamHandler[Any], Any]] = []

    # -- the hook ------------------------------------------------------------------------
    def on_tasks_planned(self, *, total: int) -> None:
        """Show the bar, or grow its total."""
        with self._lock:
            if self._closed or total == self.total:
                return
            self.total = total
            if self._bar is None:
                self._open()
            else:
                self._bar.total = total
                widget = getattr(self._bar, "container", None)
                if widget is not None:  # a Jupyter widget keeps its own maximum
                    widget.children[1].max = total
                self._bar.refresh()

    def on_tasks_finished(self, *, counts: Mapping[str, int]) -> None:
        """Count finished task runs and move the bar."""
        with self._lock:
            if self._closed:
                return
            n = 0
            for name, c in counts.items():
                if name != UNKNOWN:
                    self.counts[name] = self.counts.get(name, 0) + c
                n += c
            step = min(n, max(self.total - self.done, 0))
            self.done += step
            if self._bar is not None:
                self._bar.set_postfix_str(format_counts(self.counts), refresh=False)
                self._bar.update(step)

    def on_run_finished(self, *, flow: Flow, state: State, counts: Mapping[str, int]) -> State:
        """Set the final counts and close the bar; ``state`` passes on as it is."""
        self.finish(counts=counts)
        return state

    def finish(self, *, counts: Mapping[str, int]) -> None:
        """Set the final counts and close the bar."""
        with self._lock:
            if self._closed:
                return
            self.counts = dict(counts)
            self.total = self.done = sum(counts.values())
            if self._bar is not None:
                self._bar.total = self.total
                widget = getattr(self._bar, "container", None)
                if widget is not None:
                    widget.children[1].max = self.total
                self._bar.n = self.done
                self._bar.set_postfix_str(format_counts(self.counts), refresh=False)
                self._bar.refresh()
        self.close()

    def close(self) -> None:
        """Close the bar (idempotent) and give log handlers their stream back."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            bar, self._bar = self._bar, None
            if bar is not None:
                bar.close()
            for handler, stream in self._patched:
                handler.setStream(stream)
            self._patched.clear()

    # -- drawing -------------------------------------------------------------------------
    def _open(self) -> None:
        from tqdm.auto import tqdm
        from tqdm.autonotebook import tqdm as chosen
        from tqdm.std import tqdm as text_bar

        file = self.file if self.file is not None else sys.stderr
        self._bar = tqdm(
            total=self.total,
            desc=self.description,
            unit="task",
            file=file,
            leave=True,
            dynamic_ncols=True,
            postfix=format_counts(self.counts),
        )
        if chosen is text_bar:
            self._write_logs_above(file, tqdm)

    def _write_logs_above(self, file: IO[str], tqdm_class: Any) -> None:
        for name in ("headwater", None):
            for h in logging.getLogger(name).handlers:
                if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is file:
                    self._patched.append((h, h.stream))
                    h.setStream(_AboveTheBar(file, tqdm_class))


def progress_for(description: str, progress: bool | None) -> ProgressBar | None:
    """A :class:`ProgressBar` when :func:`wants_progress` says so, else None.

    Args:
        description: the text before the bar (the flow's name).
        progress: the caller's choice; None to decide from the environment.
    """
    return ProgressBar(description) if wants_progress(progress) else None


__all__ = [
    "SWITCH_ENV",
    "UNKNOWN",
    "ProgressBar",
    "format_counts",
    "in_notebook",
    "progress_for",
    "wants_progress",
]
