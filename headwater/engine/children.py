"""Compact storage for the states of a mapped task's children.

Design note
-----------
A map of a million children must not cost a million State objects on the driver
(docs/notices/0010-batched-maps.md). A batch node of the compiled graph runs a contiguous run
of children and returns their states as one :class:`StateBatch`, which stores the common
case — a plain success (class ``Success``, the runner's message, a value in memory, one run,
finished in the batch's thread) — as columns: the values in one list and three integer
timestamps (POSIX times) in one array. Every other state (a failure, a skip,
a retried success, a checkpointed result...) is kept whole, keyed by its position. Counts by
state class are computed once, when the batch is made.

:class:`ChildStates` is a read-only sequence over the batches of one map. It is what
``Mapped.map_states`` holds for a batched map: its length, counts, failed indices and results
need no State objects; indexing or iterating builds the State of a plain child on demand,
equal to the one the runner made (same class, message, value, map index, run count, times).

Invariants: a batch's children are ``start .. start + n - 1``; a ChildStates' batches are
consecutive and start at 0. Both are immutable and pickle compactly (their columns).
"""

from __future__ import annotations

import bisect
import datetime as _dt
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from headwater.model.states import RunInfo, State, Success
from headwater.results.base import MemoryResult

PLAIN_MESSAGE = "Task run succeeded."
"""The message of a successful task run (what the runner's Success says)."""

_UTC = _dt.UTC


def _when(seconds: float) -> _dt.datetime:
    # a POSIX time as a double is exact to the microsecond for centuries to come
    return _dt.datetime.fromtimestamp(seconds, _UTC)


class StateBatch:
    """The final states of children ``start .. start + len - 1`` of a mapped task, compact.

    Make one with :meth:`of`; read it as a sequence of States (built on demand).

    Args:
        start: the map index of the first child.
        n: how many children.
        results: the values of the plain children (None where a child is kept whole), or
            None when the values were dropped (:meth:`without_results`).
        others: position -> State for the children that are not plain successes.
        times: for each position, three POSIX times: timestamp, start and end; unused for
            the positions in ``others``.
        where: host, worker and thread shared by the plain children.
        kinds: state class -> number of children.
    """

    __slots__ = ("start", "n", "results", "others", "times", "where", "kinds")

    def __init__(
        self,
        start: int,
        n: int,
        results: list[Any] | None,
        others: dict[int, State],
        times: array,
        where: tuple[str, str, str],
        kinds: dict[type, int],
    ) -> None:
        self.start = start
        self.n = n
        self.results = results
        self.others = others
        self.times = times
        self.where = where
        self.kinds = kinds

    @classmethod
    def of(cls, start: int, states: Sequence[State]) -> StateBatch:
        """Store ``states`` (children ``start``, ``start + 1``, ...) compactly.

        >>> b = StateBatch.of(10, [Success("x", 1, map_index=10)])
        >>> len(b), b[0].map_index, b.counts()
        (1, 10, {'Success': 1})
        """
        columns = Columns(start)
        for s in states:
            columns.add(s)
        return columns.batch()

    @staticmethod
    def made(
        start: int,
        n: int,
        results: list[Any] | None,
        others: dict[int, State],
        times: array,
        where: tuple[str, str, str],
        kinds: dict[type, int],
    ) -> StateBatch:
        """A batch from its columns (the arguments of :class:`StateBatch`): a
        :class:`SucceededBatch` when every child succeeded, so that the type of the value
        says so (what the driver learns of a finished key on dask.distributed)."""
        cls = SucceededBatch if all(issubclass(k, Success) for k in kinds) else StateBatch
        return cls(start, n, results, others, times, where, kinds)

    # -- the sequence --------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def __getitem__(self, pos: int) -> State:
        """The State of the child at position ``pos`` (map index ``start + pos``)."""
        if pos < 0:
            pos += self.n
        if not 0 <= pos < self.n:
            raise IndexError(f"position {pos} is outside a batch of {self.n} children")
        other = self.others.get(pos)
        if other is not None:
            return other
        j = 3 * pos
        t = self.times
        host, worker, thread = self.where
        value = self.results[pos] if self.results is not None else None
        return Success(
            PLAIN_MESSAGE,
            value,
            timestamp=_when(t[j]),
            run_count=1,
            map_index=self.start + pos,
            run_info=RunInfo(_when(t[j + 1]), _when(t[j + 2]), host, worker, thread),
        )

    def __iter__(self) -> Iterator[State]:
        return (self[pos] for pos in range(self.n))

    def values(self) -> list[Any]:
        """The children's results, without building their States."""
        if self.results is None:
            return [None] * self.n
        if not self.others:
            return list(self.results)
        out = list(self.results)
        for pos, s in self.others.items():
            out[pos] = s.result
        return out

    def without_results(self) -> StateBatch:
        """The same states without their values (what the driver needs of a task it does
        not return)."""
        others = {pos: s.with_(result=None) for pos, s in self.others.items()}
        return type(self)(self.start, self.n, None, others, self.times, self.where, self.kinds)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.start, self.n, self.results, self.others, self.times, self.where, self.kinds),
        )

    def __repr__(self) -> str:
        return f"<StateBatch [{self.start}:{self.start + self.n}] {self.counts()}>"

    def counts(self) -> dict[str, int]:
        """Children by the name of their state's class."""
        return {k.__name__: n for k, n in self.kinds.items()}

    def classes(self) -> dict[type, int]:
        """Children by their state's class."""
        return dict(self.kinds)


