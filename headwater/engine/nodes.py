"""What every graph node runs: the worker side of a flow run.

Design note
-----------
The flow runner (:mod:`headwater.engine.flow_runner`) compiles a flow into nodes that call the
pure functions of this module on the workers: :func:`run_node` (one task or mapped child),
:func:`run_empty_map` (a mapped task with no children but inputs to check) and
:func:`shape_of` (the length of a result to map over; only that comes back to the driver).
Batches of mapped children call :func:`headwater.engine.batches.run_batch`.

A node's arguments are small: the task's definition (:class:`TaskDef`, a literal shipped
once per run, holding the Task and its constants), the flow context (:class:`FlowContext`,
also a literal), a :class:`NodeSpec` (how the upstream states map onto arguments; no values),
and the keys of its upstream states. No Flow, context copy or upstream value is embedded in a
node. The definition and the specs pickle with the standard pickler (a TaskDef's constants
travel as a dict, the specs as plain tuples): dask.distributed tries it first and falls back
to cloudpickle after a failed try, and a node's arguments are pickled several times on their
way (the graph, the scheduler's message to a worker, transfers). When the executor ships values, a node checks that its final state can leave the
worker and fails the task naming the culprit when it cannot
(docs/notices/0008-compilation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from headwater import pickling
from headwater.engine.children import ChildStates, StateBatch
from headwater.engine.identity import ResumeFrom
from headwater.engine.plain import plain_definition, run_plain_node
from headwater.engine.runner import TaskRunner, Upstream
from headwater.model import signals
from headwater.model.states import SKIP_REASONS, Failed, Mapped, Pending, Skipped, State, Success
from headwater.model.task import Task
from headwater.results.base import MemoryResult, Result


@dataclass(frozen=True, slots=True)
class TaskDef:
    """A task, its constant arguments and its resolved Result: one graph literal per task
    per run (``resume``: where earlier runs' checkpoints of it are, in a resumed run)."""

    task: Task
    constants: Mapping[str, Any]
    result: Result | None = None
    checkpoint: bool = False
    readback: bool = False
    cache_folder: str | None = None
    resume: ResumeFrom | None = None
    plain: bool = field(init=False)
    """Whether its runs may take the fast path (:func:`headwater.engine.plain.plain_definition`;
    never in a resumed run, whose runs may read back an earlier run's checkpoint)."""

    def __post_init__(self) -> None:
        plain = self.resume is None and plain_definition(self.task, self.result, self.checkpoint)
        object.__setattr__(self, "plain", plain)  # frozen: set once, here

    def __reduce__(self) -> tuple[Any, ...]:
        # The constants as a dict: a mappingproxy makes the standard pickler fail, and every
        # pickling of the definition (the check, the graph, each transfer) then pays a failed
        # try and cloudpickle (issue 14). Every field travels (``plain`` is not decided again).
        values = tuple(getattr(self, name) for name in _TASK_DEF_FIELDS)
        return (_rebuilt_definition, (values[0], dict(self.constants), *values[2:]))

    def runner(self, flow_context: FlowContext, map_index: int | None = None) -> TaskRunner:
        """A task runner for this task (or its child ``map_index``) in this flow run."""
        return TaskRunner(
            self.task,
            self.constants,
            map_index,
            self.result,
            self.checkpoint,
            readback=self.readback,
            cache_folder=self.cache_folder,
            run=flow_context.run_token,
            resume=self.resume,
        )


_TASK_DEF_FIELDS = tuple(f.name for f in fields(TaskDef))
"""TaskDef's fields in order (``constants`` second): what its pickle holds."""


def _rebuilt_definition(*values: Any) -> TaskDef:
    """A TaskDef unpickled: its fields as pickled, the constants read-only again."""
    definition = object.__new__(TaskDef)
    for name, value in zip(_TASK_DEF_FIELDS, values, strict=True):
        if name == "constants":
            value = MappingProxyType(value)
        object.__setattr__(definition, name, value)
    return definition


@dataclass(frozen=True, slots=True)
class FlowContext:
    """The flow run's context: inside every node, or one graph literal per run when it is
    large (:data:`headwater.engine.shipping.INLINE_CONTEXT_BYTES`).

    ``ships_values`` is set when the executor moves states between processes: each node
    then checks that its state pickles, and fails the task naming the culprit when not.
    ``run_token`` names this run's signing key, which the executor installed in every
    process that runs tasks (:class:`headwater.results.signing.RunKey`); the key itself is
    never in the graph.
    """

    values: Mapping[str, Any]
    ships_values: bool = False
    run_token: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain dicts, as for TaskDef: a mappingproxy (the values, and the parameters in
        # them) makes the standard pickler fail, and a graph holding one is then pickled
        # whole by cloudpickle, ~10x slower (issue 14); the context rides inside every node
        # when it is small.
        values = dict(self.values)
        proxies = tuple(k for k, v in values.items() if type(v) is MappingProxyType)
        for k in proxies:
            values[k] = dict(values[k])
        return (_rebuilt_context, (values, proxies, self.ships_values, self.run_token))


def _rebuilt_context(
    values: dict[str, Any], proxies: tuple[str, ...], ships_values: bool, run_token: str | None
) -> FlowContext:
    """A FlowContext unpickled, its values (and those that were) read-only again."""
    for k in proxies:
        values[k] = MappingProxyType(values[k])
    return FlowContext(MappingProxyType(values), ships_values, run_token)


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How some of a node's upstream states become one input.

    ``count`` is -1 for one state, else the number of states forming a tuple (a reduce).
    ``pos`` takes one child out of a batch's states (an unbatched child of a batched map);
    ``batched`` says the ``count`` states are batches (a reduce of a batched map).
    """

    key: str | None
    count: int = -1
    index: int | tuple[int, ...] | None = None
    flattened: bool = False
    gate: bool = False
    pos: int | None = None
    batched: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # a plain tuple: the dataclass's own pickling looks its fields up on every call,
        # and each node's inputs are pickled several times on their way (issue 14)
        return (InputSpec, tuple(getattr(self, f) for f in _INPUT_SPEC_FIELDS))


_INPUT_SPEC_FIELDS = tuple(f.name for f in fields(InputSpec))


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Everything a node needs besides its task definition and upstream states (``fresh``:
    in a resumed run, run without reading back an earlier run's checkpoint)."""

    inputs: tuple[InputSpec, ...] = ()
    map_index: int | None = None
    initial_state: State | None = None
    map_error: str | None = None
    fresh: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # a plain tuple, as for InputSpec
        return (NodeSpec, tuple(getattr(self, f) for f in _NODE_SPEC_FIELDS))


_NODE_SPEC_FIELDS = tuple(f.name for f in fields(NodeSpec))


def run_node(task_def: TaskDef, flow_context: FlowContext, spec: NodeSpec, *states: State) -> State:
    """Run one task (or mapped child) from its upstream states; the function every node calls.

    Args:
        task_def: the task and its constants.
        flow_context: the flow run's context.
        spec: how ``states`` map onto the task's inputs.
        *states: the upstream states, in the order of ``spec.inputs``.
    """
    upstream = _upstream_of(spec, states)
    state: State | None = None
    if task_def.plain and spec.initial_state is None and spec.map_error is None:
        state = run_plain_node(task_def, flow_context, upstream, spec.map_index)
    if state is None:
        runner = task_def.runner(flow_context, spec.map_index)
        if spec.fresh:
            runner.fresh = frozenset({spec.map_index})
        state = runner.run(upstream, flow_context.values, spec.initial_state, spec.map_error)
    if flow_context.ships_values and not _surely_picklable(state):
        state = picklable_state(state, task_def.task)
    return state


def _surely_picklable(state: State) -> bool:
    """Whether a state pickles without checking: a plain success of a plain value (the
    fast path's; its other fields are strings, numbers and times)."""
    return (
        type(state) is Success
        and type(state.result_object) is MemoryResult
        and type(state.result) in PLAIN_TYPES
        and state.exception is None
    )


PLAIN_TYPES = frozenset({int, float, str, bytes, bool, type(None)})
"""Values that surely pickle: the pickling check leaves them out (checking a large ``bytes``
or ``str`` would copy it whole, as pickle copies them into its output)."""


def to_check(state: State) -> State:
    """What of ``state`` the pickling check needs: itself, or itself without its value when
    that value is plain (its Result, which may hold unpicklable settings, is kept).

    Args:
        state: a task run's final state.
    """
    if isinstance(state, Mapped) or type(state.result) not in PLAIN_TYPES or state.result is None:
        return state
    holder = state.result_object.copy()
    holder.value = None
    return state.with_(result=holder)


def picklable_state(state: State, task: Task) -> State:
    """The state, or a Failed state naming what keeps it from leaving this process.

    Args:
        state: a task run's final state.
        task: its task, for the message.
    """
    try:
        pickling.check(to_check(state))
        return state
    except Exception:
        pass
    what = "returned a value" if pickling.pickle_problem(state.result) else "ended in a state"
    problem = pickling.pickle_problem(state.result, "result") or pickling.pickle_problem(
        state.exception, "exception"
    )
    if problem is None:
        problem = pickling.pickle_problem(state, "state")
    return Failed(
        f"Task {task.name!r} {what} that cannot be pickled, so it cannot leave the worker: "
        f"{problem}. Return plain data (or run on LocalExecutor or threads).",
        run_count=state.run_count,
        map_index=state.map_index,
        traceback=state.traceback,
    )


def strip_result(state: Any) -> Any:
    """The state without its value: what the driver needs of a task it does not return.

    Args:
        state: a task's state (or a batch of children's states).
    """
    if isinstance(state, StateBatch):
        return state.without_results()
    if not isinstance(state, State):
        return state
    if isinstance(state, Mapped):
        return state
    return state.with_(result=None)


def _upstream_of(spec: NodeSpec, states: Sequence[State]) -> list[Upstream]:
    upstream: list[Upstream] = []
    pos = 0
    for inp in spec.inputs:
        if inp.count < 0:
            value: Any = states[pos]
            state: State | Sequence[State] = value[inp.pos] if inp.pos is not None else value
            pos += 1
        else:
            part = states[pos : pos + inp.count]
            state = ChildStates(part) if inp.batched else tuple(part)  # type: ignore[arg-type]
            pos += inp.count
        upstream.append(Upstream(inp.key, state, inp.index, inp.flattened, inp.gate))
    return upstream


def run_empty_map(
    task_def: TaskDef, flow_context: FlowContext, spec: NodeSpec, *states: State
) -> State:
    """Decide the state of a mapped task with no children from its non-mapped inputs.

    Its conditions and trigger are checked as a child's would be (an untaken branch gives
    Skipped, a failed upstream TriggerFailed); when they pass it is Mapped with no children.

    Args:
        task_def: the task and its constants.
        flow_context: the flow run's context (unused; every node takes it).
        spec: how ``states`` map onto the task's non-mapped inputs.
        *states: the upstream states, in the order of ``spec.inputs``.
    """
    upstream = _upstream_of(spec, states)
    runner = TaskRunner(task_def.task)
    state = spec.initial_state or Pending()
    try:
        runner.check_initial_state(state)
        runner.check_upstream_finished(state, [s for up in upstream for s in up.states()])
        runner.check_gates(state, [tuple(up.states()) for up in upstream if up.gate])
        runner.check_trigger(state, [s for up in upstream if not up.gate for s in up.states()])
    except signals.ENDRUN as end:
        return end.end_state
    return mapped_state(task_def.task, [])


@dataclass(frozen=True, slots=True)
class Shape:
    """What the planner learns about a result it maps over.

    ``lengths`` is the length (an int), or with flattening the length of each part (a
    tuple); ``problem`` says why the result cannot be mapped over.
    """

    lengths: int | tuple[int, ...] | None = None
    problem: str | None = None


def _shape_of_value(value: Any, what: str) -> int | str:
    if isinstance(value, Mapping | set | frozenset) or not (
        hasattr(value, "__len__") and hasattr(value, "__getitem__")
    ):
        return (
            f"{what} is of type {type(value).__name__!r}, which is not a sequence "
            "(map over a list or tuple; use list(...) or sorted(...) to make one)"
        )
    return len(value)


def shape_of(what: str, flattened: bool, *states: State) -> Shape:
    """Return the length(s) of the result(s) held by ``states`` (computed on the worker).

    Args:
        what: a description of the upstream for messages.
        flattened: whether each result is a list of parts to measure one by one.
        *states: one state (a plain upstream) or the children's states (a mapped upstream),
            or their batches.
    """
    if any(isinstance(s, StateBatch) for s in states):
        states = tuple(c for s in states for c in (s if isinstance(s, StateBatch) else (s,)))
    for s in states:
        if not s.is_successful():
            return Shape(problem=f"{what} ended {type(s).__name__}")
    values = [s.result for s in states]
    if len(states) == 1 and not flattened:
        got = _shape_of_value(values[0], what)
        return Shape(problem=got) if isinstance(got, str) else Shape(lengths=got)
    parts = values if len(states) > 1 or not flattened else values[0]
    if len(states) == 1:
        first = _shape_of_value(parts, what)
        if isinstance(first, str):
            return Shape(problem=first)
    lengths: list[int] = []
    for j, part in enumerate(parts):
        got = _shape_of_value(part, f"{what} (flattened; element {j})")
        if isinstance(got, str):
            return Shape(problem=got)
        lengths.append(got)
    return Shape(lengths=tuple(lengths))


def mapped_state(task: Task, children: Sequence[State]) -> State:
    """A mapped task's state from its children's, through its state handlers.

    Mapped, unless every child skipped (:func:`skipped_map`): then it is Skipped, like a
    plain task in the same place.

    Args:
        task: the mapped task.
        children: its children's states, in index order (a compact ChildStates for a
            batched map).
    """
    if isinstance(children, ChildStates):
        counts = children.counts()
    else:
        counts = {}
        for c in children:
            counts[type(c).__name__] = counts.get(type(c).__name__, 0) + 1
    new: State | None = skipped_map(children, counts)
    if new is None:
        summary = ", ".join(f"{n} {name}" for name, n in counts.items()) or "no children"
        new = Mapped(f"Mapped {len(children)} children: {summary}.", map_states=children)
    try:
        return TaskRunner(task).transition(Pending(), new)
    except signals.ENDRUN as end:  # a failing handler ends it Failed
        return end.end_state


def skipped_map(children: Sequence[State], counts: Mapping[str, int]) -> Skipped | None:
    """The Skipped state of a map whose children all skipped, or None when one did not.

    A map with children, every one of them Skipped, is Skipped: nothing of it succeeded or
    failed, as ``merge`` and a reduce's trigger already see it (docs/notices/0002-skip-as-finished.md).
    Its reason is the children's most common one (ties in the order of ``SKIP_REASONS``)
    and its message says how many skipped for which reason. A map with no children is
    Mapped (or Skipped by :func:`run_empty_map` when its conditions are not met); a map
    with children in other states is Mapped.

    Args:
        children: the children's states.
        counts: the children by the class name of their state.

    >>> kids = [Skipped("x is odd", reason="upstream"), Skipped("no", reason="task")] * 2
    >>> skipped_map(kids[:3], {"Skipped": 3}).message
    'Skipped all 3 children (2 upstream, 1 task): x is odd'
    >>> skipped_map(kids[:3], {"Skipped": 3}).reason, skipped_map(kids, {"Skipped": 4}).reason
    ('upstream', 'upstream')
    >>> from headwater.model.states import Success
    >>> skipped_map([Success(), Skipped()], {"Success": 1, "Skipped": 1}) is None
    True
    """
    if not children or set(counts) != {"Skipped"}:
        return None
    skipped = children.exceptional() if isinstance(children, ChildStates) else iter(children)
    reasons: dict[str, int] = {}
    first: State | None = None
    for child in skipped:
        reason = getattr(child, "reason", "task")
        reasons[reason] = reasons.get(reason, 0) + 1
        first = first or child
    reason = max(SKIP_REASONS, key=lambda r: (reasons.get(r, 0), -SKIP_REASONS.index(r)))
    why = ", ".join(f"{reasons[r]} {r}" for r in SKIP_REASONS if r in reasons)
    if len(reasons) == 1:
        why = reason
    said = f": {first.message}" if first is not None and first.message else "."
    return Skipped(f"Skipped all {len(children)} children ({why}){said}", reason=reason)


__all__ = [
    "PLAIN_TYPES",
    "FlowContext",
    "InputSpec",
    "NodeSpec",
    "Shape",
    "TaskDef",
    "mapped_state",
    "picklable_state",
    "run_empty_map",
    "run_node",
    "shape_of",
    "skipped_map",
    "strip_result",
    "to_check",
]
