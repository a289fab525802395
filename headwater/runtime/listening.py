"""Running a flow once for each event of its listeners: ``flow.run(listen=...)``, a schedule
with listeners, ``headwater run --listen-folder/--listen-webhook``.

Design note
-----------
The listeners (:mod:`headwater.listeners`) make events; this loop turns each event into one
flow run. The reasons are in docs/notices/0014-listeners.md.

- **Checked first.** The flow is validated, the parameters given to ``run()`` are checked, and
  so are the names every listener sets (``FolderListener(parameter="path")`` needs a ``path``
  parameter, which ``run()`` must not also give) before anything listens.
- **Parameters.** A run gets ``{**parameters, **event.parameters}``: the values given to
  ``run()`` are shared by every run, the event's are its own. Clock events (a schedule with
  clocks and listeners) keep the schedule's rule: what ``run()`` got wins over the clock's
  ``parameter_defaults``. Each event is resolved against the flow's parameters when offered;
  a refused one never runs, and its listener hears why (a webhook answers 422).
- **Backpressure.** ``max_concurrent_runs`` slots (1 by default). An event is taken from a
  listener only when a slot is free: ``sink.put`` waits until then (the queue between them
  holds at most ``max_concurrent_runs`` offers), so listeners run only as fast as runs finish.
- **Exactly once per key.** An event's key is claimed when offered and remembered when its run
  finishes, whatever its final state, in :mod:`headwater.runtime.seen` for a listener with a
  ``source`` (in memory otherwise). An offer whose key ran, or is running, is a duplicate. A
  run that could not even start (its executor unreachable) is recorded Failed and journaled,
  but its key is not remembered, so a restart tries the event again.
- **Runs in threads.** Each run is :func:`headwater.runtime.run.run_once` on a thread of its
  own; its State is collected by the loop's thread, which calls ``on_run``. An executor runs
  one flow run at a time, so with more than one slot ``executor=`` must be a function that
  makes one (``lambda: LocalDaskExecutor()``). Progress bars are off unless asked for.
- **Failures do not stop the loop**: a failed run is journaled like any run. A listener that
  raises stops the loop (after the runs in flight) with a ListenerError, rather than leaving a
  process that looks alive and listens to nothing.
- **Stopping.** ``max_runs`` runs started, a ``stop`` event set, every listener (and clock)
  exhausted, or SIGINT/SIGTERM when the loop runs in the main thread: the loop stops taking
  events, offers not yet taken are withdrawn (a file is looked at again after a restart, a
  webhook request is answered 503), and the runs in flight finish before ``run()`` returns. A
  second signal stops waiting for them; their events run again after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from headwater.errors import ListenerError, ParameterError
from headwater.listeners.base import Listener
from headwater.runtime.listen_loop import ListenLoop
from headwater.runtime.scheduled import ScheduledRun, ScheduledRuns, check_clock_parameters

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.schedules.schedule import Schedule

__all__ = ["as_listeners", "check_listener_parameters", "run_flow_listening"]


def as_listeners(listen: Any) -> tuple[Listener, ...]:
    """``listen=`` as a tuple of listeners: one Listener, or an iterable of them.

    Raises:
        TypeError: for anything else, saying what a listener is.
    """
    items = (listen,) if isinstance(listen, Listener) else listen
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        items = (listen,)
    found = tuple(items)
    for item in found:
        if not isinstance(item, Listener):
            raise TypeError(
                f"listen= takes a listener or a list of them (FolderListener, WebhookListener, "
                f"QueueListener, IterableListener from headwater.listeners), got {item!r}"
            )
    return found


def run_flow_listening(
    flow: Flow,
    parameters: Mapping[str, Any] | None = None,
    *,
    listeners: Any = (),
    schedule: Schedule | None = None,
    max_runs: int | None = None,
    max_concurrent_runs: int = 1,
    stop: threading.Event | None = None,
    on_run: Callable[[ScheduledRun], Any] | None = None,
    **run_options: Any,
) -> ScheduledRuns:
    """Run ``flow`` once for each event of ``listeners`` (and of ``schedule``) until stopped.

    ``flow.run(listen=...)`` calls this; call it directly for a ``stop`` event or an
    ``on_run`` hook.

    Args:
        flow: the flow to run.
        parameters: values shared by every run; an event's own parameters win over them.
        listeners: a Listener or an iterable of them.
        schedule: a schedule whose clocks and listeners start runs too.
        max_runs: stop after this many runs have started (None: no limit).
        max_concurrent_runs: how many runs at once.
        stop: set it (from another thread) to stop the loop.
        on_run: called with each :class:`ScheduledRun` as it finishes, in the loop's thread.
        **run_options: passed to each run (``executor`` — a function making one when
            ``max_concurrent_runs`` > 1 —, ``context``, ``progress``, ...).

    Returns:
        A :class:`ScheduledRuns` of every run, in the order they finished; each ``event`` is
        a :class:`headwater.listeners.Event`.

    Raises:
        ListenerError: no listener, an option refused, a listener that cannot listen (its port
            taken, its folder missing, already listened to by another process), or a listener
            that failed while listening.
        FlowValidationError: the flow has problems.
        ParameterError: the parameters cannot fit the listeners' events.
    """
    from headwater.schedules.schedule import check_schedule

    chosen = as_listeners(listeners)
    schedule = check_schedule(schedule, flow.name)
    if schedule is not None:
        chosen += tuple(schedule.listeners)
    _check_options(flow, chosen, max_runs, max_concurrent_runs)
    explicit = dict(parameters or {})
    flow.validate()
    check_listener_parameters(flow, chosen, explicit)
    clocks = schedule if schedule is not None and schedule.clocks else None
    if clocks is not None:
        check_clock_parameters(flow, clocks, explicit)
    loop = ListenLoop(
        flow,
        explicit,
        run_options,
        stop or threading.Event(),
        max_runs=max_runs,
        max_concurrent_runs=max_concurrent_runs,
        executor=_executor_maker(run_options.pop("executor", None), max_concurrent_runs),
        on_run=on_run,
    )
    return loop.run(chosen, clocks)


def _check_options(flow: Flow, listeners: tuple[Listener, ...], max_runs: Any, slots: Any) -> None:
    if not listeners:
        raise ListenerError(
            f"Flow {flow.name!r} has no listener to listen to: give listen=FolderListener(...) "
            f"(or another from headwater.listeners), or a schedule with listeners=[...]"
        )
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ListenerError(f"max_concurrent_runs must be an int, 1 or more; got {slots!r}")
    if max_runs is not None and (
        isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 0
    ):
        raise ListenerError(f"max_runs must be an int, 0 or more, or None; got {max_runs!r}")


def check_listener_parameters(
    flow: Flow, listeners: tuple[Listener, ...], explicit: Mapping[str, Any]
) -> None:
    """Refuse, before listening, parameters that no event could fix (see the module's note).

    Args:
        flow: the flow.
        listeners: its listeners.
        explicit: the values given to ``run()``.

    Raises:
        ParameterError: naming every problem.
    """
    from headwater.model.parameter import resolve_parameters

    declared = {p.name: p for p in flow.parameters()}
    known = ", ".join(sorted(declared)) or "none"
    problems = [
        f"unknown parameter {name!r} (the flow's parameters: {known})"
        for name in sorted(set(explicit) - set(declared))
    ]
    for listener in listeners:
        for name in sorted(listener.parameter_names or ()):
            if name not in declared:
                problems.append(
                    f"{listener!r} sets parameter {name!r}, which the flow does not have (its parameters: {known})"
                )
            elif name in explicit:
                problems.append(
                    f"parameter {name!r} is set by {listener!r} for each event; do not also give it to run()"
                )
    for name, p in declared.items():
        if p.required and name not in explicit:
            lacking = [
                x
                for x in listeners
                if x.parameter_names is not None and name not in x.parameter_names
            ]
            if lacking:
                problems.append(
                    f"parameter {name!r} is required, and neither given to run() nor set by {lacking[0]!r}"
                )
    try:
        given = {k: v for k, v in explicit.items() if k in declared}
        resolve_parameters(flow.name, [declared[k] for k in given], given)
    except ParameterError as exc:
        problems += [line.strip()[2:] for line in str(exc).splitlines()[1:]]
    if problems:
        n = len(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ParameterError(
            f"Flow {flow.name!r} cannot listen ({n} problem{'s' if n > 1 else ''}):\n{lines}"
        )


def _executor_maker(executor: Any, slots: int) -> Callable[[], Any]:
    from headwater.executors.base import Executor

    if executor is None:
        return lambda: None  # run_once makes a LocalExecutor for each run
    if isinstance(executor, Executor):
        if slots > 1:
            raise ListenerError(
                f"An executor runs one flow run at a time, and max_concurrent_runs={slots}: give "
                f"a function that makes one for each run, e.g. executor=lambda: "
                f"{type(executor).__name__}(...)"
            )
        return lambda: executor
    if callable(executor):
        return executor
    raise TypeError(f"executor must be an Executor or a function making one, got {executor!r}")
