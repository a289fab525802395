"""The flow runner's bookkeeping for one run, and what it makes of the values it gets back.

Design note
-----------
The planner (:class:`~headwater.engine.planner.Planner`) records, per task, where its
states are (:class:`Output`: one key, one per mapped child, or one per batch of children)
and, per mapped input, where each child's element comes from (:class:`Elements`). Keys are
renamed when lost work is resubmitted, so everything the planner remembers about a run is in
one :class:`Plan`. What an executor hands back is turned into states here: a State as it
is, a lost key's exception as Crashed, a cancelled one as Cancelled
(docs/notices/0008-compilation.md). Nothing here runs on a worker.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.engine.batches import BatchInput
from headwater.engine.children import StateBatch, SucceededBatch
from headwater.engine.hooks import UNKNOWN
from headwater.engine.nodes import Shape
from headwater.errors import HeadwaterError
from headwater.model.flow import Edge
from headwater.model.states import Cancelled, Crashed, Mapped, State
from headwater.model.task import Task

if TYPE_CHECKING:
    from headwater.engine.resume import ChildPlan


@dataclass(slots=True)
class Output:
    """Where a planned task's state(s) are: one key, one key per mapped child, or one key
    per batch of children (``starts``: each batch's first index, then the number of
    children)."""

    single: str | None = None
    children: list[str] | None = None
    batches: list[str] | None = None
    starts: list[int] | None = None

    def keys(self) -> list[str]:
        if self.children is not None:
            return self.children
        if self.batches is not None:
            return self.batches
        return [self.single or ""]

    @property
    def mapped(self) -> bool:
        return self.children is not None or self.batches is not None

    def where(self, i: int) -> tuple[str, int | None]:
        """The key holding child ``i``'s state, and its position in that batch (or None)."""
        if self.children is not None:
            return self.children[i], None
        assert self.batches is not None and self.starts is not None
        j = bisect.bisect_right(self.starts, i) - 1
        return self.batches[j], i - self.starts[j]


@dataclass(slots=True)
class Elements:
    """Where the elements of one mapped input come from: element ``i`` of ``single``'s
    value, child ``i`` of the mapped output ``out``, or ``explicit[i]`` (key, position in
    a batch or None, index into the value)."""

    n: int
    single: str | None = None
    out: Output | None = None
    explicit: list[tuple[str, int | None, int | tuple[int, ...] | None]] | None = None

    def at(self, i: int) -> tuple[str, int | None, int | tuple[int, ...] | None]:
        if self.single is not None:
            return self.single, None, i
        if self.out is not None:
            return (*self.out.where(i), None)
        assert self.explicit is not None
        return self.explicit[i]


@dataclass(frozen=True, slots=True)
class MapJob:
    """A map to plan: its task and key, its number of children, its edges, where each
    mapped edge takes its elements from, and its initial state(s)."""

    task: Task
    key: str
    n: int
    edges: Sequence[Edge]
    by_edge: Mapping[Edge, Elements]
    initial: State | None
    given: ChildPlan | None
    """How each child starts (given in ``task_states``, or as a resume decided)."""


@dataclass(slots=True)
class Plan:
    """The runner's bookkeeping for one flow run."""

    token: str
    ctx_key: str
    context_bytes: int = 0
    """The pickled size of the run's context when it must travel (0 when it need not)."""
    outputs: dict[Task, Output] = field(default_factory=dict)
    def_keys: dict[Task, str] = field(default_factory=dict)
    shape_keys: dict[tuple[Task, bool], str] = field(default_factory=dict)
    shapes: dict[str, Shape] = field(default_factory=dict)
    # for collection and repairs (docs/notices/0008-compilation.md)
    wanted: frozenset[Task] = frozenset()
    nodes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    settled: dict[str, Any] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    """How many times the node of each (original) key was lost."""
    renames: int = 0
    """How many keys repairs renamed so far (numbers the new keys)."""
    # adaptive batching (headwater.engine.sizing)
    pilots: dict[Task, Output] = field(default_factory=dict)
    """Maps whose pilots run and whose rest waits for their pace: the pilots' keys."""
    measured: set[str] = field(default_factory=set)
    """Pilots whose pace was asked for (told or not)."""
    paces: dict[Task, float] = field(default_factory=dict)
    """Seconds per child the fastest pilot of a map told."""
    # per-run facts, looked up once
    slots: int | None = None
    """How many tasks the executor runs at once (asked once per run)."""
    weights: dict[str, int] = field(default_factory=dict)
    """Output key -> the number of task runs it holds, when not one (a batch's children)."""
    owners: dict[str, tuple[Task, int | None]] = field(default_factory=dict)
    """Output key -> its task and map index (a batch's first child's), for the run hooks."""


