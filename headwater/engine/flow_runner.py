"""The flow runner: compiles a flow into a task graph, hands it to an executor in batches,
and turns the final task states into the flow's state.

Design note
-----------
Every node of the compiled graph calls a pure function of :mod:`headwater.engine.nodes`
(:func:`~headwater.engine.nodes.run_node` for a task or a mapped child), which rebuilds the
task's inputs from its upstream states and runs :class:`~headwater.engine.runner.TaskRunner`.
A node's arguments are small: the key of the task's definition (a literal shipped once per
run, holding the Task and its constants), the key of the flow context (also a literal), a
:class:`~headwater.engine.nodes.NodeSpec` (how the upstream states map onto arguments; no
values), and the keys of its upstream states. This module is the driver's side: the planner,
the submission loop, collection and repairs.

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

A map of more than ``MAX_UNBATCHED`` children (or with ``batch_size`` > 1) is planned as
*batches*: one :func:`run_batch` node per run of consecutive children, which runs each child
through the same TaskRunner, one after the other, and returns their states as one compact
:class:`~headwater.engine.children.StateBatch`. A batch of an element-wise map reads only the
upstream batches it overlaps; a reduce reads every batch and sees the children's states
through a compact :class:`~headwater.engine.children.ChildStates`. The driver ends with one
StateBatch per batch, never a State per child (docs/notices/0010-batched-maps.md).

A map with no children is Mapped with no children, and a reduce of it receives ``[]``. When
it has inputs that are not mapped (a ``case`` condition, an ``unmapped`` argument, a wait),
no child would check them, so one node (:func:`run_empty_map`) checks its conditions and
trigger instead: an empty map in a branch not taken is Skipped like the rest of the branch.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as _dt
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from headwater import pickling
from headwater.engine import caching
from headwater.engine.batches import (
    MAX_UNBATCHED,
    BatchInput,
    BatchSpec,
    auto_batch_size,
    run_batch,
)
from headwater.engine.children import ChildStates, StateBatch
from headwater.engine.nodes import (
    FlowContext,
    InputSpec,
    NodeSpec,
    Shape,
    TaskDef,
    _mapped_state,
    run_empty_map,
    run_node,
    shape_of,
    strip_result,
)
from headwater.engine.plan import (
    _annotations,
    _as_batch,
    _as_state,
    _count_runs,
    _element_sources,
    _Elements,
    _is_lost,
    _kinds,
    _Literal,
    _Output,
    _Plan,
    _runs_of,
)
from headwater.errors import HeadwaterError
from headwater.model.flow import Edge, Flow
from headwater.model.parameter import resolve_parameters
from headwater.model.states import (
    Cancelled,
    Failed,
    Finished,
    Mapped,
    Paused,
    Pending,
    Retrying,
    Running,
    State,
    Success,
)
from headwater.model.task import Constant, Task
from headwater.runtime.progress import ProgressHook, state_name
from headwater.taskgraph import dependencies, is_node, renamed

logger = logging.getLogger("headwater.flow_runner")


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
        progress: ProgressHook | None = None,
    ) -> State:
        """Run the flow once; see :meth:`Flow.run`.

        ``progress`` hears of task runs planned and finished (:mod:`headwater.runtime.progress`).
        """
        flow = self.flow
        self.progress = progress
        self._slots: int | None = None
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
        plan = _Plan(
            token=run_id[:8], ctx_key=f"flow-context-{run_id[:8]}", wanted=frozenset(wanted)
        )
        ships = bool(getattr(self.executor, "ships_values", False))
        flow_context = FlowContext(MappingProxyType(ctx), ships)
        if ships:
            problem = pickling.pickle_problem(dict(ctx), "context")
            if problem is not None:
                raise HeadwaterError(
                    f"Flow {flow.name!r} cannot run on {self.executor!r}: its parameters or "
                    f"context must pickle to reach the workers, but {problem}"
                )
        state = self._flow_transition(Pending(), Running("Running flow."))
        interrupted = False
        with self.executor.start():
            try:
                self._compile_and_submit(plan, flow_context)
                states = self._collect(plan)
            except KeyboardInterrupt:
                interrupted = True
                states = self._cancel(plan)
        if progress is not None:
            progress.on_run_finished(counts=_count_runs(states))
        final = self._flow_state(states)
        if interrupted:
            final = Cancelled(f"The flow run was interrupted (KeyboardInterrupt). {final.message}")
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
                else:
                    self._finish_planning(plan, task, batch, annotations)
            self._submit(plan, batch, annotations)
            if not blocked:
                return
            ready = self.executor.wait_any(sorted(waiting))
            got = self.executor.gather(ready)
            self.executor.release(ready)
            lost = {k: v for k, v in got.items() if isinstance(v, BaseException)}
            plan.shapes.update({k: v for k, v in got.items() if k not in lost})
            if lost:  # something upstream of a shape was lost: repair it, then wait again
                self._settle(plan)
                current = set(plan.shape_keys.values())
                for k, exc in lost.items():
                    if k in current:  # not renamed by the repair: the shape node itself failed
                        plan.shapes[k] = Shape(
                            problem=f"its length could not be computed ({type(exc).__name__}: {exc})"
                        )
            pending = [t for t in pending if t in blocked]

    def _finish_planning(
        self,
        plan: _Plan,
        task: Task,
        batch: dict[str, Any],
        annotations: dict[str, dict[str, Any]],
    ) -> None:
        """Check that a planned task can travel and annotate its nodes."""
        keys = plan.outputs[task].keys()
        def_key = plan.def_keys.get(task)
        if def_key in batch and getattr(self.executor, "ships_values", False):
            problem = pickling.pickle_problem(batch[def_key], "task")
            if problem is not None:
                del batch[def_key]
                message = (
                    f"Task {task.name!r} cannot be sent to the workers of {self.executor!r}: "
                    f"it does not pickle: {problem}. Define its function and the objects it "
                    "uses at module level, or create unpicklable objects inside the task."
                )
                starts = plan.outputs[task].starts
                for i, k in enumerate(keys):
                    if starts is not None:
                        batch[k] = StateBatch.of(
                            starts[i],
                            [Failed(message, map_index=j) for j in range(starts[i], starts[i + 1])],
                        )
                        continue
                    index = i if plan.outputs[task].children is not None else None
                    batch[k] = Failed(message, map_index=index)
        out = plan.outputs[task]
        node = batch.get(out.single or "")
        if def_key in batch and node is not None and is_node(node) and node[1] == def_key:
            # A task with one node: its definition rides inside that node (no extra key,
            # no transfer between workers); only a map's children share it as a literal.
            batch[out.single or ""] = (node[0], batch.pop(def_key), *node[2:])
        ann = _annotations(task)
        for k in keys:
            if not is_node(batch.get(k)):
                continue
            if ann:
                annotations[k] = ann

    def _submit(
        self, plan: _Plan, batch: dict[str, Any], annotations: dict[str, dict[str, Any]]
    ) -> None:
        for k, v in batch.items():
            if is_node(v):
                plan.nodes[k] = v
        plan.submitted.extend(batch)
        if self.progress is not None:
            self._watch_progress(plan, batch)
        self.executor.submit(batch, annotations)

    def _def_key(self, plan: _Plan, task: Task, batch: dict[str, Any]) -> str:
        key = plan.def_keys.get(task)
        if key is None:
            key = plan.def_keys[task] = f"taskdef-{task.slug}-{plan.token}"
            result, checkpoint = caching.resolve_result(
                task, self.flow.result, self.flow.checkpoint, self.checkpoint_switch
            )
            constants = MappingProxyType(dict(self.flow.constants.get(task, {})))
            readback = checkpoint and bool(getattr(self.executor, "loses_results", False))
            batch[key] = TaskDef(task, constants, result, checkpoint, readback)
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
        if out.batches is not None:
            spec = InputSpec(edge.key, len(out.batches), None, edge.flattened, gate, None, True)
            return spec, list(out.batches)
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
        given = getattr(initial, "map_states", None)
        if isinstance(initial, Mapped) and isinstance(given, ChildStates):
            keys = [f"{key}-batch{b.start}" for b in given.batches]
            batch.update(zip(keys, given.batches, strict=True))
            starts = [b.start for b in given.batches] + [len(given)]
            plan.outputs[task] = _Output(batches=keys, starts=starts)
            return set()
        if isinstance(initial, Mapped):
            children = [f"{key}-{i}" for i in range(len(initial.map_states))]
            for child_key, child_state in zip(children, initial.map_states, strict=True):
                batch[child_key] = child_state
            plan.outputs[task] = _Output(children=children)
            return set()

        # Work out, for each mapped edge, where child i takes its element from.
        sources: list[tuple[Edge, _Elements]] = []
        needs: set[str] = set()
        problems: list[str] = []
        for e in edges:
            if not e.mapped:
                continue
            up = e.upstream_task
            out = plan.outputs[up]
            what = "the value given" if isinstance(up, Constant) else f"the result of {up.name!r}"
            if out.mapped and not e.flattened:
                sources.append(
                    (
                        e,
                        _Elements(
                            len(out.keys()) if out.starts is None else out.starts[-1], out=out
                        ),
                    )
                )
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
        lengths = {src.n for _, src in sources}
        if not problems and len(lengths) > 1:
            given = ", ".join(f"{e.key or e.upstream_task.name}={src.n}" for e, src in sources)
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
        size = task.batch_size or (
            1 if n <= MAX_UNBATCHED else auto_batch_size(n, self._parallelism())
        )
        if size > 1 and n > 1:
            self._plan_batches(plan, task, batch, key, n, size, edges, by_edge, whole, initial)
            return set()
        children = []
        for i in range(n):
            inputs = []
            for e in edges:
                if e.mapped:
                    src_key, at, index = by_edge[e].at(i)
                    inputs.append((InputSpec(e.key, -1, index, False, False, at), [src_key]))
                else:
                    inputs.append(whole[e])
            child_key = f"{key}-{i}"
            batch[child_key] = self._node(
                plan, task, batch, inputs, map_index=i, initial_state=initial
            )
            children.append(child_key)
        plan.outputs[task] = _Output(children=children)
        return set()

    def _parallelism(self) -> int:
        """The executor's parallelism, asked once per run (a round trip on distributed)."""
        slots = getattr(self, "_slots", None)
        if slots is None:
            slots = self._slots = _parallelism(self.executor)
        return slots

    def _plan_batches(
        self,
        plan: _Plan,
        task: Task,
        batch: dict[str, Any],
        key: str,
        n: int,
        size: int,
        edges: Sequence[Edge],
        by_edge: Mapping[Edge, _Elements],
        whole: Mapping[Edge, tuple[InputSpec, list[str]]],
        initial: State | None,
    ) -> None:
        """Plan a map as nodes of ``size`` children each (notice 0010). A batch of an
        element-wise map over a batched map reads only the upstream batches it overlaps
        (the same one when both have the same size)."""
        def_key = self._def_key(plan, task, batch)
        keys: list[str] = []
        starts = list(range(0, n, size))
        for s in starts:
            e_ = min(n, s + size)
            inputs: list[BatchInput] = []
            args: list[str] = []
            for e in edges:
                if not e.mapped:
                    spec, ks = whole[e]
                    inputs.append(
                        BatchInput(
                            spec.key, "whole", spec.count, spec.flattened, spec.gate, spec.batched
                        )
                    )
                    args.extend(ks)
                    continue
                src = by_edge[e]
                if src.single is not None:
                    inputs.append(BatchInput(e.key, "range"))
                    args.append(src.single)
                elif src.out is not None and src.out.children is not None:
                    ks = src.out.children[s:e_]
                    inputs.append(BatchInput(e.key, "span", len(ks)))
                    args.extend(ks)
                elif src.out is not None:
                    up_starts = src.out.starts or [0]
                    j0 = bisect.bisect_right(up_starts, s) - 1
                    j1 = bisect.bisect_left(up_starts, e_, j0)
                    ks = (src.out.batches or [])[j0:j1]
                    inputs.append(BatchInput(e.key, "span", len(ks), batched=True))
                    args.extend(ks)
                else:
                    offsets: dict[str, int] = {}
                    explicit = []
                    for i in range(s, e_):
                        src_key, at, index = src.at(i)
                        offset = offsets.setdefault(src_key, len(offsets))
                        explicit.append((offset, at, index))
                    inputs.append(
                        BatchInput(e.key, "explicit", len(offsets), explicit=tuple(explicit))
                    )
                    args.extend(offsets)
            node_key = f"{key}-batch{s}"
            spec_ = BatchSpec(s, e_, tuple(inputs), initial)
            batch[node_key] = (run_batch, def_key, plan.ctx_key, spec_, *args)
            keys.append(node_key)
        plan.outputs[task] = _Output(batches=keys, starts=[*starts, n])

    # -- completion ----------------------------------------------------------------------
    def _collect(self, plan: _Plan) -> dict[Task, State]:
        values = self._settle(plan)
        self.executor.release(plan.submitted)
        return self._states_of(plan, values)

    def _states_of(self, plan: _Plan, values: Mapping[str, Any]) -> dict[Task, State]:
        states: dict[Task, State] = {}
        for task, out in plan.outputs.items():
            if out.batches is not None and out.starts is not None:
                parts = [
                    _as_batch(values[k], task, out.starts[j], out.starts[j + 1])
                    for j, k in enumerate(out.batches)
                ]
                states[task] = _mapped_state(task, ChildStates(parts))
                continue
            if out.children is None:
                states[task] = _as_state(values[out.single or ""], task)
                continue
            children = [_as_state(values[k], task, i) for i, k in enumerate(out.children)]
            states[task] = _mapped_state(task, children)
        return states

    def _cancel(self, plan: _Plan) -> dict[Task, State]:
        """After Ctrl-C: cancel everything, keep the states that are final, and say
        Cancelled for the rest (tasks never planned included)."""
        cancel = getattr(self.executor, "cancel", None)
        if cancel is not None:
            cancel(plan.submitted)
        values = self._gather_states(plan, plan.outputs)
        self.executor.release(plan.submitted)
        states = self._states_of(plan, values)
        for task in self.flow.tasks:
            if task not in states:
                states[task] = Cancelled("Not run: the flow run was interrupted.")
        return states

    # -- repairs (lost tasks; docs/notices/0008-compilation.md) ---------------------------
    def _settle(self, plan: _Plan) -> dict[str, Any]:
        """Gather the state of every planned key, repairing lost ones until none is left.

        After ``_MAX_REPAIR_ROUNDS`` rounds the lost keys left are given up on: each root
        becomes Crashed and what depends on it runs once more, reading the Crashed state;
        whatever is lost even then is Crashed too.

        Returns:
            Output key -> its state, or the exception of a key that could not be repaired.
        """
        values: dict[str, Any] = {}
        for round_ in range(_MAX_REPAIR_ROUNDS + 2):
            values = self._gather_states(plan, plan.outputs, plan.settled)
            plan.settled.update(values)
            lost = {k: v for k, v in values.items() if _is_lost(v)}
            if (
                not lost
                or round_ > _MAX_REPAIR_ROUNDS
                or not self._repair(plan, lost, give_up=round_ == _MAX_REPAIR_ROUNDS)
            ):
                break
        return values

    def _gather_states(
        self,
        plan: _Plan,
        outputs: Mapping[Task, _Output],
        known: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The values of the output keys of ``outputs``: whole for the tasks the caller
        asked for, without their results for the others (made where the results are:
        ``Executor.gather_summaries``), so no result nobody asked for reaches the driver.
        Keys in ``known`` are not asked again."""
        known = known or {}
        whole: list[str] = []
        stripped: list[str] = []
        for task, out in outputs.items():
            for k in out.keys():
                if k not in known:
                    (whole if task in plan.wanted else stripped).append(k)
        values = {k: known[k] for out in outputs.values() for k in out.keys() if k in known}
        if whole:
            values.update(self.executor.gather(whole))
        if stripped:
            summaries = getattr(self.executor, "gather_summaries", None)
            if callable(summaries):
                values.update(summaries(stripped, strip_result))
            else:  # a duck-typed executor: strip here
                got = self.executor.gather(stripped)
                values.update({k: strip_result(v) for k, v in got.items()})
        return values

    def _repair(
        self, plan: _Plan, lost: Mapping[str, BaseException], give_up: bool = False
    ) -> bool:
        """Resubmit what a lost key took down with it, under new keys.

        A *root* (a lost key none of whose inputs was lost: Dask gave up on it) runs again
        while its task has retries left (and ``give_up`` is False), else becomes a Crashed
        state; everything downstream of a root in the submitted graph is submitted again,
        reading the new keys.
        """
        owner = {k: t for t, out in plan.outputs.items() for k in out.keys()}
        roots = [k for k in lost if not any(d in lost for d in dependencies(plan.nodes.get(k)))]
        if not roots:
            return False
        dependents: dict[str, list[str]] = {}
        for k, node in plan.nodes.items():
            for d in dependencies(node):
                dependents.setdefault(d, []).append(k)
        closure: set[str] = set()
        todo = list(roots)
        while todo:
            for d in dependents.get(todo.pop(), ()):
                if d not in closure:
                    closure.add(d)
                    todo.append(d)
        rename: dict[str, str] = {}
        batch: dict[str, Any] = {}
        annotations: dict[str, dict[str, Any]] = {}

        def new_key(old: str) -> str:
            plan.crashes["#"] = plan.crashes.get("#", 0) + 1
            base = old.split("~", 1)[0]
            rename[old] = key = f"{base}~{plan.crashes['#']}"
            return key

        for r in roots:
            task, lost_node, exc = owner[r], plan.nodes.get(r), lost[r]
            base = r.split("~", 1)[0]
            crashes = plan.crashes[base] = plan.crashes.get(base, 0) + 1
            key = new_key(r)
            if (
                lost_node is not None
                and lost_node[0] in (run_node, run_batch)
                and crashes <= task.max_retries
                and not give_up
            ):
                batch[key] = _retry_later(lost_node, task, crashes, exc)
                logger.warning(
                    "Task %r was lost (%s); running it again in %gs",
                    task.name,
                    exc,
                    task.retry_delay.total_seconds(),
                )
            else:
                spec = lost_node[3] if lost_node is not None and len(lost_node) > 3 else None
                if isinstance(spec, BatchSpec):
                    batch[key] = _as_batch(exc, task, spec.start, spec.stop, crashes)
                else:
                    batch[key] = _as_state(exc, task, getattr(spec, "map_index", None), crashes)
        for k in plan.nodes:
            if k in closure and k not in rename:
                node = plan.nodes[k]
                key = new_key(k)
                batch[key] = (node[0], *(renamed(a, rename) for a in node[1:]))
        for k, key in rename.items():
            if k in owner and is_node(batch[key]):
                ann = _annotations(owner[k])
                if ann:
                    annotations[key] = ann
        for out in plan.outputs.values():
            if out.single is not None:
                out.single = rename.get(out.single, out.single)
            if out.children is not None:
                out.children = [rename.get(k, k) for k in out.children]
            if out.batches is not None:
                out.batches = [rename.get(k, k) for k in out.batches]
        for k in rename:
            plan.nodes.pop(k, None)
            plan.settled.pop(k, None)
        for shape, k in list(plan.shape_keys.items()):
            plan.shape_keys[shape] = rename.get(k, k)
        self.executor.release(list(rename))
        self._submit(plan, batch, annotations)
        return True

    # -- progress (headwater/runtime/progress.py) -------------------------------------------
    def _watch_progress(self, plan: _Plan, batch: Mapping[str, Any]) -> None:
        """Tell the hook how many task runs are planned, and watch this batch's."""
        assert self.progress is not None
        runs = [(k, n) for out in plan.outputs.values() for k, n in _runs_of(out)]
        self.progress.on_tasks_planned(total=sum(n for _, n in runs))
        self._weights = {k: n for k, n in runs if n != 1}
        keys = [k for k, _ in runs]
        nodes = []
        for k in keys:
            if k not in batch:
                continue
            if is_node(batch[k]):
                nodes.append(k)
            else:  # a state given in task_states, or a repair's Crashed: finished already
                self._on_key_done(k, type(batch[k]))
        watch = getattr(self.executor, "watch", None)
        if watch is not None and nodes:
            watch(nodes, self._on_key_done)

    def _on_key_done(self, key: str, value_type: Any) -> None:
        if self.progress is not None:
            n = self._weights.get(key, 1)
            self.progress.on_task_finished(counts={state_name(value_type): n})

    def _flow_state(self, states: Mapping[Task, State]) -> State:
        reference = self.flow.reference_tasks()
        failed, unfinished, cancelled = [], [], []
        for t in reference:
            kinds = _kinds(states[t])
            if any(issubclass(k, Failed) for k in kinds):
                failed.append(t.name)
            elif any(not issubclass(k, Finished) for k in kinds):
                unfinished.append(t.name)
            elif any(issubclass(k, Cancelled) for k in kinds):
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


_MAX_REPAIR_ROUNDS = 100
"""Bounds the repair loop (each round spends a retry or gives up on every lost key)."""


def _parallelism(executor: Any) -> int:
    """How many tasks the executor runs at once, as far as it says (1 if it does not)."""
    fn = getattr(executor, "parallelism", None)
    if callable(fn):
        try:
            return max(1, int(fn()))
        except Exception:
            return 1
    n = getattr(executor, "num_workers", None)
    return n if isinstance(n, int) and n > 0 else 1


def _retry_later(node: tuple[Any, ...], task: Task, crashes: int, exc: BaseException) -> Any:
    """The lost node of a task run again: a plain task starts from a Retrying state that
    carries its run count (so its own retries count the lost runs) and waits out its
    ``retry_delay``; a batch of children runs again at once."""
    spec = node[3] if len(node) > 3 else None
    if node[0] is not run_node or not isinstance(spec, NodeSpec) or spec.initial_state:
        return node
    retry = Retrying(
        f"Lost with its worker ({type(exc).__name__}); run {crashes + 1} of "
        f"{task.max_retries + 1} after {task.retry_delay.total_seconds():g}s",
        start_time=_dt.datetime.now(_dt.UTC) + task.retry_delay,
        run_count=crashes,
        map_index=spec.map_index,
    )
    return (*node[:3], dataclasses.replace(spec, initial_state=retry), *node[4:])


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


__all__ = [
    "BatchSpec",
    "FlowRunner",
    "NodeSpec",
    "TaskDef",
    "auto_batch_size",
    "run_batch",
    "run_node",
    "shape_of",
]
