"""Resuming a run: which task runs of an earlier run are kept, read back or run again.

Design note
-----------
A resume knows, from the journal, how each task run of the earlier run ended (a
:class:`TaskStatus` per task: its own state, and its children's for a map, as codes; a task
run the journal does not know of is *unknown*). :func:`decide` sorts every task run (a task,
or one child of a map) into one of three (docs/notices/0013-resume.md):

- **keep**: it ended in a state that needs no run (Success, Cached, Skipped, Mapped), no task
  run of this resume needs its value or state, and nothing it depends on runs again (a
  Parameter or a Constant excepted: their values are the same by construction). Its state is
  given to the run as it was, without its value (a literal; nothing reads it);
- **run**: it Failed (TimedOut, TriggerFailed, ValidationFailed included), or it is
  downstream of a task run that did. It runs as in any run;
- **read**: everything else that must be a node: a task run needed by one that runs, one
  downstream of an unknown one, and the unknown ones themselves (never finished, Crashed,
  Cancelled, Paused...). It runs as in any run, except that before calling the function it
  looks for the checkpoint an earlier run wrote for it, and takes it when it is provably its
  own: bound to that run, that task, that map index and a digest of these very inputs
  (:meth:`headwater.engine.stored.StoredResults.check`). Its trigger is checked first, with
  the upstream states of this run.

The sorting is a fixpoint over the task graph (:func:`headwater.engine.identity.flow_graph`):
flags flow downstream (what depends on a run again) and upstream (what a node reads), per
child where a map is element-wise over another (child ``i`` reads child ``i``), per task
otherwise (a reduce reads every child; a map over a task's output reads all of it). A map
whose length the journal does not know (a killed run) has unknown children past the last one
it knows.

:class:`ResumePlan` hands the planner the decisions with the run's tasks: the kept states
(built on demand; a kept map's children compactly), where each task reads back from
(:class:`~headwater.engine.identity.ResumeFrom`), and which children run fresh.
"""

from __future__ import annotations

import datetime as _dt
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.engine.children import PLAIN_MESSAGE, ChildStates, StateBatch
from headwater.engine.identity import ResumeFrom, Source
from headwater.model.states import ALL_STATES, Mapped, RunInfo, Skipped, State, Success

if TYPE_CHECKING:
    from headwater.model.task import Task

UNKNOWN = 0
"""The code of a task run whose end is not known, or needs a run that may read back."""

BAD = 1
"""The code of a task run that failed: it runs again, without reading anything back."""

OK_NAMES = ("Success", "Cached", "Skipped", "Mapped")
"""States that need no run: their codes are 2, 3, 4, 5."""

BAD_NAMES = frozenset({"Failed", "TimedOut", "TriggerFailed", "ValidationFailed"})
"""Failed states that run again without reading back (Crashed, lost with a worker, may have
written its checkpoint: it reads back)."""

_OK = {name: 2 + i for i, name in enumerate(OK_NAMES)}

KEEP, READ, RUN = "keep", "read", "run"
"""The three decisions (see the module's note)."""


def code_of(name: str | None) -> int:
    """The code of a state's class name (None: unknown).

    >>> code_of("Success"), code_of("TriggerFailed"), code_of("Crashed"), code_of(None)
    (2, 1, 0, 0)
    """
    if name is None:
        return UNKNOWN
    if name in _OK:
        return _OK[name]
    return BAD if name in BAD_NAMES else UNKNOWN


def name_of(code: int) -> str | None:
    """The state name of an OK code (None for the others)."""
    return OK_NAMES[code - 2] if code >= 2 else None


@dataclass
class TaskStatus:
    """How a task's runs ended in the earlier run, as far as the journal says.

    Args:
        whole: the task's own state name (a plain task's; a map's, when it ran as one node
            or the run finished), None when unknown.
        message: the task's own state's message, when known.
        children: the codes of a map's children (index -> code; unknown past the end).
        complete: whether ``children`` holds every child (the map's length is known).
    """

    whole: str | None = None
    message: str | None = None
    children: bytearray | None = None
    complete: bool = False

    def set_children(self, start: int, count: int, name: str | None) -> None:
        """Say children ``start .. start + count - 1`` ended in ``name`` (None: unknown)."""
        kids = self.children if self.children is not None else bytearray()
        if len(kids) < start + count:
            kids.extend(bytes(start + count - len(kids)))
        kids[start : start + count] = bytes([code_of(name)]) * count
        self.children = kids


