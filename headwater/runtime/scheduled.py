"""Running a flow on its schedule: ``flow.run(run_on_schedule=True)`` and ``headwater run
--schedule``.

Design note
-----------
The waiting is :func:`headwater.schedules.run_on_schedule`'s (one event at a time, one run at
a time, no backlog); this module adds what a *flow* needs around it. The reasons are in
docs/notices/0007-schedules.md (amendment of 2026-11-30).

- **Checked before the first wait.** The flow is validated and its parameters resolved once per
  clock (each clock's ``parameter_defaults`` under the explicit parameters) before anything
  sleeps, so a typo fails now, not at 18:00 tonight.
- **Parameters.** A run gets ``{**event.parameter_defaults, **parameters}``: what the caller
  passed explicitly wins over what the clock suggests.
- **Context.** Each run gets a fresh ``flow_run_id`` and ``scheduled_start_time`` (the event's
  start time, in the clock's zone) in its context.
- **Failures do not stop the schedule.** A run that fails is recorded and the next one still
  happens; an exception from ``flow.run`` itself (an executor that cannot start) becomes a
  Failed state for that run. Each start and finish is logged on ``headwater.schedules``.
- **Ctrl-C stops cleanly.** A KeyboardInterrupt while waiting ends the loop; one during a run
  is turned into a Cancelled flow state by the flow runner, and a Cancelled run ends the loop
  too. Either way the caller gets every run so far, with ``interrupted`` set, and no traceback.
- **Listeners.** A schedule that holds listeners is run by the listening loop
  (:mod:`headwater.runtime.listening`): its clocks and its listeners start runs.
- **What comes back** is a :class:`ScheduledRuns`: every ``(event, state)`` in order, not only
  the last state as in Prefect Core 1, so a failure in the middle is not lost;
  ``last_state`` gives the Prefect answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from headwater.errors import ParameterError, ScheduleError

if TYPE_CHECKING:
    from headwater.listeners.base import Event
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.schedules.clocks import ScheduleEvent
    from headwater.schedules.schedule import Schedule

__all__ = ["ScheduledRun", "ScheduledRuns", "check_clock_parameters", "run_flow_on_schedule"]

logger = logging.getLogger("headwater.schedules")


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """One run of a flow on its schedule.

    Args:
        event: the schedule event that started it (``event.start_time``,
            ``event.parameter_defaults``), or in a listening loop the listener's
            :class:`~headwater.listeners.Event` (``event.time``, ``event.label``).
        state: the flow run's final State (``state.result[task]`` is each task's State).
        run_id: the run's ``flow_run_id`` (as in the run journal).
    """

    event: ScheduleEvent | Event
    state: State
    run_id: str


@dataclass(frozen=True, slots=True)
class ScheduledRuns:
    """What ``flow.run(run_on_schedule=True)`` and ``flow.run(listen=...)`` return: every run,
    in order.

    Iterate it, index it or take its ``len``; each item is a :class:`ScheduledRun`.

    Args:
        runs: the runs, in the order they ran.
        interrupted: whether Ctrl-C (KeyboardInterrupt, or SIGINT/SIGTERM for listeners) or
            a Cancelled run ended the loop.
    """

    runs: tuple[ScheduledRun, ...] = ()
    interrupted: bool = False

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[ScheduledRun]:
        return iter(self.runs)

    def __getitem__(self, index: int) -> ScheduledRun:
        return self.runs[index]

    @property
    def states(self) -> list[State]:
        """The flow State of each run, in order."""
        return [r.state for r in self.runs]

    @property
    def last_state(self) -> State | None:
        """The last run's State (what Prefect Core 1 returned), or None when nothing ran."""
        return self.runs[-1].state if self.runs else None

    def is_successful(self) -> bool:
        """Whether every run succeeded (True when nothing ran)."""
        return all(r.state.is_successful() for r in self.runs)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for r in self.runs:
            counts[type(r.state).__name__] = counts.get(type(r.state).__name__, 0) + 1
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        stopped = ", interrupted" if self.interrupted else ""
        plural = "" if len(self.runs) == 1 else "s"
        return f"<ScheduledRuns: {len(self.runs)} run{plural}{' (' + summary + ')' if summary else ''}{stopped}>"