class LiteralArg(str):
    """A string argument passed as it is: executors treat plain ``str`` args as keys, and
    ``type(arg) is str`` is False for this subclass."""

    __slots__ = ()


def element_sources(out: Output, shape: Shape) -> Elements:
    """Where each element of a mapped input comes from (a state key, the position in a
    batch, the index into its result)."""
    if isinstance(shape.lengths, int):
        assert out.single is not None
        return Elements(shape.lengths, single=out.single)
    lengths = shape.lengths or ()
    if out.mapped:  # flattened over a mapped task: element k of child j
        explicit: list[tuple[str, int | None, int | tuple[int, ...] | None]] = [
            (*out.where(j), k) for j, n in enumerate(lengths) for k in range(n)
        ]
    else:  # flattened over a plain task: element [j][k]
        assert out.single is not None
        explicit = [(out.single, None, (j, k)) for j, n in enumerate(lengths) for k in range(n)]
    return Elements(len(explicit), explicit=explicit)


def is_cancel(value: Any) -> bool:
    """Whether an executor's value for a key says it was cancelled (Ctrl-C)."""
    return isinstance(value, BaseException) and state_name(type(value)) == "Cancelled"


def state_name(value_type: Any) -> str:
    """The state a finished graph key stands for, from the type of its value.

    A State's class name; ``Success`` for a batch whose children all succeeded;
    ``Cancelled`` for a cancelled key; ``Crashed`` for any other error (the flow runner
    repairs or reports it); ``UNKNOWN`` (``""``) for anything else (another batch of states,
    or a type the driver could not load).

    >>> from headwater.model.states import Success
    >>> state_name(Success), state_name(KeyboardInterrupt), state_name(OSError), state_name(list)
    ('Success', 'Cancelled', 'Crashed', '')
    >>> state_name(SucceededBatch), state_name(StateBatch)
    ('Success', '')
    """
    if isinstance(value_type, type):
        if issubclass(value_type, State):
            return value_type.__name__
        if issubclass(value_type, SucceededBatch):
            return "Success"
        if issubclass(value_type, BaseException):
            cancel = issubclass(value_type, KeyboardInterrupt) or value_type.__name__ == (
                "CancelledError"
            )
            return "Cancelled" if cancel else "Crashed"
    return UNKNOWN


def is_lost(value: Any) -> bool:
    """Whether an executor's value for a key says it was lost (an exception, not a cancel)."""
    return isinstance(value, BaseException) and not is_cancel(value)


def annotations_of(task: Task) -> dict[str, Any] | None:
    """Dask annotations for a task's nodes: its priority, and its ``dask-resource:NAME=N``
    tags as resource restrictions."""
    ann: dict[str, Any] = {}
    if task.priority is not None:
        ann["priority"] = task.priority
    resources: dict[str, float] = {}
    for tag in task.tags:
        if not tag.startswith("dask-resource:"):
            continue
        name, sep, amount = tag[len("dask-resource:") :].partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not (sep and name and value >= 0):
            raise HeadwaterError(
                f"Task {task.name!r} has tag {tag!r}; a resource tag reads "
                "'dask-resource:NAME=N', e.g. 'dask-resource:GPU=1'"
            )
        resources[name] = value
    if resources:
        ann["resources"] = resources
    return ann or None


def as_state(value: Any, task: Task, map_index: int | None = None, tries: int = 1) -> State:
    """An executor's value for a task's key as a State: itself, or Cancelled for a cancelled
    key, or Crashed for a lost one (``tries``: how many times it was lost)."""
    if isinstance(value, State):
        return value
    if is_cancel(value):
        return Cancelled(
            f"Task {task.name!r} was cancelled: the flow run was interrupted.",
            map_index=map_index,
        )
    if isinstance(value, BaseException):
        where = f"[{map_index}]" if map_index is not None else ""
        times = f" (lost {tries} times)" if tries > 1 else ""
        return Crashed(
            f"Task {task.name!r}{where} was lost{times}: {type(value).__name__}: {value}",
            exception=value,
            map_index=map_index,
        )
    raise HeadwaterError(f"Executor returned {value!r} for task {task.name!r} instead of a State")


