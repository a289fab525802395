"""The flow runner: one flow run on an executor, from parameters to the flow's State.

Design note
-----------
:meth:`FlowRunner.run` is the engine's whole walk of a run (docs/notices/0003-runner-pipeline.md):

1. check everything before anything runs: the flow (:meth:`Flow.validate`), the parameters
   (:func:`~headwater.model.parameter.resolve_parameters`), ``task_states`` and
   ``return_tasks``, and, on an executor that ships values to other processes, that the
   context pickles;
2. build the run context (:mod:`headwater.engine.context`) and tell the run hooks the run
   started (:mod:`headwater.engine.hooks`);
3. move the flow to Running through its state handlers (:mod:`headwater.engine.handlers`);
4. resolve the run's signing key once, here, when a task stores results
   (:func:`headwater.results.signing.for_run`), and start the executor with it: the executor
   installs it in every process that runs tasks (:class:`~headwater.results.signing.RunKey`);
   the graph carries only its token. Call the executor's ``on_start``
   (:mod:`headwater.engine.environment`), then plan and submit the graph
   (:mod:`headwater.engine.planner`) and collect every task's state, repairing what lost
   workers took down (:mod:`headwater.engine.collect`); Ctrl-C cancels what is left instead
   (Ctrl-C while the executor starts: it closes what it started, and every task is
   Cancelled); then call the executor's ``on_exit``;
5. decide the flow's state from its reference tasks (:func:`flow_state`; Failed instead when
   ``on_start`` or ``on_exit`` raised), let the flow's ``terminal_state_handler`` replace it
   (Prefect 1), move the flow to it through its state handlers and ``on_failure`` callback,
   and let each hook see (and replace) it.

Choosing the executor, showing progress, masking secrets and journaling are the runtime's
(:mod:`headwater.runtime.run`), which hands the engine its hooks.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import inspect
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from headwater import pickling
from headwater.engine import caching
from headwater.engine.collect import NOT_RUN, cancel, collect
from headwater.engine.context import flow_run_context, given_parameters
from headwater.engine.environment import CallbackFailure, call_callback, exit_after_error
from headwater.engine.handlers import (
    call_state_handlers,
    call_terminal_state_handler,
    callback,
)
from headwater.engine.hooks import RunHook
from headwater.engine.identity import RunIdentity
from headwater.engine.nodes import FlowContext
from headwater.engine.plan import Plan, count_runs, kinds
from headwater.engine.planner import Planner
from headwater.engine.resume import ResumePlan
from headwater.errors import HeadwaterError
from headwater.executors.base import Executor, set_up_here
from headwater.model import signals
from headwater.model.flow import Flow
from headwater.model.parameter import resolve_parameters
from headwater.model.states import (
    Cancelled,
    Failed,
    Finished,
    Mapped,
    Paused,
    Pending,
    Running,
    State,
    Success,
)
from headwater.model.task import Task
from headwater.results import signing
from headwater.results.signing import RunKey

_EXECUTOR_METHODS = ("start", "submit", "wait_any", "gather")


class FlowRunner:
    """Runs a flow on an executor.

    Args:
        flow: the flow.
        executor: where tasks run: an Executor (``headwater.executors``) or an object with
            its methods.
    """

    def __init__(self, flow: Flow, executor: Executor) -> None:
        if not all(callable(getattr(executor, m, None)) for m in _EXECUTOR_METHODS):
            raise TypeError(
                f"executor must be an Executor such as LocalExecutor(), LocalDaskExecutor() or "
                f"DaskExecutor() (from headwater.executors), got {executor!r}"
            )
        self.flow = flow
        self.executor = executor

    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        hooks: Sequence[RunHook] = (),
        resume: ResumePlan | None = None,
    ) -> State:
        """Run the flow once; see :meth:`Flow.run`.

        Args:
            parameters: values for the flow's parameters (they win over
                ``context["parameters"]``; every value is checked).
            task_states: initial states of tasks.
            return_tasks: the tasks whose states the flow state's ``result`` holds.
            context: extra keys for the run context (``flow_run_id`` names the run).
            hooks: told of the run as it goes (:class:`~headwater.engine.hooks.RunHook`).
            resume: what a resumed run keeps, reads back and runs (:mod:`headwater.engine.resume`).

        Raises:
            FlowValidationError: the flow has problems (nothing runs).
            ParameterError: the parameters are refused (nothing runs).
            HeadwaterError: ``task_states`` or ``return_tasks`` name tasks not in the flow,
                ``context["date"]`` is not a date, or the context cannot reach the workers
                (nothing runs).
            SigningKeyError: the flow stores results and no signing key can be had
                (nothing runs).
        """
        flow = self.flow
        flow.validate()
        parameters, context = given_parameters(parameters, context)
        values = resolve_parameters(flow.name, flow.parameters(), parameters)
        initial = self._checked_task_states(task_states, resume)
        wanted = self._checked_return_tasks(return_tasks)
        token = uuid.uuid4().hex[:8]  # keys of this run, even when a flow_run_id is reused
        start = _dt.datetime.now(_dt.UTC)
        ctx = flow_run_context(flow.name, str(uuid.uuid4()), values, context, now=start)
        plan = Plan(token=token, ctx_key=f"flow-context-{token}", wanted=frozenset(wanted))
        planner = Planner(flow, self.executor, plan, initial, hooks, resume)
        run_key = self._run_key(planner)
        flow_context, plan.context_bytes = self._flow_context(ctx, run_key)
        run_id = str(ctx["flow_run_id"])
        identity = _identity(run_key, ctx, context, resume)
        for hook in hooks:
            hook.on_run_started(
                flow=flow, run_id=run_id, parameters=values, start=start, identity=identity
            )
        running = self._transition(Pending(), Running("Running flow."))
        states: dict[Task, State] = {}
        final = running
        if isinstance(running, Running):
            states, interrupted, failure = self._run_tasks(planner, flow_context, run_key)
            final = flow_state(flow, states)
            if interrupted:
                final = Cancelled(
                    f"The flow run was interrupted (KeyboardInterrupt). {final.message}"
                )
            if failure is not None:
                final = failure.state(final if failure.which == "on_exit" else None)
        result = {t: states[t] for t in wanted if t in states}
        final = _with_tasks(final, result)
        terminal = flow.terminal_state_handler
        if isinstance(running, Running) and terminal is not None:
            final = _with_tasks(self._terminal_state(terminal, final, states), result)
        final = _with_tasks(self._transition(running, final), result)
        counts = count_runs(states)
        for hook in hooks:
            final = hook.on_run_finished(flow=flow, state=final, counts=counts)
        return final

    def _run_key(self, planner: Planner) -> RunKey | None:
        """The run's signing key, resolved once here on the driver, when a task of the flow
        stores results; None otherwise (:mod:`headwater.results.signing`).

        Raises:
            SigningKeyError: when the key file is unsafe or cannot be made.
        """
        if not caching.needs_storage(self.flow, planner.checkpoint_switch):
            return None
        return RunKey(uuid.uuid4().hex, signing.for_run())

    def _run_tasks(
        self, planner: Planner, flow_context: FlowContext, run_key: RunKey | None
    ) -> tuple[dict[Task, State], bool, CallbackFailure | None]:
        """Start the executor (it installs the run's key where tasks run), call its
        ``on_start``, run every task, call its ``on_exit`` (:mod:`headwater.engine.environment`);
        return the tasks' states, whether Ctrl-C interrupted the run (also while the executor
        started: then no task ran), and the callback that raised, if one did."""
        executor = self.executor
        if isinstance(executor, Executor) or _takes_setup(executor):
            started = executor.start(setup=run_key)
        else:  # an executor of another kind: its tasks in this process get the key
            started = _started_here(executor, run_key)
        outcome: tuple[dict[Task, State], bool, CallbackFailure | None] | None = None
        try:
            with started:
                outcome = self._run_started(planner, flow_context)
        except KeyboardInterrupt:  # while the executor started (or stopped): it closed itself
            if outcome is None:
                return {t: Cancelled(NOT_RUN) for t in self.flow.tasks}, True, None
            return outcome[0], True, outcome[2]
        return outcome

    def _run_started(
        self, planner: Planner, flow_context: FlowContext
    ) -> tuple[dict[Task, State], bool, CallbackFailure | None]:
        """What :meth:`_run_tasks` does once the executor has started."""
        executor = self.executor
        started = False
        try:
            failure = call_callback(executor, "on_start")
            if failure is not None:
                not_run = Pending(f"Not run: {failure.describe()}.")
                return dict.fromkeys(planner.flow.tasks, not_run), False, failure
            started = True
            planner.compile_and_submit(flow_context)
            states, interrupted = collect(planner), False
        except KeyboardInterrupt:
            states, interrupted = cancel(planner), True
        except BaseException as exc:
            if started:
                exit_after_error(executor, exc)
            raise
        failure = call_callback(executor, "on_exit") if started else None
        return states, interrupted, failure

    def _transition(self, old: State, new: State) -> State:
        """Move the flow from ``old`` to ``new`` through its state handlers, then its
        ``on_failure`` callback; a handler that raises ends the run in a Failed state naming
        it (or the state its signal asks for)."""
        flow = self.flow
        handlers = list(flow.state_handlers)
        if flow.on_failure is not None:
            handlers.append(callback(flow.on_failure, State.is_failed))
        try:
            return call_state_handlers(flow, handlers, old, new, what=f"flow {flow.name!r}")
        except signals.ENDRUN as end:
            return end.end_state

    def _terminal_state(
        self, handler: Callable[..., Any], final: State, states: Mapping[Task, State]
    ) -> State:
        """The final state as the flow's ``terminal_state_handler`` decides it (Prefect 1:
        it sees the reference tasks' states, a mapped task's children's in its place)."""
        reference: set[State] = set()
        for t in self.flow.reference_tasks():
            s = states[t]
            if isinstance(s, Mapped):
                reference.update(c for c in s.map_states if isinstance(c, State))
            else:
                reference.add(s)
        try:
            return call_terminal_state_handler(self.flow, handler, final, reference)
        except signals.ENDRUN as end:
            return end.end_state

    def _checked_task_states(
        self, task_states: Mapping[Task, State] | None, resume: ResumePlan | None
    ) -> dict[Task, State]:
        given = dict(task_states or {})
        if given and resume is not None:
            raise HeadwaterError(
                f"Flow {self.flow.name!r}: task_states cannot be given to a resumed run (the "
                "resume decides every task's start); resume without them, or start a new run."
            )
        unknown = [t for t in given if not self.flow.has_task(t)]
        if unknown:
            raise HeadwaterError(
                f"task_states names tasks that are not in flow {self.flow.name!r}: "
                + ", ".join(repr(getattr(t, "name", t)) for t in unknown)
            )
        not_states = [t.name for t, s in given.items() if not isinstance(s, State)]
        if not_states:
            raise HeadwaterError(
                f"task_states must map tasks to States (e.g. Resume() or a previous run's "
                f"state.result), but the values for {_names(not_states)} are not States"
            )
        odd = [t.name for t, s in given.items() if isinstance(s, Mapped) and _odd_children(s)]
        if odd:
            raise HeadwaterError(
                f"task_states gives {_names(odd)} a Mapped state whose map_states are not all "
                "States: give each child a State, or None to run that child again"
            )
        return given

    def _checked_return_tasks(self, return_tasks: Iterable[Task] | None) -> list[Task]:
        wanted = list(return_tasks) if return_tasks is not None else self.flow.tasks
        strangers = [t for t in wanted if not self.flow.has_task(t)]
        if strangers:
            raise HeadwaterError(
                f"return_tasks names tasks that are not in flow {self.flow.name!r}: "
                + ", ".join(repr(getattr(t, "name", t)) for t in strangers)
            )
        return wanted

    def _flow_context(
        self, ctx: Mapping[str, Any], run_key: RunKey | None
    ) -> tuple[FlowContext, int]:
        """The run context for the graph (with the token, never the key, of the run's
        signing key) and the size of its pickle (0 when the executor does not ship values);
        refused when it must pickle and cannot."""
        ships = bool(getattr(self.executor, "ships_values", False))
        token = run_key.token if run_key is not None else None
        context = FlowContext(MappingProxyType(ctx), ships, token)
        if not ships:
            return context, 0
        try:
            return context, pickling.pickled_size(context)
        except Exception as exc:
            problem = pickling.pickle_problem(dict(ctx), "context") or f"{exc!r}"
            raise HeadwaterError(
                f"Flow {self.flow.name!r} cannot run on {self.executor!r}: its parameters "
                f"or context must pickle to reach the workers, but {problem}"
            ) from None


