"""Run hooks: what the engine tells about a flow run as it goes, to whoever the runtime gives it.

Design note
-----------
The engine runs a flow; the runtime decides what else happens around the run: a progress bar,
masking secrets in the returned states, writing the run journal. Those are :class:`RunHook`
objects handed to :meth:`FlowRunner.run <headwater.engine.flow_runner.FlowRunner.run>`; the
engine calls them and never imports them (docs/notices/0011-layout.md). A hook hears:

- ``on_run_started(flow=, run_id=, parameters=, start=, identity=)`` once, after the flow
  and its parameters were checked and before the executor starts (``identity``: what a
  later resume needs, :class:`~headwater.engine.identity.RunIdentity`);
- ``on_tasks_planned(total=N)`` whenever the number of task runs planned changes (a mapped
  task is one run per child; maps expanded at run time add to it);
- ``on_tasks_finished(counts={"Success": 3})`` as task runs finish, by the class name of their
  state (several at once for a batch of mapped children; see
  :mod:`headwater.runtime.progress` for the counts of batches on dask.distributed);
- ``on_task_runs_finished(runs=[FinishedRuns(...)])`` at the same moments, saying which task
  runs finished: the task, the map index (or the range of a batch of children), and the
  class name of the state when the driver knows it. It costs no transfer: the engine learns
  it from the executor's ``watch`` (the type of a finished key's value, never the value): a
  batch whose children all succeeded has a type that says so; of another batch the driver
  learns its children's states only where the value is in its own process (the local
  executors), else only that its children finished; the location of a result is not known
  until the end (the journal writes these as the run goes);
- ``on_run_finished(flow=, state=, counts=)`` once, with the flow run's final State (its
  ``result`` holds the task states) and the final counts. It returns the State that the next
  hook, and in the end the caller, gets: a hook may replace it (redaction does).

Hooks run in the order given; the last two may be called from executor threads, so a hook that
keeps state takes a lock. A hook that raises in ``on_run_finished`` propagates: the runtime's
hooks that must never fail a run (the journal) catch their own errors.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.engine.identity import RunIdentity
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.model.task import Task


UNKNOWN = ""
"""The count name of task runs that finished in states not known yet (they move a progress
bar; the final counts say which states)."""


@dataclass(frozen=True, slots=True)
class FinishedRuns:
    """Task runs that just finished: one task run, or a batch of mapped children.

    Args:
        task: the task.
        map_index: the child's index (the first child's for a batch); None for a task that
            is not mapped.
        count: how many task runs (children ``map_index .. map_index + count - 1``).
        state: the class name of their state (``Success`` for a batch whose children all
            succeeded), or :data:`UNKNOWN` (a value whose type the driver cannot tell, or a
            batch whose children's states it does not know).
        counts: a batch's children by the class name of their state, when known.
        others: a batch's children that did not succeed, as ``(map index, state name)``,
            when known (with ``counts``).
    """

    task: Task
    map_index: int | None
    count: int
    state: str
    counts: Mapping[str, int] | None = None
    others: tuple[tuple[int, str], ...] = ()


class RunHook:
    """Hears of a flow run as it goes (see the module's note); every method does nothing by
    default, so a hook overrides only what it needs."""

    def on_run_started(
        self,
        *,
        flow: Flow,
        run_id: str,
        parameters: Mapping[str, Any],
        start: _dt.datetime,
        identity: RunIdentity | None = None,
    ) -> None:
        """The run starts.

        Args:
            flow: the flow.
            run_id: the flow run's id (``context["flow_run_id"]``).
            parameters: every parameter's value, checked.
            start: when the run started (UTC).
            identity: what a later resume of this run needs to know of it (its signing
                key's token, its context, the runs it resumes).
        """

    def follows_task_runs(self) -> bool:
        """Whether this hook wants to hear of task runs planned and finished (asked once
        the run started): by default when its class overrides one of those methods. With no
        hook that does, the engine watches no key of the run (on dask.distributed a thread
        looks at every pending key every 20 ms, next to the scheduler's own loop)."""
        cls = type(self)
        return any(getattr(cls, name) is not getattr(RunHook, name) for name in _TASK_RUN_CALLS)

    def on_tasks_planned(self, *, total: int) -> None:
        """``total`` task runs are planned so far."""

    def on_tasks_finished(self, *, counts: Mapping[str, int]) -> None:
        """Task runs finished: how many, by the class name of their state."""

    def on_task_runs_finished(self, *, runs: Sequence[FinishedRuns]) -> None:
        """Task runs finished: which ones (see :class:`FinishedRuns`)."""

    def on_run_finished(self, *, flow: Flow, state: State, counts: Mapping[str, int]) -> State:
        """The run is over; return the State to pass on (``state`` itself by default).

        Args:
            flow: the flow.
            state: the flow run's final State; ``state.result`` maps tasks to their States.
            counts: the final states of all its task runs, by class name.
        """
        return state


_TASK_RUN_CALLS = ("on_tasks_planned", "on_tasks_finished", "on_task_runs_finished")


__all__ = ["UNKNOWN", "FinishedRuns", "RunHook"]
