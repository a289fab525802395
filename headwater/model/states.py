"""States: what happened to a task run or a flow run.

Design note
-----------
Every task run ends in a State; the tree below is the whole vocabulary (README.md lists it,
docs/notices/0002-skip-as-finished.md says why Skipped sits under Finished)::

    State
    ├── Pending ── Scheduled ── Retrying
    │           │            └─ Resume
    │           └─ Paused
    ├── Running ── Looped
    └── Finished
        ├── Success ── Cached, Mapped
        ├── Failed ── TimedOut, TriggerFailed, ValidationFailed, Crashed
        ├── Skipped          (PIN-15: finished, neither success nor failure)
        └── Cancelled

Invariants:
- States are immutable (assigning an attribute raises) and picklable; use :meth:`State.with_`
  to derive a changed copy.
- ``state.result`` is the value; the State keeps the Result object in ``state.result_object``.
- Equality and hashing agree: two states are equal when they have the same class, message,
  result value and map index; the hash uses the class and message only, so equal states
  always hash alike and states holding unhashable values (lists) still hash.
- A Skipped state says why it skipped in ``reason`` (one of :data:`SKIP_REASONS`); its result
  is None unless the task gave one with ``SKIP(result=...)``, never the signal object.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from headwater.results.base import MemoryResult, Result

SKIP_REASONS = ("condition", "upstream", "trigger", "task")
"""Why a task skipped: a condition was not met, an upstream task skipped, its trigger was not
met, or the task itself raised SKIP."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Where and when a task run happened: what a timeline of the run is drawn from.

    Args:
        start: when the task's function was first called (None if it never ran).
        end: when the run reached its final state.
        host: the machine's name.
        worker: the Dask worker's address, or ``pid:<process id>`` outside Dask.
        thread: the name of the thread the run happened in.
    """

    start: _dt.datetime | None
    end: _dt.datetime
    host: str
    worker: str
    thread: str

    @property
    def duration(self) -> float:
        """Seconds from start to end (0 when the function never ran)."""
        return (self.end - self.start).total_seconds() if self.start is not None else 0.0


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class State:
    """The base of every state.

    Args:
        message: what happened, for people.
        result: the value (or a Result object holding it).
        timestamp: when the state was entered; now (UTC) by default.
        run_count: how many times the task has run, retries included.
        map_index: the index of a mapped child, None otherwise.
        exception: the exception behind a failure or retry, if any.
        traceback: the formatted traceback of ``exception``.
        run_info: where and when a task run happened (set on its final state).
    """

    color: ClassVar[str] = "#999999"
    _fields: ClassVar[tuple[str, ...]] = (
        "message",
        "result_object",
        "timestamp",
        "run_count",
        "map_index",
        "exception",
        "traceback",
        "run_info",
    )

    message: str | None
    result_object: Result
    timestamp: _dt.datetime
    run_count: int
    map_index: int | None
    exception: BaseException | None
    traceback: str | None
    run_info: RunInfo | None

    def __init__(
        self,
        message: str | None = None,
        result: Any = None,
        *,
        timestamp: _dt.datetime | None = None,
        run_count: int = 0,
        map_index: int | None = None,
        exception: BaseException | None = None,
        traceback: str | None = None,
        run_info: RunInfo | None = None,
    ) -> None:
        setter = object.__setattr__
        setter(self, "message", message)
        setter(
            self, "result_object", result if isinstance(result, Result) else MemoryResult(result)
        )
        setter(self, "timestamp", timestamp or _now())
        setter(self, "run_count", run_count)
        setter(self, "map_index", map_index)
        setter(self, "exception", exception)
        setter(self, "traceback", traceback)
        setter(self, "run_info", run_info)

    # -- immutability, copying, pickling -------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__} is immutable; use state.with_({name}=...) for a changed copy"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _init_kwargs(self) -> dict[str, Any]:
        kwargs = {name: getattr(self, name) for name in self._fields}
        kwargs["result"] = kwargs.pop("result_object")
        return kwargs

    def with_(self, **changes: Any) -> State:
        """Return a copy of this state with some fields changed.

        >>> Success("done", result=1).with_(map_index=3).map_index
        3
        """
        kwargs = self._init_kwargs()
        kwargs.update(changes)
        return type(self)(**kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_state, (type(self), self._init_kwargs()))

    # -- value semantics -----------------------------------------------------------------
    @property
    def result(self) -> Any:
        """The value this state holds."""
        return self.result_object.value

    def _eq_key(self) -> tuple[Any, ...]:
        return (type(self), self.message, self.map_index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State) or self._eq_key() != other._eq_key():
            return False
        try:
            return bool(self.result == other.result)
        except Exception:  # values whose == is not a bool (arrays) compare by identity
            return self.result is other.result

    def __hash__(self) -> int:
        return hash((type(self), self.message))

    def __repr__(self) -> str:
        index = f"[{self.map_index}]" if self.map_index is not None else ""
        message = f": {self.message!r}" if self.message else ""
        return f"<{type(self).__name__}{index}{message}>"

    def _repr_html_(self) -> str:
        from headwater.viz.html import state_html

        return state_html(self)

    # -- predicates ----------------------------------------------------------------------
    def is_pending(self) -> bool:
        """Whether the run has not started (Pending, Scheduled, Retrying, Paused, Resume)."""
        return isinstance(self, Pending)

    def is_scheduled(self) -> bool:
        """Whether the run is scheduled to start at a given time (Retrying included)."""
        return isinstance(self, Scheduled)

    def is_retrying(self) -> bool:
        """Whether the run failed and waits to be tried again."""
        return isinstance(self, Retrying)

    def is_paused(self) -> bool:
        """Whether the run waits to be resumed."""
        return isinstance(self, Paused)

    def is_resume(self) -> bool:
        """Whether the run is being resumed after a pause."""
        return isinstance(self, Resume)

    def is_running(self) -> bool:
        """Whether the run is in progress (Looped included)."""
        return isinstance(self, Running)

    def is_looped(self) -> bool:
        """Whether the run is between two iterations of a LOOP."""
        return isinstance(self, Looped)

    def is_finished(self) -> bool:
        """Whether the run is over: Success, Failed, Skipped or Cancelled."""
        return isinstance(self, Finished)

    def is_successful(self) -> bool:
        """Whether the run succeeded (Cached and Mapped included; Skipped is not a success)."""
        return isinstance(self, Success)

    def is_cached(self) -> bool:
        """Whether the result came from a cache or an existing target."""
        return isinstance(self, Cached)

    def is_mapped(self) -> bool:
        """Whether the task ran as a map of child runs."""
        return isinstance(self, Mapped)

    def is_failed(self) -> bool:
        """Whether the run failed (every Failed subclass, TriggerFailed included)."""
        return isinstance(self, Failed)

    def is_timed_out(self) -> bool:
        """Whether the run exceeded its timeout."""
        return isinstance(self, TimedOut)

    def is_trigger_failed(self) -> bool:
        """Whether the task did not run because upstream failures broke its trigger."""
        return isinstance(self, TriggerFailed)

    def is_crashed(self) -> bool:
        """Whether the run was lost with its worker or process."""
        return isinstance(self, Crashed)

    def is_skipped(self) -> bool:
        """Whether the task skipped (PIN-15: finished, neither success nor failure)."""
        return isinstance(self, Skipped)

    def is_cancelled(self) -> bool:
        """Whether the run was cancelled."""
        return isinstance(self, Cancelled)


def _rebuild_state(cls: type[State], kwargs: dict[str, Any]) -> State:
    return cls(**kwargs)


# -- not started ---------------------------------------------------------------------------
class Pending(State):
    """The run has not started."""

    color = "#d3d3d3"


class Paused(Pending):
    """The run waits to be resumed with ``flow.run(task_states={task: Resume()})``."""

    color = "#c0c0c0"


class Scheduled(Pending):
    """The run is to start at ``start_time`` (None: as soon as possible).

    Args:
        message: what happened, for people.
        result: the value (or a Result object holding it).
        start_time: when the run may start.
        **kwargs: the fields of :class:`State`.
    """

    color = "#ffab00"
    _fields = State._fields + ("start_time",)
    start_time: _dt.datetime | None

    def __init__(
        self,
        message: str | None = None,
        result: Any = None,
        *,
        start_time: _dt.datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, result, **kwargs)
        object.__setattr__(self, "start_time", start_time)


class Retrying(Scheduled):
    """The run failed and will be tried again at ``start_time``."""

    color = "#ffeb3b"


class Resume(Scheduled):
    """Resume a Paused task: its trigger is not checked again and ``context["resume"]`` is
    True inside it."""

    color = "#ffab00"


# -- running -------------------------------------------------------------------------------
class Running(State):
    """The task's function is being called."""

    color = "#00bcd4"


