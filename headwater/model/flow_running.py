"""Running a flow: :meth:`FlowRunning.run` (once, on a schedule, per listener event, or
resuming a journaled run).

Design note
-----------
:class:`FlowRunning` is a base class of :class:`~headwater.model.flow.Flow`, kept in its own
module so the flow module stays about what a flow is (as :mod:`headwater.model.flow_edits`).
A Flow is configuration: :meth:`FlowRunning.run` hands it to the runtime
(:func:`headwater.runtime.run.run_flow`), imported when a run starts, so the model does not
load the runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast, overload

if TYPE_CHECKING:
    from headwater.listeners.base import Listener
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.model.task import Task
    from headwater.runtime.scheduled import ScheduledRuns


class FlowRunning:
    """``run`` of a flow (see the module's note)."""

    @overload
    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: Literal[False] = False,
        max_runs: None = None,
        listen: None = None,
        max_concurrent_runs: None = None,
        resume: str | None = None,
        **params: Any,
    ) -> State: ...

    @overload
    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: Literal[True],
        max_runs: int | None = None,
        listen: Listener | Iterable[Listener] | None = None,
        max_concurrent_runs: int | None = None,
        **params: Any,
    ) -> ScheduledRuns: ...

    @overload
    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: bool = False,
        max_runs: int | None = None,
        listen: Listener | Iterable[Listener],
        max_concurrent_runs: int | None = None,
        **params: Any,
    ) -> ScheduledRuns: ...

    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: bool = False,
        max_runs: int | None = None,
        listen: Listener | Iterable[Listener] | None = None,
        max_concurrent_runs: int | None = None,
        resume: str | None = None,
        **params: Any,
    ) -> State | ScheduledRuns:
        """Run the flow once and return its State; ``state.result[task]`` is each task's State.

        Parameters may also be given as keyword arguments, as in Prefect 1: ``flow.run(n=5)``
        is ``flow.run(parameters={"n": 5})`` (they win over ``parameters``). With
        ``run_on_schedule=True`` it runs at each event of its ``schedule`` (docs/schedules.md),
        with ``listen=`` once per event of the listeners (docs/listeners.md): every run's State
        comes back in a :class:`~headwater.runtime.scheduled.ScheduledRuns`. With ``resume=``
        it continues a journaled run: what finished is kept or read back, the rest runs again
        (docs/engine.md, "Resuming runs"). The run is journaled (:mod:`headwater.journal`)
        unless ``HEADWATER_JOURNAL=false``; secrets are masked in the returned states' messages.

        Args:
            parameters: values for the flow's parameters.
            executor: where tasks run (the flow's ``executor`` by default, else a
                LocalExecutor).
            task_states: initial states, e.g. ``{task: Resume()}`` or a previous run's states.
            return_tasks: the tasks whose states to return (all by default).
            context: extra keys for the run context.
            progress: show a progress bar (tqdm: a text bar on stderr, a widget in Jupyter);
                None decides from ``HEADWATER_PROGRESS``, ``CI`` and whether the session is
                interactive (:func:`headwater.runtime.progress.wants_progress`).
            run_on_schedule: run at each event of the flow's schedule instead of once.
            max_runs: with ``run_on_schedule`` or ``listen``, stop after this many runs (None:
                no limit).
            listen: a listener (or a list of them) from :mod:`headwater.listeners`: run once
                for each of its events instead of once.
            max_concurrent_runs: with listeners, how many runs at once (1 by default); more
                than one needs ``executor`` to be a function that makes an executor.
            resume: a journaled run of this flow to resume: its id, or ``"last"``.
            **params: parameter values by name (an unknown name is refused, naming the
                flow's parameters).

        Raises:
            FlowValidationError: when the flow has problems (nothing runs).
            ParameterError: when the parameters are refused (nothing runs).
            ScheduleError: ``run_on_schedule=True`` and the flow has no schedule, or
                ``max_runs`` without ``run_on_schedule=True`` or ``listen``.
            ListenerError: a listener cannot listen, or ``max_concurrent_runs`` without one.
            JournalError: the run to resume is not journaled (or the id is ambiguous).
            ResumeError: the run cannot be resumed, or the flow changed (named why).
        """
        return self._run_with(
            {**(parameters or {}), **params} if params else parameters,
            executor=executor,
            task_states=task_states,
            return_tasks=return_tasks,
            context=context,
            progress=progress,
            run_on_schedule=run_on_schedule,
            max_runs=max_runs,
            listen=listen,
            max_concurrent_runs=max_concurrent_runs,
            resume=resume,
        )

    def _run_with(
        self, parameters: Mapping[str, Any] | None, **options: Any
    ) -> State | ScheduledRuns:
        from headwater.runtime.run import run_flow  # the runtime runs it: a Flow is configuration

        return run_flow(cast("Flow", self), parameters, **options)


__all__ = ["FlowRunning"]