def check_clock_parameters(flow: Flow, schedule: Schedule, explicit: Mapping[str, Any]) -> None:
    """Resolve the parameters every clock's events would give; raise before any wait.

    Args:
        flow: the flow.
        schedule: the schedule whose clocks give parameter defaults.
        explicit: the values given to ``run()`` (they win over the clocks').

    Raises:
        ParameterError: the parameters of some clock's events are refused.
    """
    from headwater.model.parameter import resolve_parameters

    seen: list[dict[str, Any]] = []
    for i, clock in enumerate(schedule.clocks):
        defaults = dict(clock.parameter_defaults)
        if defaults in seen:
            continue
        seen.append(defaults)
        try:
            resolve_parameters(flow.name, flow.parameters(), {**defaults, **explicit})
        except ParameterError as exc:
            if not defaults:
                raise
            raise ParameterError(
                f"{exc}\n  (the values are the parameters given to run() over the "
                f"parameter_defaults of the schedule's clocks[{i}]: {json.dumps(defaults)})"
            ) from None


def run_flow_on_schedule(
    flow: Flow,
    parameters: Mapping[str, Any] | None = None,
    *,
    schedule: Schedule | None = None,
    max_runs: int | None = None,
    stop: threading.Event | None = None,
    on_run: Callable[[ScheduledRun], Any] | None = None,
    now: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_sleep: float = 1.0,
    **run_options: Any,
) -> ScheduledRuns:
    """Run ``flow`` at each event of its schedule until stopped; return every run.

    ``flow.run(run_on_schedule=True, max_runs=...)`` calls this; call it directly to give a
    schedule other than the flow's, a ``stop`` event, an ``on_run`` hook, or a clock.

    Args:
        flow: the flow to run.
        parameters: explicit parameter values; they win over each event's
            ``parameter_defaults``.
        schedule: the schedule to follow (the flow's own by default).
        max_runs: stop after this many runs (None: until stopped or the schedule ends).
        stop: set it (from another thread) to end the loop before the next run; the loop sets
            it itself when a run ends Cancelled (Ctrl-C during the run).
        on_run: called with each :class:`ScheduledRun` as soon as it finished.
        now: the current time, aware (UTC now by default; injectable for tests).
        sleep: sleeps a number of seconds (``time.sleep`` by default).
        max_sleep: the longest single sleep, in seconds (how soon ``stop`` is noticed).
        **run_options: passed to each ``flow.run`` (``executor``, ``context``, ...), and
            ``max_concurrent_runs`` for a schedule with listeners.

    Returns:
        A :class:`ScheduledRuns` holding each run's event, State and run id, in order.

    Raises:
        ScheduleError: the flow has no schedule (and none is given), or the loop's options
            are refused.
        TypeError: ``schedule`` is not a Schedule.
        FlowValidationError: the flow has problems (raised before any wait).
        ParameterError: the parameters are refused for some clock (raised before any wait).
    """
    from headwater.schedules.runner import run_on_schedule

    chosen = _schedule_of(flow, schedule)
    if chosen.listeners:  # its listeners start runs too: that is the listening loop's work
        return _listen(flow, parameters, chosen, max_runs, (now, sleep, stop, on_run), run_options)
    explicit = dict(parameters or {})
    flow.validate()
    check_clock_parameters(flow, chosen, explicit)
    loop = _Loop(flow, explicit, run_options, stop if stop is not None else threading.Event())
    loop.on_run = on_run
    options: dict[str, Any] = {"max_runs": max_runs, "stop": loop.stop, "sleep": sleep}
    if now is not None:
        options["now"] = now
    interrupted = False
    try:
        run_on_schedule(chosen, loop.run_one, max_sleep=max_sleep, **options)
    except KeyboardInterrupt:
        interrupted = True
    if interrupted or loop.cancelled:
        n = len(loop.runs)
        logger.info(
            "Flow %r: schedule stopped by an interrupt after %d run%s.",
            flow.name,
            n,
            "" if n == 1 else "s",
        )
    return ScheduledRuns(tuple(loop.runs), interrupted=interrupted or loop.cancelled)


