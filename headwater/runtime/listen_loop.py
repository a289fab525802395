"""The listening loop: offers from listeners' threads, run slots, runs on threads of their
own, the record of events that ran, and stopping.

Design note
-----------
What the loop promises is set out in :mod:`headwater.runtime.listening` (its entry point)
and docs/notices/0014-listeners.md. How:

- A listener's ``sink.put`` (:meth:`ListenLoop.offer`, on the listener's thread) resolves the
  event's parameters, claims its key (``active``), puts an :class:`_Offer` into ``inbox`` (a
  queue of ``max_concurrent_runs`` places) and waits until the loop takes it, the timeout
  passes, or the loop stops; then it withdraws the offer, under ``lock``, unless taken.
- The loop's thread (:meth:`ListenLoop.run`) takes an offer only when a slot is free. Taking is
  ``waiting -> taken`` under ``lock``, after the ``started`` line is on disk; a withdrawn offer
  is skipped. Each run's thread hands its State back through ``done``; the loop's thread
  records it (the ``finished`` line, then the key leaves ``active``) and calls ``on_run``.
- Signals only set flags (``signals``, ``stop``); the loop's thread waits on queues with short
  timeouts and notices them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from headwater.errors import ListenerError, ParameterError
from headwater.listeners.base import Admission, Event, Listener
from headwater.runtime.scheduled import ScheduledRun, ScheduledRuns
from headwater.runtime.seen import SeenEvents

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.schedules.clocks import ScheduleEvent
    from headwater.schedules.schedule import Schedule

__all__ = ["ListenLoop"]

logger = logging.getLogger("headwater.listeners")

_Ident = tuple[str | None, str]
"""An event's identity: its listener's source and its key."""


class _Offer:
    """An event offered by a listener, waiting for a run slot (then its run)."""

    def __init__(self, event: Event, store: SeenEvents | None, ident: _Ident | None) -> None:
        self.event = event
        self.store = store
        self.ident = ident
        self.run_id = str(uuid.uuid4())
        self.state = "waiting"  # -> "taken" (a run starts) or "withdrawn" (it never runs)
        self.taken = threading.Event()


class _Sink:
    """The EventSink one listener puts into."""

    def __init__(self, loop: ListenLoop, store: SeenEvents | None) -> None:
        self.loop = loop
        self.store = store

    def put(self, event: Event, *, timeout: float | None = None) -> Admission:
        return self.loop.offer(event, self.store, timeout)


class ListenLoop:
    """One listening loop (see :mod:`headwater.runtime.listening`): :meth:`run` runs it in the
    caller's thread; :meth:`offer` is called from the listeners' threads.

    Args:
        flow: the flow to run.
        explicit: the parameter values given to ``run()``.
        run_options: the other options of each run (``context``, ``progress``, ...).
        stop: set to stop the loop.
        max_runs: stop after this many runs have started (None: no limit).
        max_concurrent_runs: how many runs at once.
        executor: makes the executor of each run (None: each run makes a LocalExecutor).
        on_run: called with each finished run, in the loop's thread.
    """

    def __init__(
        self,
        flow: Flow,
        explicit: dict[str, Any],
        run_options: dict[str, Any],
        stop: threading.Event,
        *,
        max_runs: int | None = None,
        max_concurrent_runs: int = 1,
        executor: Callable[[], Any] | None = None,
        on_run: Callable[[ScheduledRun], Any] | None = None,
    ) -> None:
        self.flow = flow
        self.explicit = explicit
        self.base_context = dict(run_options.pop("context", None) or {})
        if run_options.get("progress") is None:
            run_options["progress"] = False  # several runs' bars would garble one terminal
        self.run_options = run_options
        self.stop = stop
        self.max_runs = max_runs
        self.max_concurrent_runs = max_concurrent_runs
        self.on_run = on_run
        self.executor = executor or (lambda: None)
        # at most one waiting offer per slot: listeners wait in sink.put, not in a backlog
        self.inbox: queue.Queue[_Offer] = queue.Queue(maxsize=max_concurrent_runs)
        self.done: queue.Queue[tuple[_Offer, State, bool, int]] = queue.Queue()
        self.lock = threading.Lock()
        self.active: set[_Ident] = set()  # offered or running
        self.memory: set[_Ident] = set()  # ran, for events of listeners without a source
        self.in_flight: dict[str, _Offer] = {}
        self.runs: list[ScheduledRun] = []
        self.started = 0
        self.signals = 0
        self.crash: tuple[str, BaseException] | None = None

    # -- the listeners' side ---------------------------------------------------------------
    def values_for(self, event: Event) -> dict[str, Any]:
        """The parameters given to the run of ``event``."""
        return {**self.explicit, **event.parameters}

    def offer(self, event: Event, store: SeenEvents | None, timeout: float | None) -> Admission:
        """Offer ``event``; wait until a run slot takes it (see EventSink.put)."""
        from headwater.model.parameter import resolve_parameters

        if not isinstance(event, Event):
            raise TypeError(f"sink.put() takes a headwater.listeners.Event, got {event!r}")
        if self.stop.is_set():
            return Admission("stopped", "the listener is stopping; the event was not run")
        ident = (store.source if store else None, event.key) if event.key is not None else None
        duplicate = Admission("duplicate", f"the event {event.key!r} already ran or is running")
        if ident is not None and self._known(ident, store):
            return duplicate
        try:
            resolve_parameters(self.flow.name, self.flow.parameters(), self.values_for(event))
        except ParameterError as exc:
            logger.warning("Skipping the event %s: %s", event.label or event.key or "", exc)
            return Admission("refused", str(exc))
        with self.lock:
            if ident is not None:
                if self._known(ident, store):
                    return duplicate
                self.active.add(ident)
        item = _Offer(event, store, ident)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._expired(deadline):
            try:
                self.inbox.put(item, timeout=0.05)
                break
            except queue.Full:
                continue
        while not item.taken.wait(0.05) and not self._expired(deadline):
            pass
        return self._outcome(item, timeout)

    def _known(self, ident: _Ident, store: SeenEvents | None) -> bool:
        return (
            ident in self.active
            or ident in self.memory
            or (store is not None and ident[1] in store)
        )

    def _expired(self, deadline: float | None) -> bool:
        return self.stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    def _outcome(self, item: _Offer, timeout: float | None) -> Admission:
        with self.lock:
            if item.state == "waiting":
                item.state = "withdrawn"
                if item.ident is not None:
                    self.active.discard(item.ident)
        if item.state == "taken":
            return Admission("accepted", f"run {item.run_id} started", item.run_id)
        if self.stop.is_set():
            return Admission("stopped", "the listener is stopping; the event was not run")
        return Admission(
            "busy",
            f"no run slot was free within {timeout:g}s (max_concurrent_runs="
            f"{self.max_concurrent_runs}); try again later",
        )

    # -- the loop's side ------------------------------------------------------------------------
    def run(self, listeners: tuple[Listener, ...], clocks: Schedule | None) -> ScheduledRuns:
        """Listen until stopped (see the module's note); return every run."""
        stores = self._open(listeners)
        threads: list[threading.Thread] = []
        try:
            for listener in listeners:
                sink = _Sink(self, stores.get(listener.source or ""))
                threads.append(
                    self._spawn(repr(listener), partial(listener.listen, sink, self.stop))
                )
            if clocks is not None:
                threads.append(
                    self._spawn("the schedule's clocks", lambda: self._clock_events(clocks))
                )
            logger.info(
                "Flow %r listening to %s (%d run%s at a time).",
                self.flow.name,
                ", ".join(repr(x) for x in listeners),
                self.max_concurrent_runs,
                "" if self.max_concurrent_runs == 1 else "s",
            )
            with self._signals():
                self._serve(threads)
                self._drain()
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=5)
            for listener in listeners:
                _close(listener)
            for store in stores.values():
                store.close()
        if self.crash is not None:
            where, exc = self.crash
            raise ListenerError(
                f"{where} failed, so flow {self.flow.name!r} stopped listening: {type(exc).__name__}: {exc}"
            ) from exc
        return ScheduledRuns(tuple(self.runs), interrupted=self.signals > 0)

    def _open(self, listeners: tuple[Listener, ...]) -> dict[str, SeenEvents]:
        """Open every listener, then the record of each source; undo it all on a failure."""
        opened: list[Listener] = []
        stores: dict[str, SeenEvents] = {}
        try:
            for listener in listeners:
                listener.open()
                opened.append(listener)
            for listener in listeners:
                source = listener.source
                if source is not None and source not in stores:
                    stores[source] = SeenEvents.open(self.flow.name, source)
        except BaseException:
            for listener in opened:
                _close(listener)
            for store in stores.values():
                store.close()
            raise
        return stores

    def _spawn(self, name: str, body: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                body()
            except Exception as exc:
                logger.error("%s failed: %s: %s", name, type(exc).__name__, exc, exc_info=True)
                self.crash = (name, exc)
                self.stop.set()

        thread = threading.Thread(target=guarded, daemon=True, name="headwater-listener")
        thread.start()
        return thread

    def _clock_events(self, schedule: Schedule) -> None:
        """Offer each event of the schedule's clocks when it comes due."""
        from headwater.schedules.runner import run_on_schedule

        sink = _Sink(self, None)

        def offer(event: ScheduleEvent) -> None:
            defaults = {k: v for k, v in event.parameter_defaults.items() if k not in self.explicit}
            when = event.start_time.isoformat(sep=" ", timespec="seconds")
            sink.put(Event(defaults, label=f"scheduled for {when}", time=event.start_time))

        run_on_schedule(schedule, offer, stop=self.stop, max_sleep=0.25)

    def _serve(self, producers: list[threading.Thread]) -> None:
        """Take offers while slots are free, until stopped, max_runs, or nothing is left."""
        while not self.stop.is_set():
            self._collect(None)
            if self.max_runs is not None and self.started >= self.max_runs:
                logger.info(
                    "Flow %r: %d runs started (max_runs); stopping.", self.flow.name, self.started
                )
                return
            if len(self.in_flight) >= self.max_concurrent_runs:
                self._collect(0.1)
                continue
            try:
                item = self.inbox.get(timeout=0.1)
            except queue.Empty:
                if (
                    not self.in_flight
                    and not any(t.is_alive() for t in producers)
                    and self.inbox.empty()
                ):
                    logger.info("Flow %r: every listener has ended.", self.flow.name)
                    return
                continue
            self._start(item)

    def _drain(self) -> None:
        """Stop taking events; wait for the runs in flight (unless a second signal came)."""
        self.stop.set()
        if self.in_flight:
            logger.info(
                "Flow %r: stopping; waiting for %d run%s in flight (a second Ctrl-C stops waiting).",
                self.flow.name,
                len(self.in_flight),
                "" if len(self.in_flight) == 1 else "s",
            )
        while self.in_flight and self.signals < 2:
            self._collect(0.1)
        if self.in_flight:
            logger.warning(
                "Flow %r stopped without waiting for runs %s; their events run again after a restart.",
                self.flow.name,
                ", ".join(run_id[:8] for run_id in self.in_flight),
            )

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """In the main thread, SIGINT and SIGTERM stop the loop (see the module's note)."""
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: Any) -> None:
                self.signals += 1
                self.stop.set()

            for number in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, OSError):
                    previous[number] = signal.signal(number, on_signal)
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)

    def _start(self, item: _Offer) -> None:
        """Start the run of an offer a listener still waits on."""
        with self.lock:
            if item.state != "waiting":
                return  # withdrawn: its listener stopped waiting
            if item.store is not None and item.event.key is not None:
                try:
                    item.store.started(item.event.key, item.run_id)
                except OSError as exc:
                    item.state = "withdrawn"
                    if item.ident is not None:
                        self.active.discard(item.ident)
                    self.crash = (f"the record in {item.store.path}", exc)
                    self.stop.set()
                    return
            item.state = "taken"
            item.taken.set()
        self.started += 1
        self.in_flight[item.run_id] = item
        thread = threading.Thread(
            target=self._run_one, args=(item, self.started), daemon=True, name="headwater-run"
        )
        thread.start()

    def _run_one(self, item: _Offer, number: int) -> None:
        """The body of one run's thread: run the flow, hand the State to the loop."""
        from headwater.model.states import Failed
        from headwater.runtime.journal import record_safely
        from headwater.runtime.run import run_once

        event = item.event
        what = event.label or "an event"
        extra = {"flow_name": self.flow.name, "flow_run_id": item.run_id}
        logger.info("Run %d (%s) for %s starting.", number, item.run_id[:8], what, extra=extra)
        context = {
            **self.base_context,
            "flow_run_id": item.run_id,
            "scheduled_start_time": event.time,
        }
        values = self.values_for(event)
        ran = True
        try:
            state = run_once(
                self.flow, values, context=context, executor=self.executor(), **self.run_options
            )
        except Exception as exc:  # the run could not start (e.g. no Dask scheduler)
            ran = False
            state = Failed(
                f"The run for {what} could not start: {type(exc).__name__}: {exc}", exception=exc
            )
            record_safely(self.flow, state, values, run_id=item.run_id)
        self.done.put((item, state, ran, number))

    def _collect(self, timeout: float | None) -> None:
        """Record every finished run (waiting up to ``timeout`` seconds for the first)."""
        while True:
            try:
                item, state, ran, number = (
                    self.done.get(timeout=timeout) if timeout else self.done.get_nowait()
                )
            except queue.Empty:
                return
            timeout = None
            self._finish(item, state, ran, number)

    def _finish(self, item: _Offer, state: State, ran: bool, number: int) -> None:
        key = item.event.key
        if key is not None and item.ident is not None:
            if not ran:
                logger.warning(
                    "The event %s is not remembered (its run could not start); it runs again after a restart.",
                    key,
                )
            elif item.store is not None:
                try:
                    item.store.finished_run(key, item.run_id, type(state).__name__)
                except OSError as exc:
                    logger.error("Cannot record that %s ran in %s: %s", key, item.store.path, exc)
            else:
                self.memory.add(item.ident)
            with self.lock:
                self.active.discard(item.ident)
        del self.in_flight[item.run_id]
        logger.log(
            logging.INFO if state.is_successful() else logging.WARNING,
            "Run %d (%s) for %s finished: %s: %s",
            number,
            item.run_id[:8],
            item.event.label or "an event",
            type(state).__name__,
            state.message,
            extra={"flow_name": self.flow.name, "flow_run_id": item.run_id},
        )
        run = ScheduledRun(item.event, state, item.run_id)
        self.runs.append(run)
        if self.on_run is not None:
            self.on_run(run)


def _close(listener: Listener) -> None:
    try:
        listener.close()
    except Exception as exc:
        logger.warning("Closing %r failed: %s: %s", listener, type(exc).__name__, exc)
