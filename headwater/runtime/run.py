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
- **once, on a schedule, or for each event**: ``run_on_schedule=True`` hands over to the
  schedule loop (:mod:`headwater.runtime.scheduled`), ``listen=`` (or a schedule with
  listeners) to the listening loop (:mod:`headwater.runtime.listening`); both call
  :func:`run_once` for each event;
- **resumed**: ``resume=`` runs once, continuing a journaled run
  (:mod:`headwater.runtime.resume` prepares its parameters, context and decisions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from headwater.engine.context import given_parameters
from headwater.engine.flow_runner import FlowRunner
from headwater.engine.hooks import RunHook
from headwater.errors import ListenerError, ScheduleError
from headwater.runtime.journal import JournalHook
from headwater.runtime.progress import progress_for
from headwater.runtime.redaction import RedactionHook

if TYPE_CHECKING:
    from headwater.engine.resume import ResumePlan
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
    listen: Any = None,
    max_concurrent_runs: int | None = None,
    resume: str | None = None,
) -> State | ScheduledRuns:
    """Run ``flow`` once, on its schedule, for each event of listeners, or resuming a run;
    what :meth:`Flow.run` does (its arguments).

    Raises:
        ScheduleError: ``max_runs`` without ``run_on_schedule=True`` or ``listen=``, or
            ``run_on_schedule=True`` and the flow has no schedule.
        ListenerError: ``max_concurrent_runs`` without a listener.
        HeadwaterError: ``resume=`` with a schedule or listeners (:func:`_resumed`).
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
    if resume is not None:
        repeats = (run_on_schedule or None, listen, max_runs, max_concurrent_runs)
        return _resumed(flow, resume, parameters, repeats != (None,) * 4, **options)
    schedule = flow.schedule if run_on_schedule else None
    if listen is not None:
        from headwater.runtime.listening import as_listeners, run_flow_listening

        if run_on_schedule and schedule is None:
            raise ScheduleError(
                f"Flow {flow.name!r} has no schedule to run on; drop run_on_schedule=True to "
                f"run for the events of listen= alone."
            )
        return run_flow_listening(
            flow,
            parameters,
            listeners=as_listeners(listen),
            schedule=schedule,
            max_runs=max_runs,
            max_concurrent_runs=1 if max_concurrent_runs is None else max_concurrent_runs,
            **options,
        )
    if max_concurrent_runs is not None and not (schedule is not None and schedule.listeners):
        raise ListenerError(
            f"Flow {flow.name!r}: max_concurrent_runs={max_concurrent_runs} is for runs started "
            f"by listeners; add listen=... (runs on a schedule are one at a time)."
        )
    if run_on_schedule or max_runs is not None:
        return _on_schedule(
            flow, parameters, run_on_schedule, max_runs, max_concurrent_runs, options
        )
    return run_once(flow, parameters, **options)


def _on_schedule(
    flow: Flow,
    parameters: Mapping[str, Any],
    run_on_schedule: bool,
    max_runs: int | None,
    max_concurrent_runs: int | None,
    options: dict[str, Any],
) -> ScheduledRuns:
    """Run ``flow`` on its schedule (:func:`run_flow`'s arguments)."""
    if not run_on_schedule:
        raise ScheduleError(
            f"Flow {flow.name!r}: max_runs={max_runs} is for runs on a schedule; "
            f"add run_on_schedule=True, or drop max_runs to run once (or add listen=... "
            f"for runs started by listeners)."
        )
    from headwater.runtime.scheduled import run_flow_on_schedule

    if max_concurrent_runs is not None:  # a schedule with listeners: see run_flow_on_schedule
        options["max_concurrent_runs"] = max_concurrent_runs
    return run_flow_on_schedule(flow, parameters, max_runs=max_runs, **options)


def _resumed(
    flow: Flow,
    resume: str,
    parameters: Mapping[str, Any],
    repeats: bool,
    *,
    executor: Executor | None,
    task_states: Mapping[Task, State] | None,
    return_tasks: Iterable[Task] | None,
    context: Mapping[str, Any],
    progress: bool | None,
) -> State:
    """Resume a journaled run of ``flow`` once (:mod:`headwater.runtime.resume`).

    Raises:
        HeadwaterError: with a schedule, listeners (``repeats``) or ``task_states``.
        JournalError: the run to resume is not journaled.
        ResumeError: it cannot be resumed, or the flow changed since.
        ParameterError: a parameter or context value is not the original's.
    """
    from headwater.errors import HeadwaterError
    from headwater.runtime.resume import prepare_resume

    if repeats or task_states:
        what = "task_states" if task_states else "a schedule or listeners"
        raise HeadwaterError(
            f"Flow {flow.name!r}: resume= runs once, from the journaled run's states; it takes "
            f"no {what}. Drop one of them."
        )
    prepared = prepare_resume(flow, resume, parameters, context)
    return run_once(
        flow,
        prepared.parameters,
        executor=executor,
        return_tasks=return_tasks,
        context=prepared.context,
        progress=progress,
        resume=prepared.plan,
    )


def run_once(
    flow: Flow,
    parameters: Mapping[str, Any] | None = None,
    *,
    executor: Executor | None = None,
    task_states: Mapping[Task, State] | None = None,
    return_tasks: Iterable[Task] | None = None,
    context: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    resume: ResumePlan | None = None,
) -> State:
    """Run ``flow`` once on ``executor`` (the flow's, else a LocalExecutor, by default) with
    the runtime's hooks (see the module's note) and return its State (``resume``: what a
    resumed run keeps, reads back and runs, :func:`headwater.runtime.resume.prepare_resume`)."""
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
            resume=resume,
        )
    finally:
        if bar is not None:
            bar.close()


__all__ = ["run_flow", "run_once"]