def count_runs(states: Mapping[Task, State]) -> dict[str, int]:
    """Task runs by the class name of their state; a mapped task counts as its children
    (from their own ``counts()`` when they keep them, as a batched map's do)."""
    counts: dict[str, int] = {}
    for s in states.values():
        children = s.map_states if isinstance(s, Mapped) else (s,)
        known = getattr(children, "counts", None)
        for name, n in (
            known().items() if callable(known) else ((type(c).__name__, 1) for c in children)
        ):
            counts[name] = counts.get(name, 0) + n
    return counts


def runs_of(out: Any) -> list[tuple[str, int]]:
    """Each output key with the number of task runs it holds: one, or a batch's children
    (``starts``: each batch's first child, then the number of children)."""
    starts = getattr(out, "starts", None)
    keys = out.keys()
    if starts is None or len(starts) != len(keys) + 1:
        return [(k, 1) for k in keys]
    return [(k, starts[i + 1] - starts[i]) for i, k in enumerate(keys)]


def as_batch(value: Any, task: Task, start: int, stop: int, tries: int = 1) -> StateBatch:
    """A batch node's value as a batch: itself, or the exception that ended it (lost,
    cancelled) as each child's Crashed or Cancelled state."""
    if isinstance(value, StateBatch):
        return value
    return StateBatch.of(start, [as_state(value, task, i, tries) for i in range(start, stop)])


def kinds(state: State) -> Iterable[type]:
    """The state classes of a task's state, or of its children when it is Mapped."""
    if not isinstance(state, Mapped):
        return (type(state),)
    classes = getattr(state.map_states, "classes", None)
    if classes is not None:
        return list(classes())
    return {type(c) for c in state.map_states}


def is_gate_edge(edge: Edge) -> bool:
    """Whether the edge is a condition's: a state-only edge from a gate (``case``...), whose
    state is checked before the task's trigger (mapped too: a gate inside ``apply_map``)."""
    return edge.key is None and edge.upstream_task.is_gate


def span_input(e: Edge, src: Elements, start: int, stop: int) -> tuple[BatchInput, list[str]]:
    """How a batch of children ``start..stop`` reads a mapped input: a range of one value,
    a span of unbatched children, the upstream batches it overlaps, or element by element."""
    gate = is_gate_edge(e)
    if src.single is not None:
        return BatchInput(e.key, "range", gate=gate), [src.single]
    out = src.out
    if out is not None and out.children is not None:
        ks = out.children[start:stop]
        return BatchInput(e.key, "span", len(ks), gate=gate), ks
    if out is not None:
        up_starts = out.starts or [0]
        j0 = bisect.bisect_right(up_starts, start) - 1
        j1 = bisect.bisect_left(up_starts, stop, j0)
        ks = (out.batches or [])[j0:j1]
        return BatchInput(e.key, "span", len(ks), gate=gate, batched=True), ks
    offsets: dict[str, int] = {}
    explicit = []
    for i in range(start, stop):
        src_key, at, index = src.at(i)
        offset = offsets.setdefault(src_key, len(offsets))
        explicit.append((offset, at, index))
    spec = BatchInput(e.key, "explicit", len(offsets), gate=gate, explicit=tuple(explicit))
    return spec, list(offsets)


def parallelism(executor: Any) -> int:
    """How many tasks the executor runs at once, as far as it says (1 if it does not)."""
    fn = getattr(executor, "parallelism", None)
    if callable(fn):
        try:
            return max(1, int(fn()))
        except Exception:
            return 1
    n = getattr(executor, "num_workers", None)
    return n if isinstance(n, int) and n > 0 else 1


__all__ = [
    "Elements",
    "LiteralArg",
    "MapJob",
    "Output",
    "Plan",
    "annotations_of",
    "as_batch",
    "as_state",
    "count_runs",
    "element_sources",
    "is_cancel",
    "is_gate_edge",
    "is_lost",
    "kinds",
    "parallelism",
    "runs_of",
    "span_input",
    "state_name",
]
