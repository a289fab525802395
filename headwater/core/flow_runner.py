"""The flow runner: compiles a flow into a task graph, hands it to an executor in batches,
and turns the final task states into the flow's state.

Design note
-----------
Every node of the compiled graph calls one pure function, :func:`run_node`, which rebuilds
the task's inputs from its upstream states and runs :class:`~headwater.core.runner.TaskRunner`.
A node's arguments are small: the key of the task's definition (a literal shipped once per
run, holding the Task and its constants), the key of the flow context (also a literal), a
:class:`NodeSpec` (how the upstream states map onto arguments; no values), and the keys of
its upstream states. No Flow, context copy or upstream value is embedded in a node.

Compilation walks the tasks in topological order. A task whose shape is known is planned at
once: a plain task is one node; a mapped task is one node per child. A mapped task's number
of children is known when it maps over a constant or element-wise over another mapped task
whose children are planned. Otherwise (mapping over another task's output, or flattening)
the runner adds a small *shape* node that computes the length(s) of the upstream result on
the worker, and defers the task and everything downstream of it. Each round submits the
ready part of the graph as one batch, then waits for any needed shape, and plans again. The
results themselves stay with the executor; only shapes and, at the end, states come back.

Element-wise maps keep child ``i`` of B depending only on child ``i`` of A, so a long
per-element pipeline runs depth-first. A reduce (a plain edge from a mapped task) depends on
every child, and its trigger sees every child's state.

When a map cannot be expanded (the upstream did not succeed, its result is not a sized
sequence, mapped arguments differ in length) the mapped task becomes a single node whose run
checks the trigger first (so an upstream failure gives TriggerFailed and an upstream skip
gives Skipped, as for any task) and then fails with a message saying why.

A map with no children is Mapped with no children, and a reduce of it receives ``[]``. When
it has inputs that are not mapped (a ``case`` condition, an ``unmapped`` argument, a wait),
no child would check them, so one node (:func:`run_empty_map`) checks its conditions and
trigger instead: an empty map in a branch not taken is Skipped like the rest of the branch.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from headwater.core import caching, signals
from headwater.core.flow import Edge, Flow
from headwater.core.parameter import resolve_parameters
from headwater.core.runner import TaskRunner, Upstream
from headwater.core.states import (
    Cancelled,
    Crashed,
    Failed,
    Mapped,
    Paused,
    Pending,
    Running,
    State,
    Success,
)
from headwater.core.task import Constant, Task
from headwater.errors import HeadwaterError
from headwater.results.base import Result

# ---------------------------------------------------------------------------------------
# What travels in the graph
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskDef:
    """A task, its constant arguments and its resolved Result: one graph literal per task
    per run."""

    task: Task
    constants: Mapping[str, Any]
    result: Result | None = None
    checkpoint: bool = False


@dataclass(frozen=True, slots=True)
class FlowContext:
    """The flow run's context: one graph literal per run."""

    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How some of a node's upstream states become one input.

    ``count`` is -1 for one state, else the number of states forming a tuple (a reduce).
    """

    key: str | None
    count: int = -1
    index: int | tuple[int, ...] | None = None
    flattened: bool = False
    gate: bool = False


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Everything a node needs besides its task definition and upstream states."""

    inputs: tuple[InputSpec, ...] = ()
    map_index: int | None = None
    initial_state: State | None = None
    map_error: str | None = None


def run_node(task_def: TaskDef, flow_context: FlowContext, spec: NodeSpec, *states: State) -> State:
    """Run one task (or mapped child) from its upstream states; the function every node calls.

    Args:
        task_def: the task and its constants.
        flow_context: the flow run's context.
        spec: how ``states`` map onto the task's inputs.
        *states: the upstream states, in the order of ``spec.inputs``.
    """
    upstream = _upstream_of(spec, states)
    runner = TaskRunner(
        task_def.task, task_def.constants, spec.map_index, task_def.result, task_def.checkpoint
    )
    return runner.run(upstream, flow_context.values, spec.initial_state, spec.map_error)


def _upstream_of(spec: NodeSpec, states: Sequence[State]) -> list[Upstream]:
    upstream: list[Upstream] = []
    pos = 0
    for inp in spec.inputs:
        if inp.count < 0:
            state: State | tuple[State, ...] = states[pos]
            pos += 1
        else:
            state = tuple(states[pos : pos + inp.count])
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
    if state.is_finished():
        return state
    try:
        runner.check_upstream_finished(state, [s for up in upstream for s in up.states()])
        runner.check_gates(state, [up.state for up in upstream if up.gate])
        runner.check_trigger(state, [s for up in upstream if not up.gate for s in up.states()])
    except signals.ENDRUN as end:
        return end.end_state
    return _mapped_state(task_def.task, [])


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
        *states: one state (a plain upstream) or the children's states (a mapped upstream).
    """
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


# ---------------------------------------------------------------------------------------
# The planner
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Output:
    """Where a planned task's state(s) are: one key, or one key per mapped child."""

    single: str | None = None
    children: list[str] | None = None

    def keys(self) -> list[str]:
        return self.children if self.children is not None else [self.single or ""]