class Columns:
    """A StateBatch being made, child by child: a plain success goes into the columns, any
    other state is kept whole (see the module's note).

    The engine's fast path appends a plain child's value to :attr:`results` and its three
    times to :attr:`times` itself (no State is made for it); :meth:`add` and :meth:`put`
    take a child's State.

    Args:
        start: the map index of the first child.
        where: host, worker and thread of the children run here (None: taken from the
            first plain State added).
    """

    __slots__ = ("start", "results", "others", "times", "where")

    def __init__(self, start: int, where: tuple[str, str, str] | None = None) -> None:
        self.start = start
        self.results: list[Any] = []
        self.others: dict[int, State] = {}
        self.times = array("d")
        self.where = where

    def add(self, state: State) -> None:
        """Append the next child's state."""
        self.results.append(None)
        self.times.extend(_NO_TIMES)
        self.put(len(self.results) - 1, state)

    def put(self, pos: int, state: State) -> None:
        """Set the state of the child at position ``pos`` (added already)."""
        info = state.run_info
        if (
            type(state) is Success
            and state.message == PLAIN_MESSAGE
            and state.run_count == 1
            and state.map_index == self.start + pos
            and state.exception is None
            and state.traceback is None
            and type(state.result_object) is MemoryResult
            and info is not None
            and info.start is not None
            and info.end is not None
        ):
            here = (info.host, info.worker, info.thread)
            if self.where is None:
                self.where = here
            if here == self.where:
                self.others.pop(pos, None)
                self.results[pos] = state.result
                j = 3 * pos
                self.times[j : j + 3] = array(
                    "d", (state.timestamp.timestamp(), info.start.timestamp(), info.end.timestamp())
                )
                return
        self.results[pos] = None
        self.others[pos] = state

    def batch(self) -> StateBatch:
        """The batch of the children added so far."""
        n = len(self.results)
        order = sorted(self.others)
        plain = n - len(order)
        first_plain = 0  # the classes are counted in the order they first appear
        for pos in order:
            if pos != first_plain:
                break
            first_plain += 1
        kinds: dict[type, int] = {}
        for pos in order:
            if plain and first_plain < pos and Success not in kinds:
                kinds[Success] = 0
            kind = type(self.others[pos])
            kinds[kind] = kinds.get(kind, 0) + 1
        if plain:
            kinds[Success] = kinds.get(Success, 0) + plain
        where = self.where or ("", "", "")
        return StateBatch.made(self.start, n, self.results, self.others, self.times, where, kinds)


_NO_TIMES = (0.0, 0.0, 0.0)


class SucceededBatch(StateBatch):
    """A :class:`StateBatch` whose every child succeeded (Success or Cached): its type alone
    tells the driver so, without the value (the run journal's lines as the run goes)."""

    __slots__ = ()


class ChildStates(Sequence[State]):
    """The children's states of a batched map: a read-only sequence built on demand.

    Length, :meth:`counts`, :meth:`failed_indices` and :meth:`results` read the compact
    batches; indexing and iterating build States one by one.

    Args:
        batches: consecutive batches, the first starting at index 0.
    """

    lazy_children = True
    """Marks this sequence for :class:`~headwater.model.states.Mapped` (kept as it is)."""

    def __init__(self, batches: Iterable[StateBatch]) -> None:
        self._batches = tuple(batches)
        self._starts = [b.start for b in self._batches]
        self._n = sum(b.n for b in self._batches)

    @property
    def batches(self) -> tuple[StateBatch, ...]:
        """The compact batches, in index order."""
        return self._batches

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> State: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[State, ...]: ...
    def __getitem__(self, index: int | slice) -> State | tuple[State, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self._n)))
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(f"map index {index} is out of range ({self._n} children)")
        b = self._batches[bisect.bisect_right(self._starts, index) - 1]
        return b[index - b.start]

    def __iter__(self) -> Iterator[State]:
        for b in self._batches:
            yield from b

    def counts(self) -> dict[str, int]:
        """Children by the name of their state's class."""
        return {k.__name__: n for k, n in self.classes().items()}

    def classes(self) -> dict[type, int]:
        """Children by their state's class."""
        out: dict[type, int] = {}
        for b in self._batches:
            for k, n in b.kinds.items():
                out[k] = out.get(k, 0) + n
        return out

    def exceptional(self) -> Iterator[State]:
        """The children that are not plain successes, in index order (no others built)."""
        for b in self._batches:
            for pos in sorted(b.others):
                yield b.others[pos]

    def map_exceptional(self, fn: Callable[[State], State]) -> ChildStates:
        """These children with ``fn`` applied to the ones kept whole (the plain successes
        carry nothing but their value); ``self`` when ``fn`` changed none of them.

        Args:
            fn: takes a child's State and returns it or a changed copy.
        """
        batches: list[StateBatch] = []
        changed = False
        for b in self._batches:
            others = {pos: fn(st) for pos, st in b.others.items()}
            if any(others[pos] is not b.others[pos] for pos in others):
                changed = True
                b = type(b)(b.start, b.n, b.results, others, b.times, b.where, b.kinds)
            batches.append(b)
        return ChildStates(batches) if changed else self

    def results(self) -> list[Any]:
        """The children's results, in index order, without building their States."""
        out: list[Any] = []
        for b in self._batches:
            out.extend(b.values())
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (ChildStates, (self._batches,))

    def __repr__(self) -> str:
        return f"<ChildStates: {self._n} children {self.counts()}>"


__all__ = ["PLAIN_MESSAGE", "ChildStates", "Columns", "StateBatch", "SucceededBatch"]