@dataclass
class _Flags:
    """Per task: a flag for the whole, and one per known child."""

    all: bool = False
    at: bytearray = field(default_factory=bytearray)

    def any(self, complete: bool) -> bool:
        return self.all or not complete or 1 in self.at

    def get(self, i: int) -> bool:
        return self.all or i >= len(self.at) or bool(self.at[i])


@dataclass(frozen=True)
class Decision:
    """What happens to one task's runs (see the module's note).

    Args:
        status: what the journal said.
        mapped: whether the task is mapped.
        node: per child (or for the whole), whether it is a node of the graph.
        run: per child (or for the whole), whether it runs without reading back.
    """

    status: TaskStatus
    mapped: bool
    node: _Flags
    run: _Flags

    @property
    def children_known(self) -> bool:
        """Whether the decision is per child (a map whose children the journal knows)."""
        return self.mapped and self.status.children is not None

    def keeps_whole(self) -> bool:
        """Whether the whole task is kept as it was."""
        if self.children_known:
            return not self.node.any(self.status.complete)
        return not self.node.all

    def of_child(self, i: int) -> str:
        """The decision for child ``i``: :data:`KEEP`, :data:`READ` or :data:`RUN`."""
        if not self.node.get(i):
            return KEEP
        run = self.run.all or (i < len(self.run.at) and bool(self.run.at[i]))
        return RUN if run else READ

    def of_task(self) -> str:
        """The decision for a task decided as a whole."""
        if self.keeps_whole():
            return KEEP
        return RUN if self.run.all else READ


def topological(tasks: Sequence[str], edges: Iterable[Sequence[Any]]) -> list[str]:
    """``tasks`` with every edge's upstream before its task (ties in the given order).

    >>> topological(["c", "a", "b"], [["a", "b", None, ""], ["b", "c", None, ""]])
    ['a', 'b', 'c']
    """
    ups: dict[str, list[str]] = {t: [] for t in tasks}
    for e in edges:
        if e[1] in ups and e[0] in ups:
            ups[e[1]].append(e[0])
    out: list[str] = []
    seen: set[str] = set()
    for t in tasks:
        stack = [(t, iter(ups[t]))]
        if t in seen:
            continue
        seen.add(t)
        while stack:
            node, it = stack[-1]
            nxt = next((u for u in it if u not in seen), None)
            if nxt is None:
                out.append(node)
                stack.pop()
            else:
                seen.add(nxt)
                stack.append((nxt, iter(ups[nxt])))
    return out


def _or_into(flags: _Flags, other: _Flags, length: int, pad: int = 1) -> bool:
    """``flags`` |= ``other`` child by child over ``length`` children (``other``'s children
    past its known ones count as ``pad``); whether it changed."""
    mine = flags.at
    theirs = bytes(other.at[:length]) + bytes([pad]) * max(0, length - len(other.at))
    if other.all:
        theirs = bytes([1]) * length
    merged = (int.from_bytes(mine, "little") | int.from_bytes(theirs, "little")).to_bytes(
        length, "little"
    )
    if merged == bytes(mine):
        return False
    flags.at[:] = merged
    return True


