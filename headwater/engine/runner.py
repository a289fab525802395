"""The state-checking task runner: one task run, from upstream states to a final State.

Design note
-----------
``TaskRunner.run`` is a pipeline of small steps. Each takes the current State (and what it
needs) and returns the next one, or ends the run early by raising ``ENDRUN(state)``::

    check_initial_state      a Finished (or Paused) initial state is returned as it is
    check_upstream_finished  an unfinished upstream (e.g. Paused) leaves the task Pending;
                             a Cancelled upstream cancels it
    check_trigger            the trigger (skipped for a Resume) -> TriggerFailed / Skipped / Paused
    check_map_error          a map that could not be expanded fails here, after the trigger
    run_with_retries         the steps below, again for each retry or LOOP iteration:
      check_cached           (:mod:`headwater.engine.stored`) an existing target, this
                             task run's checkpoint or a valid cache candidate -> Cached
      call_task              the function (:mod:`headwater.engine.calls`: timeout, stdout,
                             awaiting an ``async def``); signals become states
      write                  (:mod:`headwater.engine.stored`) checkpoint a successful result

State handlers are called on every transition (:meth:`TaskRunner.transition`), through the
code path flows share (:mod:`headwater.engine.handlers`): a handler that raises ends the run
Failed with a message naming it (or in the state a signal it raised asks for); it never
crashes the flow run.

Retries happen inside the run, so a downstream task only ever sees final states; the wait
between tries does not hold a worker slot (:func:`headwater.engine.calls.wait_for_retry`).

A run given the flow run's token (``run=``) runs with that run's signing key, which the
executor installed in this process (:func:`headwater.results.signing.using`): Results read
and written by the pipeline, and by the task's own code, sign and verify with it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headwater.engine.calls import (
    StdoutRouter,
    call_function,
    call_with_timeout,
    format_exception,
    new_run_id,
    route_stdout,
    run_info,
    state_of_error,
    wait_for_retry,
)
from headwater.engine.context import render_run_name, task_run_context
from headwater.engine.handlers import call_state_handlers, callback
from headwater.engine.identity import ResumeFrom
from headwater.engine.stored import StoredResults
from headwater.model import signals
from headwater.model.context import run_context
from headwater.model.retries import retry_wait
from headwater.model.states import (
    Cancelled,
    Failed,
    Finished,
    Looped,
    Paused,
    Pending,
    Retrying,
    Running,
    Skipped,
    State,
    Success,
    TriggerFailed,
)
from headwater.model.task import Task
from headwater.model.triggers import all_successful as _all_successful
from headwater.results.base import Result
from headwater.results.signing import using as using_run_key


@dataclass(frozen=True, slots=True)
class Upstream:
    """One input of a task run: an upstream state (or the states of a mapped task's children)
    and how to take the value from it.

    Args:
        key: the argument receiving the value; None for a state-only dependency.
        state: the upstream state, or the children's states (a reduce): a tuple, or a
            compact ChildStates for a batched map.
        index: the element to take (a tuple indexes twice: ``value[i][j]``), or None.
        flattened: concatenate the lists first (with ``index`` None: a flattened reduce).
        gate: the upstream is a condition gate (``case``, ``switch``...): when it did not
            pass, the task skips (or fails) before its trigger is checked.
    """

    key: str | None
    state: State | Sequence[State]
    index: int | tuple[int, ...] | None = None
    flattened: bool = False
    gate: bool = False

    def states(self) -> Sequence[State]:
        """The states the trigger sees for this input."""
        return (self.state,) if isinstance(self.state, State) else self.state

    def value(self) -> Any:
        """The value this input passes to the task."""
        if isinstance(self.state, State):
            value: Any = self.state.result
        elif isinstance(self.state, tuple):
            value = [s.result for s in self.state]
        else:  # a batched map's children (headwater.engine.children.ChildStates)
            value = self.state.results()  # type: ignore[attr-defined]
        if self.index is None:
            if self.flattened:
                value = [item for part in value for item in part]
            return value
        for i in self.index if isinstance(self.index, tuple) else (self.index,):
            value = value[i]
        return value


@dataclass(frozen=True, slots=True)
class Tried:
    """A first try that ran outside the runner (a batch's plain child) and did not succeed:
    the state it ended in, when it started, and the task run id it ran with."""

    state: State
    started: _dt.datetime
    task_run_id: str


class TaskRunner:
    """Runs one task (or one mapped child) through the state pipeline.

    Args:
        task: the task.
        constants: plain values bound to its arguments.
        map_index: the child's index when the task is mapped.
        result: the Result the task's output persists to (resolved by the flow runner).
        checkpoint: whether a successful result is written to ``result``.
        readback: look for a checkpoint this task run already wrote before running (set on
            executors that can lose a finished result with a worker and compute it again).
        cache_folder: where the task's cache candidates live (chosen by the flow runner).
        run: the flow run's token: its signing key is looked up by it in this process
            (:func:`headwater.results.signing.using`), and checkpoints are bound to it.
        resume: in a resumed run, where earlier runs' checkpoints of the task are (read
            back when provably its own, except for the map indexes in ``fresh``).
    """

    def __init__(
        self,
        task: Task,
        constants: Mapping[str, Any] | None = None,
        map_index: int | None = None,
        result: Result | None = None,
        checkpoint: bool = False,
        *,
        readback: bool = False,
        cache_folder: str | None = None,
        run: str | None = None,
        resume: ResumeFrom | None = None,
    ) -> None:
        self.task = task
        self.constants = constants or {}
        self.map_index = map_index
        self.run_token = run
        self.stored = (
            StoredResults(task, result, checkpoint, readback, cache_folder, run, resume)
            if result is not None
            else None
        )
        self.fresh: Collection[int | None] = frozenset()
        self.started: _dt.datetime | None = None
        self.task_run_id: str | None = None
        self.defer_retries = False
        """When True, a failure to retry after a delay ends the run Retrying (with its
        ``start_time``) instead of sleeping; running it again from that state goes on
        with the same run id and start (how a batch of children retries, notice 0010)."""
        self.quiet = False
        """Whether no state handler watches this run (set by ``run``)."""
        self._fresh: State | None = None
        self._deferred: dict[int | None, tuple[_dt.datetime | None, str]] = {}

    # -- transitions ---------------------------------------------------------------------
    def transition(self, old: State, new: State) -> State:
        """Move from ``old`` to ``new``, calling the task's state handlers and callbacks
        (:func:`headwater.engine.handlers.call_state_handlers`).

        Raises:
            ENDRUN: with the state the run ends in when a handler raises.
        """
        if self.map_index is not None and new.map_index is None:
            new = new.with_(map_index=self.map_index)
        task = self.task
        if not task.state_handlers and task.on_failure is None and task.on_success is None:
            return new
        handlers = list(task.state_handlers)
        if task.on_failure is not None:
            handlers.append(callback(task.on_failure, State.is_failed))
        if task.on_success is not None:
            handlers.append(callback(task.on_success, State.is_successful))
        return call_state_handlers(
            task,
            handlers,
            old,
            new,
            what=f"task {task.name!r}",
            fields={"run_count": new.run_count, "map_index": self.map_index},
        )

    # -- the pipeline --------------------------------------------------------------------
    def run(
        self,
        upstream: Sequence[Upstream] = (),
        context: Mapping[str, Any] | None = None,
        initial_state: State | None = None,
        map_error: str | None = None,
        *,
        tried: Tried | None = None,
    ) -> State:
        """Run the task and return its final State (or Pending/Paused when it cannot go on).

        Args:
            upstream: the task's inputs.
            context: the flow run's context.
            initial_state: where to start (e.g. Resume, or a finished state to keep).
            map_error: why the map could not be expanded; the run fails with it after the
                trigger check.
            tried: the first try ran already and did not succeed (a batch's plain child,
                :mod:`headwater.engine.plain`): go on from the state it ended in.
        """
        quiet = self.quiet = not (
            self.task.state_handlers or self.task.on_failure or self.task.on_success
        )
        self._fresh = None
        # Without handlers nobody sees the states in between: share one Pending.
        state = initial_state or (_PENDING if quiet else Pending(map_index=self.map_index))
        context = context or {}
        resumed = self._deferred.pop(self.map_index, None)
        if tried is not None:  # its checks passed before its first try, as a retry's did
            resumed = (tried.started, tried.task_run_id)
        self.started, self.task_run_id = resumed or (None, None)
        first = tried.state if tried is not None else None
        try:
            if self.run_token is None:
                state = self._pipeline(state, upstream, context, map_error, resumed, first)
            else:  # the run's signing key, for Results read and written in this task run
                with using_run_key(self.run_token):
                    state = self._pipeline(state, upstream, context, map_error, resumed, first)
        except signals.ENDRUN as end:
            state = end.end_state
        if state.is_finished() and state is not initial_state:
            if state is self._fresh:  # made by call_task and seen by nobody: no copy
                object.__setattr__(state, "run_info", run_info(self.started))
            else:
                state = state.with_(run_info=run_info(self.started))
        return state

    def _pipeline(
        self,
        state: State,
        upstream: Sequence[Upstream],
        context: Mapping[str, Any],
        map_error: str | None,
        resumed: Any,
        first: State | None,
    ) -> State:
        """The steps of :meth:`run` (see the module's note); may raise ENDRUN."""
        if resumed is None:  # a deferred retry passed these checks already
            state = self.check_initial_state(state)
            state = self.check_upstream_finished(state, _states_of(upstream))
            state = self.check_gates(state, [_whole(up.state) for up in upstream if up.gate])
            trigger_states = _states_of([up for up in upstream if not up.gate])
            state = self.check_trigger(state, trigger_states)
            state = self.check_map_error(state, map_error)
        return self.run_with_retries(state, self.get_inputs(upstream), context, first)

    def check_initial_state(self, state: State) -> State:
        """End at once with a Finished initial state (a task given a previous run's state)
        or a Paused one (it stays Paused until given Resume, as in Prefect 1); wait until a
        Retrying initial state's ``start_time`` (a task run again after its worker was
        lost), without holding a worker slot."""
        if state.is_finished() or isinstance(state, Paused):
            raise signals.ENDRUN(state)
        if isinstance(state, Retrying) and state.start_time is not None:
            wait_for_retry((state.start_time - _dt.datetime.now(_dt.UTC)).total_seconds())
        return state

    def check_upstream_finished(self, state: State, upstream_states: Collection[State]) -> State:
        """Stay Pending while an upstream task is not finished; a Cancelled upstream cancels."""
        classes = getattr(upstream_states, "classes", None)
        if classes is not None:  # a compact view: only look at the states it must
            kinds = classes()
            if all(issubclass(k, Finished) for k in kinds):
                if not any(issubclass(k, Cancelled) for k in kinds):
                    return state
                upstream_states = [s for s in upstream_states if s.is_cancelled()][:1]
        for s in upstream_states:
            if not s.is_finished():
                raise signals.ENDRUN(
                    Pending(
                        f"Waiting for an upstream task that is {type(s).__name__}"
                        + (f": {s.message}" if s.message else ""),
                        map_index=self.map_index,
                    )
                )
        if any(s.is_cancelled() for s in upstream_states):
            raise signals.ENDRUN(
                self.transition(state, Cancelled("An upstream task was cancelled."))
            )
        return state

    def check_gates(self, state: State, gates: Sequence[State | tuple[State, ...]]) -> State:
        """Skip a task whose condition (``case``, ``switch``, ``ifelse``...) did not pass.

        A condition that failed gives TriggerFailed: the branch cannot know whether it should
        have run. Checked before the trigger, so it holds whatever the task's trigger is.
        """
        for gate in gates:
            for g in gate if isinstance(gate, tuple) else (gate,):
                if g.is_failed():
                    new: State = TriggerFailed(
                        f"The condition of task {self.task.name!r} failed: {g.message}"
                    )
                    raise signals.ENDRUN(self.transition(state, new))
                if g.is_skipped():
                    reason = (
                        "condition" if getattr(g, "reason", None) == "condition" else "upstream"
                    )
                    new = Skipped(g.message, reason=reason)
                    raise signals.ENDRUN(self.transition(state, new))
        return state

    def check_trigger(self, state: State, upstream_states: Collection[State]) -> State:
        """Run the trigger; when it is not met, end TriggerFailed, Skipped or Paused.

        A task without upstream states runs (unless its trigger is manual_only); a task being
        resumed (a Resume state) does not check its trigger again.
        """
        from headwater.model.triggers import manual_only

        trigger = self.task.trigger
        new: State
        if state.is_resume() or (not upstream_states and trigger is not manual_only):
            return state
        if trigger is _all_successful and type(upstream_states) is list:
            if all(isinstance(s, Success) for s in upstream_states):
                return state  # the default trigger, met: the common case, without counting
        name = getattr(trigger, "__name__", repr(trigger))
        try:
            met = trigger(upstream_states)
        except signals.PAUSE as sig:
            raise signals.ENDRUN(
                self.transition(state, sig.to_state(map_index=self.map_index))
            ) from None
        except signals.SKIP as sig:
            reason = sig.state_kwargs.get("reason", "trigger")
            new = Skipped(sig.message, reason=reason, map_index=self.map_index)
            raise signals.ENDRUN(self.transition(state, new)) from None
        except signals.HeadwaterSignal as sig:
            raise signals.ENDRUN(
                self.transition(state, sig.to_state(map_index=self.map_index))
            ) from None
        except Exception as exc:
            new = TriggerFailed(
                f"Trigger {name!r} of task {self.task.name!r} raised {type(exc).__name__}: {exc}",
                exception=exc,
                traceback=format_exception(exc),
            )
            raise signals.ENDRUN(self.transition(state, new)) from None
        if not met:
            failures = sum(1 for s in upstream_states if s.is_failed())
            if failures:
                new = TriggerFailed(
                    f"Trigger {name!r} was not met: {failures} upstream tasks failed."
                )
            else:
                new = Skipped(f"Trigger {name!r} was not met.", reason="trigger")
            raise signals.ENDRUN(self.transition(state, new))
        return state

    def check_map_error(self, state: State, map_error: str | None) -> State:
        """Fail a mapped task whose map could not be expanded (checked after the trigger)."""
        if map_error is not None:
            raise signals.ENDRUN(self.transition(state, Failed(map_error)))
        return state

    def get_inputs(self, upstream: Sequence[Upstream]) -> dict[str, Any]:
        """Collect the values of the task's arguments from its inputs and constants.

        A task with ``wants_states`` (merge, filter_results...) receives the upstream
        State (or tuple of children's States) instead of the value.
        """
        inputs = dict(self.constants)
        wants_states = self.task.wants_states
        for up in upstream:
            if up.key is None:
                continue
            if not wants_states:
                inputs[up.key] = up.value()
            elif up.index is not None and isinstance(up.state, State):
                # one element of a value mapped over: the state holding that element
                inputs[up.key] = up.state.with_(result=up.value())
            else:
                inputs[up.key] = _whole(up.state)
        return inputs

    def run_with_retries(
        self,
        state: State,
        inputs: Mapping[str, Any],
        context: Mapping[str, Any],
        first: State | None = None,
    ) -> State:
        """Call the task until it ends: LOOP runs it again, failures are retried (``first``:
        the state the first try ended in, when it ran already)."""
        run_count = state.run_count
        loop_count = 0
        loop_result: Any = None
        task_run_id = self.task_run_id or new_run_id()
        while True:
            run_count += 1
            ctx = task_run_context(
                context,
                self.task,
                state,
                task_run_id=task_run_id,
                run_count=run_count,
                map_index=self.map_index,
                loop_count=loop_count + 1,
                loop_result=loop_result,
            )
            try:
                ctx["task_run_name"] = render_run_name(self.task, inputs, ctx)
            except ValueError as exc:
                return self.transition(state, Failed(str(exc), exception=exc, run_count=run_count))
            new, first = first, None
            if new is None and self.stored is not None:
                new = self.stored.check(inputs, ctx, run_count, self.map_index, self.fresh)
            if new is not None and new.is_cached():
                return self.transition(state, new)
            if new is None:
                state, new = self._try(state, inputs, ctx, run_count)
            if isinstance(new, Looped):
                loop_count += 1
                loop_result = new.result
                state = self.transition(state, new.with_(loop_count=loop_count))
                run_count -= 1  # an iteration is not a retry
                continue
            if new.is_failed() and self.should_retry(new, run_count):
                wait = retry_wait(self.task.retry_delay, run_count)
                delay = wait.total_seconds()
                retry = Retrying(
                    f"Retrying in {delay:g}s (run {run_count} of {self.task.max_retries + 1}): {new.message}",
                    start_time=_dt.datetime.now(_dt.UTC) + wait,
                    run_count=run_count,
                    exception=new.exception,
                    traceback=new.traceback,
                )
                state = self.transition(state, retry)
                if self.defer_retries and delay > 0:
                    # the batch runs its other children meanwhile, then this one again
                    self._deferred[self.map_index] = (self.started, task_run_id)
                    return state
                wait_for_retry(delay)
                continue
            return self.transition(state, new)

    def _try(
        self, state: State, inputs: Mapping[str, Any], ctx: Mapping[str, Any], run_count: int
    ) -> tuple[State, State]:
        """One call of the function, and its checkpoint: (the state before, the try's)."""
        if self.quiet:  # no handler would see the Running state: skip making it
            if self.started is None:
                self.started = _dt.datetime.now(_dt.UTC)
        else:
            state = self.transition(state, Running(run_count=run_count, map_index=self.map_index))
            if self.started is None:
                self.started = state.timestamp
        new = self.call_task(inputs, ctx, run_count)
        if new.is_successful() and self.stored is not None:
            new = self.stored.write(new, inputs, ctx, self.map_index)
        return state, new

    def should_retry(self, state: State, run_count: int) -> bool:
        """Whether a failed try is tried again: retries left, and the failure is retriable.

        TriggerFailed and ValidationFailed are never retried; with ``retry_on``, only the
        listed exception types are (a timeout is a TimeoutError).
        """
        if run_count > self.task.max_retries or state.is_trigger_failed():
            return False
        if type(state).__name__ == "ValidationFailed":
            return False
        exc = state.exception
        if self.task.retry_on is None or isinstance(exc, signals.RETRY):
            return True
        return isinstance(exc, self.task.retry_on)

    def call_task(self, inputs: Mapping[str, Any], ctx: Mapping[str, Any], run_count: int) -> State:
        """Call the task's function once and turn what happened into a State."""
        task = self.task
        token = None
        try:
            with run_context(ctx):
                if task.log_stdout:
                    from headwater.model.context import get_logger

                    token = route_stdout(get_logger())
                try:
                    value = call_function(task.run, inputs, task.timeout, task.name)
                finally:
                    if token is not None:
                        StdoutRouter.target.reset(token)
        except (signals.HeadwaterSignal, Exception) as exc:
            return self.state_of_error(exc, run_count)
        done = Success("Task run succeeded.", value, run_count=run_count, map_index=self.map_index)
        if self.quiet:
            self._fresh = done
        return done

    def state_of_error(self, exc: BaseException, run_count: int) -> State:
        """The state a try ends in when the task's function raised ``exc``
        (:func:`headwater.engine.calls.state_of_error`).

        Args:
            exc: what the call raised (a HeadwaterSignal or an Exception).
            run_count: the try's number.
        """
        return state_of_error(self.task, exc, run_count)


def _whole(state: State | Sequence[State]) -> State | tuple[State, ...]:
    """A state, or children's states as a tuple (what tasks receiving states expect)."""
    return state if isinstance(state, State | tuple) else tuple(state)


class _StatesView(Collection[State]):
    """The states of several inputs, one after the other, without copying a compact one;
    ``classes()`` counts them by class cheaply (the built-in triggers use it)."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Sequence[State]]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __iter__(self) -> Iterator[State]:
        for p in self.parts:
            yield from p

    def __contains__(self, item: object) -> bool:
        return any(item in p for p in self.parts)

    def classes(self) -> dict[type, int]:
        out: dict[type, int] = {}
        for p in self.parts:
            fast = getattr(p, "classes", None)
            for k, n in (fast() if fast is not None else _count_classes(p)).items():
                out[k] = out.get(k, 0) + n
        return out


def _count_classes(states: Iterable[State]) -> dict[type, int]:
    out: dict[type, int] = {}
    for s in states:
        out[type(s)] = out.get(type(s), 0) + 1
    return out


def _states_of(upstream: Sequence[Upstream]) -> Collection[State]:
    if len(upstream) == 1 and isinstance(upstream[0].state, State):
        return [upstream[0].state]
    parts = [up.states() for up in upstream]
    if all(type(p) is tuple for p in parts):
        return [s for p in parts for s in p]
    return _StatesView(parts)


_PENDING = Pending()
"""The initial state of a run no handler watches."""

__all__ = [
    "TaskRunner",
    "Tried",
    "Upstream",
    "call_with_timeout",
    "render_run_name",
    "wait_for_retry",
]