@dataclass(slots=True)
class _Plan:
    """The runner's bookkeeping for one flow run."""

    token: str
    ctx_key: str
    outputs: dict[Task, _Output] = field(default_factory=dict)
    def_keys: dict[Task, str] = field(default_factory=dict)
    shape_keys: dict[tuple[Task, bool], str] = field(default_factory=dict)
    shapes: dict[str, Shape] = field(default_factory=dict)


class FlowRunner:
    """Runs a flow on an executor.

    Args:
        flow: the flow.
        executor: where tasks run (a LocalExecutor by default).
    """

    def __init__(self, flow: Flow, executor: Any = None) -> None:
        if executor is None:
            from headwater.executors.local import LocalExecutor

            executor = LocalExecutor()
        if not all(
            callable(getattr(executor, m, None)) for m in ("start", "submit", "wait_any", "gather")
        ):
            raise TypeError(
                f"executor must be an Executor such as LocalExecutor(), LocalDaskExecutor() or "
                f"DaskExecutor() (from headwater.executors), got {executor!r}"
            )
        self.flow = flow
        self.executor = executor

    # -- the run -------------------------------------------------------------------------
    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> State:
        """Run the flow once; see :meth:`Flow.run`."""
        flow = self.flow
        flow.validate()
        self.checkpoint_switch = caching.checkpoint_switch()
        values = resolve_parameters(flow.name, flow.parameters(), parameters)
        self.task_states = dict(task_states or {})
        unknown = [t for t in self.task_states if t not in flow._tasks]
        if unknown:
            raise HeadwaterError(
                f"task_states names tasks that are not in flow {flow.name!r}: "
                + ", ".join(repr(getattr(t, "name", t)) for t in unknown)
            )
        not_states = [t.name for t, s in self.task_states.items() if not isinstance(s, State)]
        if not_states:
            raise HeadwaterError(
                f"task_states must map tasks to States (e.g. Resume() or a previous run's "
                f"state.result), but the values for {_names(not_states)} are not States"
            )
        wanted = list(return_tasks) if return_tasks is not None else flow.tasks
        strangers = [t for t in wanted if t not in flow._tasks]
        if strangers:
            raise HeadwaterError(
                f"return_tasks names tasks that are not in flow {flow.name!r}: "
                + ", ".join(repr(getattr(t, "name", t)) for t in strangers)
            )
        run_id = str(uuid.uuid4())
        now = _dt.datetime.now(_dt.UTC)
        ctx = {
            "flow_name": flow.name,
            "flow_run_id": run_id,
            "parameters": MappingProxyType(values),
            "scheduled_start_time": now,
            "date": now,
            "today": now.strftime("%Y-%m-%d"),
            **(context or {}),
        }
        plan = _Plan(token=run_id[:8], ctx_key=f"flow-context-{run_id[:8]}")
        state = self._flow_transition(Pending(), Running("Running flow."))
        with self.executor.start():
            self._compile_and_submit(plan, FlowContext(MappingProxyType(ctx)))
            states = self._collect(plan)
        final = self._flow_state(states)
        result = {t: states[t] for t in wanted if t in states}
        final = final.with_(result=result)
        return self._flow_transition(state, final)

    def _flow_transition(self, old: State, new: State) -> State:
        for handler in self.flow.state_handlers:
            replaced = handler(self.flow, old, new)
            if isinstance(replaced, State):
                new = replaced
        return new

    # -- compilation ---------------------------------------------------------------------
    def _compile_and_submit(self, plan: _Plan, flow_context: FlowContext) -> None:
        pending = self.flow.sorted_tasks()
        first: dict[str, Any] = {plan.ctx_key: flow_context}
        while pending:
            batch: dict[str, Any] = first
            first = {}
            annotations: dict[str, dict[str, Any]] = {}
            blocked: set[Task] = set()
            waiting: set[str] = set()
            for task in pending:
                if any(up in blocked for up in self.flow.upstream_tasks(task)):
                    blocked.add(task)
                    continue
                needs = self._plan_task(plan, task, batch)
                if needs:
                    blocked.add(task)
                    waiting |= needs
                elif task.priority is not None:
                    for key in plan.outputs[task].keys():
                        annotations[key] = {"priority": task.priority}
            self.executor.submit(batch, annotations)
            if not blocked:
                return
            ready = self.executor.wait_any(sorted(waiting))
            plan.shapes.update(self.executor.gather(ready))
            self.executor.release(ready)
            pending = [t for t in pending if t in blocked]

    def _def_key(self, plan: _Plan, task: Task, batch: dict[str, Any]) -> str:
        key = plan.def_keys.get(task)
        if key is None:
            key = plan.def_keys[task] = f"taskdef-{task.slug}-{plan.token}"
            result, checkpoint = caching.resolve_result(
                task, self.flow.result, self.flow.checkpoint, self.checkpoint_switch
            )
            constants = MappingProxyType(dict(self.flow.constants.get(task, {})))
            batch[key] = TaskDef(task, constants, result, checkpoint)
        return key

    def _node(
        self,
        plan: _Plan,
        task: Task,
        batch: dict[str, Any],
        inputs: Sequence[tuple[InputSpec, list[str]]],
        map_index: int | None = None,
        initial_state: State | None = None,
        map_error: str | None = None,
    ) -> tuple[Any, ...]:
        spec = NodeSpec(tuple(i for i, _ in inputs), map_index, initial_state, map_error)
        args = [k for _, keys in inputs for k in keys]
        return (run_node, self._def_key(plan, task, batch), plan.ctx_key, spec, *args)

    def _whole_input(self, plan: _Plan, edge: Edge) -> tuple[InputSpec, list[str]]:
        """An input taking the upstream's whole state (or all its children's states)."""
        out = plan.outputs[edge.upstream_task]
        gate = edge.key is None and edge.upstream_task.is_gate
        if out.children is not None:
            return InputSpec(edge.key, len(out.children), None, edge.flattened, gate), list(
                out.children
            )
        assert out.single is not None
        return InputSpec(edge.key, -1, None, edge.flattened, gate), [out.single]

    def _plan_task(self, plan: _Plan, task: Task, batch: dict[str, Any]) -> set[str]:
        """Add ``task``'s node(s) to ``batch``; return the shape keys it still waits for."""
        flow = self.flow
        key = f"{task.slug}-{plan.token}"
        initial = self.task_states.get(task)
        edges = flow.upstream_edges(task)
        inputs: list[tuple[InputSpec, list[str]]]
        if not flow.is_mapped(task):
            if initial is not None and initial.is_finished():
                batch[key] = initial
            else:
                inputs = [self._whole_input(plan, e) for e in edges]
                batch[key] = self._node(plan, task, batch, inputs, initial_state=initial)
            plan.outputs[task] = _Output(single=key)
            return set()
        if isinstance(initial, Mapped):
            children = [f"{key}-{i}" for i in range(len(initial.map_states))]
            for child_key, child_state in zip(children, initial.map_states, strict=True):
                batch[child_key] = child_state
            plan.outputs[task] = _Output(children=children)
            return set()

        # Work out, for each mapped edge, where child i takes its element from.
        sources: list[tuple[Edge, list[tuple[str, int | tuple[int, ...] | None]]]] = []
        needs: set[str] = set()
        problems: list[str] = []
        for e in edges:
            if not e.mapped:
                continue
            up = e.upstream_task
            out = plan.outputs[up]
            what = "the value given" if isinstance(up, Constant) else f"the result of {up.name!r}"
            if out.children is not None and not e.flattened:
                sources.append((e, [(k, None) for k in out.children]))
                continue
            if isinstance(up, Constant) and out.single is not None:
                shape = shape_of(what, e.flattened, Success(result=up.value))
            else:
                shape_key = plan.shape_keys.get((up, e.flattened))
                if shape_key is None:
                    shape_key = plan.shape_keys[(up, e.flattened)] = (
                        f"shape-{up.slug}-{int(e.flattened)}-{plan.token}"
                    )
                    batch[shape_key] = (shape_of, _Literal(what), e.flattened, *out.keys())
                if shape_key not in plan.shapes:
                    needs.add(shape_key)
                    continue
                shape = plan.shapes[shape_key]
            if shape.problem is not None:
                arg = f"argument {e.key!r}" if e.key else f"upstream task {up.name!r}"
                problems.append(f"Task {task.name!r} cannot map over {arg}: {shape.problem}")
                continue
            sources.append((e, _element_sources(out, shape)))
        if needs:
            return needs
        lengths = {len(src) for _, src in sources}
        if not problems and len(lengths) > 1:
            given = ", ".join(f"{e.key or e.upstream_task.name}={len(src)}" for e, src in sources)
            problems.append(
                f"Task {task.name!r} cannot map: its mapped arguments have different lengths "
                f"({given}); give them the same length, or wrap one in unmapped(...) to pass "
                "it whole to every child"
            )
        if problems:
            inputs = [self._whole_input(plan, e) for e in edges]
            batch[key] = self._node(
                plan, task, batch, inputs, initial_state=initial, map_error=problems[0]
            )
            plan.outputs[task] = _Output(single=key)
            return set()

        n = lengths.pop() if lengths else 0
        by_edge = {e: src for e, src in sources}
        whole = {e: self._whole_input(plan, e) for e in edges if not e.mapped}
        if n == 0 and whole:
            # No child will check the condition, unmapped inputs or waits: one node does, so
            # an empty map in a branch not taken is Skipped, not an empty Mapped.
            spec = NodeSpec(tuple(i for i, _ in whole.values()), None, initial)
            args = [k for _, keys in whole.values() for k in keys]
            batch[key] = (
                run_empty_map,
                self._def_key(plan, task, batch),
                plan.ctx_key,
                spec,
                *args,
            )
            plan.outputs[task] = _Output(single=key)
            return set()
        children = []
        for i in range(n):
            inputs = []
            for e in edges:
                if e.mapped:
                    src_key, index = by_edge[e][i]
                    inputs.append((InputSpec(e.key, -1, index, False), [src_key]))
                else:
                    inputs.append(whole[e])
            child_key = f"{key}-{i}"
            batch[child_key] = self._node(
                plan, task, batch, inputs, map_index=i, initial_state=initial
            )
            children.append(child_key)
        plan.outputs[task] = _Output(children=children)
        return set()

    # -- completion ----------------------------------------------------------------------
    def _collect(self, plan: _Plan) -> dict[Task, State]:
        keys = [k for out in plan.outputs.values() for k in out.keys()]
        values = self.executor.gather(keys)
        self.executor.release(keys)
        states: dict[Task, State] = {}
        for task, out in plan.outputs.items():
            if out.children is None:
                states[task] = _as_state(values[out.single or ""], task)
                continue
            children = [_as_state(values[k], task) for k in out.children]
            states[task] = _mapped_state(task, children)
        return states

    def _flow_state(self, states: Mapping[Task, State]) -> State:
        reference = self.flow.reference_tasks()
        failed, unfinished, cancelled = [], [], []
        for t in reference:
            s = states[t]
            children = s.map_states if isinstance(s, Mapped) else (s,)
            if any(c.is_failed() for c in children):
                failed.append(t.name)
            elif any(not c.is_finished() for c in children):
                unfinished.append(t.name)
            elif any(c.is_cancelled() for c in children):
                cancelled.append(t.name)
        paused = [t.name for t, s in states.items() if s.is_paused()]
        if failed:
            return Failed(f"Some reference tasks failed: {_names(failed)}.")
        if unfinished:
            if paused:
                return Paused(
                    f"Tasks {_names(paused)} are paused; resume them with "
                    "flow.run(task_states={task: Resume()})."
                )
            return Pending(f"Some reference tasks did not finish: {_names(unfinished)}.")
        if cancelled:
            return Cancelled(f"Some reference tasks were cancelled: {_names(cancelled)}.")
        skipped = [t.name for t in reference if states[t].is_skipped()]
        if skipped:
            return Success(
                f"All reference tasks succeeded or skipped (skipped: {_names(skipped)})."
            )
        return Success("All reference tasks succeeded.")