def decide(graph: Mapping[str, Any], statuses: Mapping[str, TaskStatus]) -> dict[str, Decision]:
    """Sort every task run of the earlier run into keep, read or run (the module's note).

    Args:
        graph: the flow's graph (:func:`headwater.engine.identity.flow_graph`).
        statuses: stable id -> what the journal says of the task (absent: unknown).

    Returns:
        Stable id -> its :class:`Decision`.
    """
    flags = {t[0]: t[1] for t in graph["tasks"]}
    mapped = {i for i, f in flags.items() if "m" in f}
    pure = {i for i, f in flags.items() if "p" in f}
    edges = [e for e in graph["edges"] if e[0] in flags and e[1] in flags]
    order = topological(list(flags), edges)
    status = {i: statuses.get(i) or TaskStatus() for i in order}
    node: dict[str, _Flags] = {}
    run: dict[str, _Flags] = {}
    for i in order:
        s = status[i]
        if i in mapped and s.children is not None:
            kids = s.children
            node[i] = _Flags(code_of(s.whole) == BAD, bytearray(c < 2 for c in kids))
            run[i] = _Flags(code_of(s.whole) == BAD, bytearray(c == BAD for c in kids))
        else:
            node[i] = _Flags(code_of(s.whole) < 2)
            run[i] = _Flags(code_of(s.whole) == BAD)

    def length(i: str) -> int:
        return len(node[i].at)

    def complete(i: str) -> bool:
        return status[i].children is None or status[i].complete

    def elementwise(e: Sequence[Any]) -> bool:  # child i reads child i (both known by child)
        return (
            "m" in e[3]
            and "f" not in e[3]
            and e[0] in mapped
            and e[1] in mapped
            and status[e[0]].children is not None
            and status[e[1]].children is not None
        )

    down = {i: [e for e in edges if e[0] == i] for i in order}
    up = {i: [e for e in edges if e[1] == i] for i in order}
    for i in order:  # what runs: downstream of a failure
        for e in up[i]:
            if e[0] in pure:
                continue
            if elementwise(e):
                run[i].all |= run[e[0]].all
                _or_into(run[i], _Flags(False, run[e[0]].at), length(i), pad=0)
            elif run[e[0]].any(True):
                run[i].all = True
    changed = True
    while changed:  # what must be a node: downstream of one, or read by one
        changed = False
        for i in order:
            for e in up[i]:
                if e[0] not in pure:
                    changed |= _spread(node, e, i, e[0], elementwise(e), length(i), complete)
        for i in reversed(order):
            for e in down[i]:
                changed |= _spread(node, e, i, e[1], elementwise(e), length(i), complete)
    return {i: Decision(status[i], i in mapped, node[i], run[i]) for i in order}


def _spread(
    node: dict[str, _Flags],
    e: Sequence[Any],
    to: str,
    frm: str,
    elementwise: bool,
    length: int,
    complete: Any,
) -> bool:
    """Flag ``to``'s runs that the flags of ``frm`` (across edge ``e``) make nodes."""
    mine, theirs = node[to], node[frm]
    if elementwise:
        before = mine.all
        mine.all |= theirs.all
        return _or_into(mine, theirs, length) or mine.all != before
    if not mine.all and theirs.any(complete(frm)):
        mine.all = True
        return True
    return False


# -- the plan the planner reads -----------------------------------------------------------


def state_class(name: str) -> type[State]:
    """The state class called ``name`` (Success for a name no class has)."""
    for cls in ALL_STATES:
        if cls.__name__ == name:
            return cls
    return Success


class ChildPlan:
    """How each child of a mapped task starts: from a kept state, fresh (no read back), or
    reading back what an earlier run wrote (the default)."""

    length: int | None = None
    """The number of children this plan is for (None: any)."""

    def state(self, i: int) -> State | None:
        """The state child ``i`` starts from (a finished one is kept), or None."""
        return None

    def fresh(self, i: int) -> bool:
        """Whether child ``i`` runs without reading back an earlier run's checkpoint."""
        return False


class GivenChildren(ChildPlan):
    """The children's states given in ``task_states`` (a Mapped state), as in Prefect 1.

    Args:
        given: a State or None per child.
    """

    def __init__(self, given: Sequence[State | None]) -> None:
        self.given = given
        self.length = len(given)

    def state(self, i: int) -> State | None:
        """Child ``i``'s given state (None: from scratch), with its map index."""
        s = self.given[i]
        if s is None or s.map_index == i:
            return s
        return s.with_(map_index=i)