class Looped(Running):
    """The task raised LOOP and runs again with ``loop_count`` and its loop result.

    Args:
        message: what happened, for people.
        result: the value (or a Result object holding it).
        loop_count: how many iterations have finished.
        **kwargs: the fields of :class:`State`.
    """

    color = "#8e24aa"
    _fields = State._fields + ("loop_count",)
    loop_count: int

    def __init__(
        self, message: str | None = None, result: Any = None, *, loop_count: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(message, result, **kwargs)
        object.__setattr__(self, "loop_count", loop_count)


# -- finished ------------------------------------------------------------------------------
class Finished(State):
    """The run is over."""

    color = "#607d8b"


class Success(Finished):
    """The run succeeded; ``result`` is its value."""

    color = "#2e7d32"


class Cached(Success):
    """The result was read back from a cache or an existing target instead of running.

    Args:
        message: what happened, for people.
        result: the value (or a Result object holding it).
        cached_inputs: the inputs the cached result was computed from, if known.
        cached_parameters: the flow parameters it was computed with, if known.
        cached_result_expiration: when the cached result stops being valid.
        **kwargs: the fields of :class:`State`.
    """

    color = "#43a047"
    _fields = State._fields + ("cached_inputs", "cached_parameters", "cached_result_expiration")
    cached_inputs: dict[str, Any] | None
    cached_parameters: dict[str, Any] | None
    cached_result_expiration: _dt.datetime | None

    def __init__(
        self,
        message: str | None = None,
        result: Any = None,
        *,
        cached_inputs: dict[str, Any] | None = None,
        cached_parameters: dict[str, Any] | None = None,
        cached_result_expiration: _dt.datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, result, **kwargs)
        object.__setattr__(self, "cached_inputs", cached_inputs)
        object.__setattr__(self, "cached_parameters", cached_parameters)
        object.__setattr__(self, "cached_result_expiration", cached_result_expiration)


class Mapped(Success):
    """The task ran as a map; ``map_states`` holds one State per child, in index order.

    ``result`` is the list of the children's results. For a batched map (a large one, see
    docs/notices/0010-batched-maps.md) ``map_states`` is a compact read-only sequence that
    builds a child's State only when it is read; :meth:`counts`, :meth:`failed_indices`,
    :meth:`failures` and ``result`` never build them, and :meth:`children` builds only the
    ones asked for.

    Args:
        message: what happened, for people.
        result: the value (or a Result object holding it).
        map_states: the children's states (a sequence; a compact one is kept as it is).
        **kwargs: the fields of :class:`State`.
    """

    color = "#1b5e20"
    _fields = State._fields + ("map_states",)
    map_states: Sequence[State]

    def __init__(
        self,
        message: str | None = None,
        result: Any = None,
        *,
        map_states: Sequence[State] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, result, **kwargs)
        if not getattr(map_states, "lazy_children", False):
            map_states = tuple(map_states)
        object.__setattr__(self, "map_states", map_states)

    @property
    def result(self) -> list[Any]:
        """The children's results, in index order."""
        fast = getattr(self.map_states, "results", None)
        if fast is not None:
            return list(fast())
        return [s.result for s in self.map_states]

    def _eq_key(self) -> tuple[Any, ...]:
        return (*super()._eq_key(), self.map_states)

    def counts(self) -> dict[str, int]:
        """Count the children by the name of their state's class.

        >>> Mapped(map_states=[Success(), Failed(), Success()]).counts()
        {'Success': 2, 'Failed': 1}
        """
        fast = getattr(self.map_states, "counts", None)
        if fast is not None:
            return dict(fast())
        return dict(Counter(type(s).__name__ for s in self.map_states))

    def _exceptional(self) -> Iterator[tuple[int, State]]:
        """(index, state) of the children that may not be plain successes."""
        fast = getattr(self.map_states, "exceptional", None)
        if fast is not None:
            for s in fast():
                yield (s.map_index if s.map_index is not None else -1), s
            return
        yield from enumerate(self.map_states)

    def failed_indices(self) -> list[int]:
        """The map indices of the children that failed (every Failed subclass).

        >>> Mapped(map_states=[Success(), Failed(), Success()]).failed_indices()
        [1]
        """
        return [i for i, s in self._exceptional() if s.is_failed()]

    def failures(self, limit: int | None = 10) -> dict[int, str | None]:
        """Map index -> message of the first ``limit`` failed children (all with None).

        >>> Mapped(map_states=[Failed("boom")]).failures()
        {0: 'boom'}
        """
        out: dict[int, str | None] = {}
        for i, s in self._exceptional():
            if limit is not None and len(out) >= limit:
                break
            if s.is_failed():
                out[i] = s.message
        return out

    def children(self, indices: Iterable[int] | None = None) -> list[State]:
        """The States of the children at ``indices`` (all of them when None), built on
        demand for a batched map.

        >>> [s.result for s in Mapped(map_states=[Success(result=5), Success(result=6)]).children([1])]
        [6]
        """
        if indices is None:
            return list(self.map_states)
        return [self.map_states[i] for i in indices]


class Failed(Finished):
    """The run failed; ``exception`` and ``traceback`` say why when an exception did."""

    color = "#c62828"


class TimedOut(Failed):
    """The run took longer than the task's ``timeout``."""

    color = "#e65100"


class TriggerFailed(Failed):
    """The task did not run: its trigger was not met because upstream tasks failed."""

    color = "#b71c1c"


class ValidationFailed(Failed):
    """The task's result did not pass validation."""

    color = "#d84315"


class Crashed(Failed):
    """The run was lost with its worker or process."""

    color = "#4a148c"


class Skipped(Finished):
    """The task did not run, and that is not a failure (PIN-15).

    Args:
        message: what happened, for people.
        result: the value (or a Result object holding it).
        reason: why: one of ``"condition"``, ``"upstream"``, ``"trigger"``, ``"task"``.
        **kwargs: the fields of :class:`State`.
    """

    color = "#78909c"
    _fields = State._fields + ("reason",)
    reason: str

    def __init__(
        self, message: str | None = None, result: Any = None, *, reason: str = "task", **kwargs: Any
    ) -> None:
        if reason not in SKIP_REASONS:
            raise ValueError(f"Skipped reason must be one of {SKIP_REASONS}, got {reason!r}")
        super().__init__(message, result, **kwargs)
        object.__setattr__(self, "reason", reason)

    def _eq_key(self) -> tuple[Any, ...]:
        return (*super()._eq_key(), self.reason)


class Cancelled(Finished):
    """The run was cancelled before it finished."""

    color = "#616161"


ALL_STATES: tuple[type[State], ...] = (
    State,
    Pending,
    Paused,
    Scheduled,
    Retrying,
    Resume,
    Running,
    Looped,
    Finished,
    Success,
    Cached,
    Mapped,
    Failed,
    TimedOut,
    TriggerFailed,
    ValidationFailed,
    Crashed,
    Skipped,
    Cancelled,
)
"""Every state class, base first."""


__all__ = [
    "ALL_STATES",
    "RunInfo",
    "SKIP_REASONS",
    "Cached",
    "Cancelled",
    "Crashed",
    "Failed",
    "Finished",
    "Looped",
    "Mapped",
    "Paused",
    "Pending",
    "Resume",
    "Retrying",
    "Running",
    "Scheduled",
    "Skipped",
    "State",
    "Success",
    "TimedOut",
    "TriggerFailed",
    "ValidationFailed",
]
