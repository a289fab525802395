"""The body of ``flow.run()``: choose the executor, give the engine its hooks, run once or on
the flow's schedule.

Design note
-----------
A Flow is configuration; :meth:`Flow.run <headwater.model.flow.Flow.run>` is a short call into
:func:`run_flow`, which decides what happens around the engine's run
(docs/notices/0011-layout.md):

- the **executor**: the one given, else the flow's own (``Flow(executor=...)``, as in
  Prefect Core 1), else a :class:`~headwater.executors.LocalExecutor`;
- the **run hooks** (:mod:`headwater.engine.hooks`), in this order: a progress bar when one is
  wanted (:mod:`headwater.runtime.progress`), redaction of secrets in the returned states
  (:mod:`headwater.runtime.redaction`), then the run journal (:mod:`headwater.runtime.journal`),
  which therefore only ever sees masked messages;
- **once or on a schedule**: ``run_on_schedule=True`` hands over to the schedule loop
  (:mod:`headwater.runtime.scheduled`), which calls back here once per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from headwater.engine.context import given_parameters
from headwater.engine.flow_runner import FlowRunner
from headwater.engine.hooks import RunHook
from headwater.errors import ScheduleError
from headwater.runtime.journal import JournalHook
from headwater.runtime.progress import progress_for
from headwater.runtime.redaction import RedactionHook

if TYPE_CHECKING:
    from headwater.executors.base import Executor
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.model.task import Task
    from headwater.runtime.scheduled import ScheduledRuns


def run_flow(
    flow: Flow,
    parameters: Mapping[str, Any] | None = None,
    *,
    executor: Executor | None = None,
    task_states: Mapping[Task, State] | None = None,
    return_tasks: Iterable[Task] | None = None,
    context: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    run_on_schedule: bool = False,
    max_runs: int | None = None,
) -> State | ScheduledRuns:
    """Run ``flow`` once, or on its schedule; what :meth:`Flow.run` does (its arguments).

    Raises:
        ScheduleError: ``max_runs`` without ``run_on_schedule=True``, or
            ``run_on_schedule=True`` and the flow has no schedule.
    """
    # context["parameters"] joins the explicit values (which win) before the schedule's check
    parameters, context = given_parameters(parameters, context)
    options: dict[str, Any] = {
        "executor": executor,
        "task_states": task_states,
        "return_tasks": return_tasks,
        "context": context,
        "progress": progress,
    }
    if run_on_schedule or max_runs is not None:
        if not run_on_schedule:
            raise ScheduleError(
                f"Flow {flow.name!r}: max_runs={max_runs} is for runs on a schedule; "
                f"add run_on_schedule=True, or drop max_runs to run once."
            )
        from headwater.runtime.scheduled import run_flow_on_schedule

        return run_flow_on_schedule(flow, parameters, max_runs=max_runs, **options)
    return run_once(flow, parameters, **options)


def run_once(
    flow: Flow,
    parameters: Mapping[str, Any] | None = None,
    *,
    executor: Executor | None = None,
    task_states: Mapping[Task, State] | None = None,
    return_tasks: Iterable[Task] | None = None,
    context: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> State:
    """Run ``flow`` once on ``executor`` (the flow's, else a LocalExecutor, by default) with
    the runtime's hooks (see the module's note) and return its State."""
    if executor is None:
        executor = flow.executor
    if executor is None:
        from headwater.executors.local import LocalExecutor

        executor = LocalExecutor()
    bar = progress_for(flow.name, progress)
    hooks: list[RunHook] = [RedactionHook(), JournalHook()]
    if bar is not None:
        hooks.insert(0, bar)
    try:
        return FlowRunner(flow, executor).run(
            parameters=parameters,
            task_states=task_states,
            return_tasks=return_tasks,
            context=context,
            hooks=hooks,
        )
    finally:
        if bar is not None:
            bar.close()


__all__ = ["run_flow", "run_once"]