class ResumedChildren(ChildPlan):
    """A map's children as a resume decided them.

    Args:
        decision: the task's decision.
        kept: builds the state of a kept child from its index and code.
    """

    def __init__(self, decision: Decision, kept: Any) -> None:
        self.decision = decision
        self.kept = kept
        self.length = len(decision.node.at) if decision.status.complete else None

    def state(self, i: int) -> State | None:
        """A kept child's state as it was (None for the others)."""
        if self.decision.of_child(i) != KEEP:
            return None
        kids = self.decision.status.children
        assert kids is not None
        return self.kept(i, kids[i])

    def fresh(self, i: int) -> bool:
        """Whether child ``i`` runs without reading back."""
        return self.decision.of_child(i) == RUN


class ResumePlan:
    """A resume's decisions for the planner (see the module's note).

    Args:
        resumed: the id of the run resumed.
        decisions: each task's decision.
        ids: each task's stable id.
        sources: the earlier runs checkpoints may be read back from, newest first.
        when: the earlier run's start (kept children's times).
    """

    def __init__(
        self,
        resumed: str,
        decisions: Mapping[Task, Decision],
        ids: Mapping[Task, str],
        sources: Sequence[Source],
        when: _dt.datetime | None = None,
    ) -> None:
        self.resumed = resumed
        self.decisions = decisions
        self.ids = ids
        self.sources = tuple(sources)
        self.when = (when or _dt.datetime.now(_dt.UTC)).timestamp()

    def _kept(self, code: int, map_index: int | None, message: str | None = None) -> State:
        name = name_of(code) or "Success"
        text = f"Kept from run {self.resumed}" + (f": {message}" if message else ".")
        if name == "Success" and map_index is not None:  # compact in a batch (a column)
            when = _dt.datetime.fromtimestamp(self.when, _dt.UTC)
            info = RunInfo(when, when, "", "", "")
            return Success(
                PLAIN_MESSAGE, None, timestamp=when, map_index=map_index, run_count=1, run_info=info
            )
        if name == "Skipped":
            return Skipped(text, map_index=map_index)
        return state_class(name)(text, map_index=map_index)

    def whole(self, task: Task) -> State | None:
        """The state ``task`` keeps whole (not run, nothing read back), or None."""
        d = self.decisions.get(task)
        if d is None or not d.keeps_whole():
            return None
        s = d.status
        if d.children_known and s.children is not None:
            return Mapped(
                f"Kept from run {self.resumed}: {len(s.children)} children.",
                map_states=self.kept_children(bytes(s.children)),
            )
        return self._kept(code_of(s.whole), None, s.message)

    def kept_children(self, codes: bytes, start: int = 0) -> ChildStates:
        """Children kept as they were, compactly (a plain success as a column)."""
        return ChildStates([self.kept_batch(start, codes)])

    def kept_batch(self, start: int, codes: bytes) -> StateBatch:
        """Children ``start ..`` kept as they were (codes: theirs), as one compact batch."""
        n = len(codes)
        times = array("d", [self.when]) * (3 * n)
        others = {p: self._kept(c, start + p) for p, c in enumerate(codes) if c != _OK["Success"]}
        kinds: dict[type, int] = {}
        for c in codes:
            cls = state_class(name_of(c) or "Success")
            kinds[cls] = kinds.get(cls, 0) + 1
        return StateBatch.made(start, n, [None] * n, others, times, ("", "", ""), kinds)

    def source(self, task: Task) -> ResumeFrom | None:
        """Where ``task``'s nodes may read back an earlier run's checkpoints (None: they
        do not: the task is kept, or runs fresh)."""
        d = self.decisions.get(task)
        if d is None or d.keeps_whole() or d.run.all:
            return None
        return ResumeFrom.of(self.ids[task], self.sources)

    def children(self, task: Task) -> ChildPlan | None:
        """How ``task``'s children start, when a resume decided them one by one."""
        d = self.decisions.get(task)
        if d is None or not d.children_known or d.keeps_whole():
            return None
        return ResumedChildren(d, lambda i, c: self._kept(c, i))


__all__ = [
    "BAD",
    "BAD_NAMES",
    "KEEP",
    "OK_NAMES",
    "READ",
    "RUN",
    "UNKNOWN",
    "ChildPlan",
    "Decision",
    "GivenChildren",
    "ResumePlan",
    "ResumedChildren",
    "TaskStatus",
    "code_of",
    "decide",
    "name_of",
    "state_class",
    "topological",
]