def _listen(
    flow: Flow,
    parameters: Mapping[str, Any] | None,
    schedule: Schedule,
    max_runs: int | None,
    loop: tuple[Any, Any, threading.Event | None, Callable[[ScheduledRun], Any] | None],
    run_options: dict[str, Any],
) -> ScheduledRuns:
    """Run a schedule that holds listeners (its clocks and listeners start runs); ``loop``
    is :func:`run_flow_on_schedule`'s ``now``, ``sleep``, ``stop`` and ``on_run``."""
    from headwater.runtime.listening import run_flow_listening

    now, sleep, stop, on_run = loop
    if now is not None or sleep is not time.sleep:
        raise ScheduleError(
            f"Flow {flow.name!r}: a schedule with listeners runs in real time; now= and "
            f"sleep= are for schedules of clocks alone."
        )
    return run_flow_listening(
        flow, parameters, schedule=schedule, max_runs=max_runs, stop=stop, on_run=on_run,
        **run_options,
    )  # fmt: skip


def _schedule_of(flow: Flow, schedule: Any) -> Schedule:
    """The schedule to follow: the one given, else the flow's; refused when there is none."""
    from headwater.schedules.schedule import check_schedule

    chosen = check_schedule(schedule if schedule is not None else flow.schedule, flow.name)
    if chosen is None:
        raise ScheduleError(
            f"Flow {flow.name!r} has no schedule to run on: give it one with "
            f"Flow({flow.name!r}, schedule=Schedule([...])) or flow.schedule = Schedule([...]), "
            f"or run it once without run_on_schedule=True."
        )
    return chosen


class _Loop:
    """One schedule loop's runs: each event runs the flow once (see the module's note)."""

    def __init__(
        self,
        flow: Flow,
        explicit: Mapping[str, Any],
        run_options: dict[str, Any],
        stop: threading.Event,
    ) -> None:
        self.flow = flow
        self.explicit = explicit
        self.base_context = dict(run_options.pop("context", None) or {})
        self.run_options = run_options
        self.stop = stop
        self.runs: list[ScheduledRun] = []
        self.cancelled = False
        self.on_run: Callable[[ScheduledRun], Any] | None = None

    def run_one(self, event: ScheduleEvent) -> None:
        """Run the flow for ``event``; a run that cannot start is a Failed state."""
        from headwater.model.states import Cancelled, Failed
        from headwater.runtime.run import run_once

        run_id = str(uuid.uuid4())
        number = len(self.runs) + 1
        extra = {"flow_name": self.flow.name, "flow_run_id": run_id}
        logger.info(
            "Scheduled run %d (%s) for %s starting.",
            number,
            run_id[:8],
            event.start_time,
            extra=extra,
        )
        context = {
            **self.base_context,
            "flow_run_id": run_id,
            "scheduled_start_time": event.start_time,
        }
        try:
            state = run_once(
                self.flow,
                {**event.parameter_defaults, **self.explicit},
                context=context,
                **self.run_options,
            )
        except Exception as exc:  # the run could not start (e.g. no Dask scheduler)
            state = Failed(
                f"The scheduled run for {event.start_time} could not start: "
                f"{type(exc).__name__}: {exc}",
                exception=exc,
            )
        logger.log(
            logging.INFO if state.is_successful() else logging.WARNING,
            "Scheduled run %d (%s) for %s finished: %s: %s",
            number,
            run_id[:8],
            event.start_time,
            type(state).__name__,
            state.message,
            extra=extra,
        )
        scheduled = ScheduledRun(event, state, run_id)
        self.runs.append(scheduled)
        if isinstance(state, Cancelled):  # Ctrl-C during the run: stop the schedule as well
            self.cancelled = True
            self.stop.set()
        if self.on_run is not None:
            self.on_run(scheduled)