def _identity(
    run_key: RunKey | None,
    ctx: Mapping[str, Any],
    given: Mapping[str, Any],
    resume: ResumePlan | None,
) -> RunIdentity:
    """What the hooks are told of the run for a later resume of it."""
    return RunIdentity(
        run_key.token if run_key is not None else None,
        ctx,
        given,
        resume.resumed if resume is not None else None,
        resume.sources if resume is not None else (),
    )


def _takes_setup(executor: Any) -> bool:
    try:
        return "setup" in inspect.signature(executor.start).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def _started_here(executor: Any, run_key: RunKey | None) -> Iterator[Any]:
    """Start an executor that is not an :class:`Executor` (it takes no setup): the run's key
    is installed in this process only."""
    with set_up_here(run_key), executor.start() as started:
        yield started


def flow_state(flow: Flow, states: Mapping[Task, State]) -> State:
    """The flow run's state from its reference tasks' states (docs/notices/0002-skip-as-finished.md):
    Failed if any failed; Paused (a task or a mapped child is paused) or Pending if any did
    not finish; Cancelled if any was cancelled; else Success, saying which were skipped.

    Args:
        flow: the flow.
        states: every task's state.
    """
    reference = flow.reference_tasks()
    failed, unfinished, cancelled = [], [], []
    for t in reference:
        found = kinds(states[t])
        if any(issubclass(k, Failed) for k in found):
            failed.append(t.name)
        elif any(not issubclass(k, Finished) for k in found):
            unfinished.append(t.name)
        elif any(issubclass(k, Cancelled) for k in found):
            cancelled.append(t.name)
    paused_tasks = [t for t, s in states.items() if any(issubclass(k, Paused) for k in kinds(s))]
    paused = [t.name for t in paused_tasks]
    if failed:
        return Failed(f"Some reference tasks failed: {_names(failed)}.")
    if unfinished:
        if paused:
            children = any(isinstance(states[t], Mapped) for t in paused_tasks)
            return Paused(
                f"Tasks {_names(paused)} are paused; resume them with "
                "flow.run(task_states={task: Resume()})"
                + (
                    " (a map's paused children: give the map a Mapped state with Resume() in "
                    "their place)."
                    if children
                    else "."
                )
            )
        return Pending(f"Some reference tasks did not finish: {_names(unfinished)}.")
    if cancelled:
        return Cancelled(f"Some reference tasks were cancelled: {_names(cancelled)}.")
    skipped = [t.name for t in reference if states[t].is_skipped()]
    if skipped:
        return Success(f"All reference tasks succeeded or skipped (skipped: {_names(skipped)}).")
    return Success("All reference tasks succeeded.")


def _odd_children(state: Mapped) -> bool:
    """Whether a Mapped state given to a run has a child that is neither a State nor None."""
    children = state.map_states
    if getattr(children, "lazy_children", False):  # compact: made by a run, States only
        return False
    return any(c is not None and not isinstance(c, State) for c in children)


def _with_tasks(state: State, result: dict[Task, State]) -> State:
    """The flow's state holding the task states, unless a handler's replacement holds a
    result of its own."""
    return state if state.result_object.value is not None else state.with_(result=result)


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


__all__ = ["FlowRunner", "flow_state"]