class _Literal(str):
    """A string argument passed as it is: executors treat plain ``str`` args as keys, and
    ``type(arg) is str`` is False for this subclass."""

    __slots__ = ()


def _element_sources(out: _Output, shape: Shape) -> list[tuple[str, int | tuple[int, ...] | None]]:
    """Where each element of a mapped input comes from: (state key, index into its result)."""
    if isinstance(shape.lengths, int):
        assert out.single is not None
        return [(out.single, i) for i in range(shape.lengths)]
    lengths = shape.lengths or ()
    if out.children is not None:  # flattened over a mapped task: element k of child j
        return [(out.children[j], k) for j, n in enumerate(lengths) for k in range(n)]
    assert out.single is not None  # flattened over a plain task: element [j][k]
    return [(out.single, (j, k)) for j, n in enumerate(lengths) for k in range(n)]


def _as_state(value: Any, task: Task) -> State:
    if isinstance(value, State):
        return value
    if isinstance(value, BaseException):
        return Crashed(
            f"Task {task.name!r} was lost: {type(value).__name__}: {value}", exception=value
        )
    raise HeadwaterError(f"Executor returned {value!r} for task {task.name!r} instead of a State")


def _mapped_state(task: Task, children: list[State]) -> State:
    counts: dict[str, int] = {}
    for c in children:
        counts[type(c).__name__] = counts.get(type(c).__name__, 0) + 1
    summary = ", ".join(f"{n} {name}" for name, n in counts.items()) or "no children"
    new = Mapped(f"Mapped {len(children)} children: {summary}.", map_states=children)
    try:
        return TaskRunner(task).transition(Pending(), new)
    except signals.ENDRUN as end:  # a failing handler ends it Failed
        return end.end_state


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


__all__ = ["FlowRunner", "NodeSpec", "TaskDef", "run_node", "shape_of"]
