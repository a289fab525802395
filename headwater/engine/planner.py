"""The planner: compiles a flow run into graph nodes and hands them to the executor in batches.

Design note
-----------
Every node of the compiled graph calls a pure function of :mod:`headwater.engine.nodes`
(:func:`~headwater.engine.nodes.run_node` for a task or a mapped child), which rebuilds the
task's inputs from its upstream states and runs :class:`~headwater.engine.runner.TaskRunner`.
A node's arguments are small: the key of the task's definition (a literal shipped once per
run, holding the Task and its constants), the key of the flow context (also a literal), a
:class:`~headwater.engine.nodes.NodeSpec` (how the upstream states map onto arguments; no
values), and the keys of its upstream states.

Compilation walks the tasks in topological order. A task whose shape is known is planned at
once: a plain task is one node, a mapped task one node per child or per batch of children. A
mapped task's number of children is known when it maps over a constant or element-wise over
another mapped task already planned. Otherwise (mapping over another task's output, or
flattening) a small *shape* node computes the length(s) of the upstream result on the
worker, and the task and everything downstream of it wait. Each round submits the ready part
of the graph as one batch, waits for a shape (or a pilot, below), and plans again. The results
stay with the executor; only shapes, paces and, at the end, states come back.

A batch node (:func:`~headwater.engine.batches.run_batch`) runs consecutive children, each
a task run of its own, and returns their states as one compact
:class:`~headwater.engine.children.StateBatch`. ``batch_size`` fixes its size; else a map of
no more children than the executor's slots is one node per child, and a larger one starts
with a few *pilot* nodes whose first to finish tells the pace that sizes the rest
(:mod:`headwater.engine.sizing`; docs/notices/0010-batched-maps.md). Element-wise maps keep
child ``i`` of B depending only on child ``i`` of A (a batch only on the upstream batches it
overlaps), so a long per-element pipeline runs depth-first. A reduce (a plain edge from a
mapped task) depends on every child, and its trigger sees every child's state (through a
compact :class:`~headwater.engine.children.ChildStates` when batched). A condition's gate may
itself be mapped (a ``case`` inside ``apply_map``): child ``i`` then checks gate child ``i``
before its trigger.

When a map cannot be expanded (the upstream did not succeed, its result is not a sized
sequence, mapped arguments differ in length) the mapped task becomes a single node whose run
checks the trigger first (so an upstream failure gives TriggerFailed and an upstream skip
gives Skipped, as for any task) and then fails with a message saying why.

A map with no children is Mapped with no children, and a reduce of it receives ``[]``. When
it has inputs that are not mapped (a ``case`` condition, an ``unmapped`` argument, a wait),
no child would check them, so one node (:func:`~headwater.engine.nodes.run_empty_map`)
checks its conditions and trigger instead: an empty map in a branch not taken is Skipped
like the rest of the branch.

States given to the run (``task_states``) are kept when finished: as literals in the graph,
never run. A mapped task given a Mapped state keeps it whole when every child finished;
otherwise its map is planned again and each child starts from its given state (a finished
one is a literal, None starts from scratch), as in Prefect 1; when the inputs no longer have
as many elements as the given children, every child starts from scratch.

A resumed run (:mod:`headwater.engine.resume`) plans the same way: a task (or child) kept as
it was is a literal, a kept batch is its states; the others are nodes, whose task definition
says where an earlier run's checkpoints are (read back when provably theirs), and whose spec
says which of them run fresh (``NodeSpec.fresh``, ``BatchSpec.fresh``).

Everything the planner learns about one run is in its :class:`~headwater.engine.plan.Plan`;
a Planner is made for one run and tells the run hooks (:mod:`headwater.engine.hooks`) how
many task runs are planned and which finished.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from headwater.engine import caching, sizing
from headwater.engine.batches import BatchInput, BatchSpec, run_batch
from headwater.engine.children import ChildStates, StateBatch
from headwater.engine.hooks import RunHook
from headwater.engine.nodes import (
    FlowContext,
    InputSpec,
    NodeSpec,
    Shape,
    TaskDef,
    run_empty_map,
    run_node,
    shape_of,
)
from headwater.engine.plan import (
    Elements,
    LiteralArg,
    MapJob,
    Output,
    Plan,
    annotations_of,
    element_sources,
    is_gate_edge,
    kinds,
    parallelism,
    span_input,
)
from headwater.engine.resume import ChildPlan, GivenChildren, ResumePlan
from headwater.engine.shipping import (
    FIRST_FLUSH,
    INLINE_CONTEXT_BYTES,
    Literals,
    fail_unpicklable,
    placed,
)
from headwater.engine.watching import RunWatch
from headwater.executors.base import Executor
from headwater.model.builtin_tasks import Constant
from headwater.model.flow import Edge, Flow
from headwater.model.states import Finished, Mapped, State, Success
from headwater.model.task import Task
from headwater.taskgraph import is_node

Inputs = Sequence[tuple[InputSpec, list[str]]]
"""A node's inputs: how each becomes an argument, and the upstream keys it reads."""


class Planner:
    """Plans one flow run onto an executor and submits it (see the module's note).

    Args:
        flow: the flow.
        executor: where the nodes run (started by the caller).
        plan: the run's bookkeeping.
        task_states: initial states given to the run.
        hooks: told of task runs planned and finished.
        resume: what a resumed run keeps, reads back and runs (:mod:`headwater.engine.resume`).
    """

    def __init__(
        self,
        flow: Flow,
        executor: Executor,
        plan: Plan,
        task_states: Mapping[Task, State],
        hooks: Sequence[RunHook] = (),
        resume: ResumePlan | None = None,
    ) -> None:
        self.flow = flow
        self.executor = executor
        self.plan = plan
        self.task_states = task_states
        self.hooks = tuple(hooks)
        self.checkpoint_switch = caching.checkpoint_switch()
        self.resume = resume
        self.watching = RunWatch(plan, executor, hooks)
        self._slugs: dict[Task, str] | None = None
        self._ctx: FlowContext | str = plan.ctx_key
        self._context: FlowContext | None = None
        self._inlines = bool(getattr(executor, "inlines_literals", False))
        self.literals = Literals()

    # -- rounds --------------------------------------------------------------------------
    def compile_and_submit(self, flow_context: FlowContext) -> None:
        """Plan every task and submit it, waiting for the shapes of run-time maps. The
        context rides inside every node when the executor takes that and its pickle is at
        most :data:`INLINE_CONTEXT_BYTES` (``plan.context_bytes``), else it is one literal
        every node reads."""
        plan = self.plan
        pending = self.flow.sorted_tasks()
        size = plan.context_bytes
        small = size <= INLINE_CONTEXT_BYTES and (self._inlines or not size)
        self._context, self._ctx = flow_context, flow_context if small else plan.ctx_key
        first: dict[str, Any] = {} if small else {plan.ctx_key: flow_context}
        flush_at = FIRST_FLUSH
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
                needs = self.plan_task(task, batch)
                if needs:
                    blocked.add(task)
                    waiting |= needs
                    pilots = plan.pilots.get(task)
                    if pilots is not None and pilots.batches and pilots.batches[0] in batch:
                        self._annotate(task, pilots, batch, annotations)
                else:
                    self._finish_planning(task, batch, annotations)
                if len(batch) >= flush_at:  # the first nodes run while the rest is planned
                    self.submit(batch, annotations)
                    batch, annotations = {}, {}
                    flush_at *= 4
            self.submit(batch, annotations)
            if not blocked:
                return
            self._learn_shapes(waiting)
            pending = [t for t in pending if t in blocked]

    def _learn_shapes(self, waiting: set[str]) -> None:
        """Wait for some of the shape nodes and pilots deferred tasks need, and keep what
        they say."""
        from headwater.engine.collect import settle  # repairs submit through this planner

        plan, executor = self.plan, self.executor
        ready = executor.wait_any(sorted(waiting))
        pilots = {k: t for t, out in plan.pilots.items() for k in out.keys()}
        self._learn_paces({k: pilots[k] for k in ready if k in pilots})
        ready = {k for k in ready if k not in pilots}
        if not ready:
            return
        got = executor.gather(ready)
        executor.release(ready)
        lost = {k: v for k, v in got.items() if isinstance(v, BaseException)}
        plan.shapes.update({k: v for k, v in got.items() if k not in lost})
        if lost:  # something upstream of a shape was lost: repair it, then wait again
            settle(self)
            current = set(plan.shape_keys.values())
            for k, exc in lost.items():
                if k in current:  # not renamed by the repair: the shape node itself failed
                    plan.shapes[k] = Shape(
                        problem=f"its length could not be computed ({type(exc).__name__}: {exc})"
                    )

    def _learn_paces(self, ready: Mapping[str, Task]) -> None:
        """Keep the pace (seconds per child) that finished pilots tell, made where their
        values are; the fastest pilot of a task tells its pace (notice 0010)."""
        if not ready:
            return
        plan, executor = self.plan, self.executor
        summaries = getattr(executor, "gather_summaries", None)
        if callable(summaries):
            got = summaries(list(ready), sizing.pace_of)
        else:  # a duck-typed executor: summarize here
            got = {k: sizing.pace_of(v) for k, v in executor.gather(list(ready)).items()}
        for k, task in ready.items():
            plan.measured.add(k)
            pace = got.get(k)
            if isinstance(pace, float) and pace < plan.paces.get(task, float("inf")):
                plan.paces[task] = pace

    def submit(self, batch: dict[str, Any], annotations: dict[str, dict[str, Any]]) -> None:
        """Record a batch's nodes and hand the batch to the executor."""
        plan = self.plan
        for k, v in batch.items():
            if is_node(v):
                plan.nodes[k] = v
        plan.submitted.extend(batch)
        if self.hooks:
            self.watching.watch(batch)
        self.executor.submit(batch, annotations)

    # -- one task ------------------------------------------------------------------------
    def plan_task(self, task: Task, batch: dict[str, Any]) -> set[str]:
        """Add ``task``'s node(s) to ``batch``; return the shape keys it still waits for."""
        key = f"{task.slug}-{self.plan.token}"
        initial = self.task_states.get(task)
        edges = self.flow.upstream_edges(task)
        given: ChildPlan | None = None
        if self.resume is not None:
            initial, given = self.resume.whole(task), self.resume.children(task)
        if isinstance(initial, Mapped) and self.flow.is_mapped(task):
            if all(issubclass(k, Finished) for k in kinds(initial)):
                self._plan_given_map(task, key, initial, batch)
                return set()
            given, initial = GivenChildren(initial.map_states), None  # unfinished ones run
        if not self.flow.is_mapped(task) or (initial is not None and initial.is_finished()):
            if initial is not None and initial.is_finished():
                batch[key] = initial
            else:
                inputs = [self._whole_input(e) for e in edges]
                batch[key] = self._node(task, batch, inputs, initial_state=initial)
                if (
                    self._inlines
                    and type(task) is Constant
                    and not edges
                    and initial is None
                    and self._travels(task, batch)
                ):
                    self.literals.run_constant(key, self.plan.def_keys[task], self._context, batch)
            self.plan.outputs[task] = Output(single=key)
            return set()
        sources, needs, problems = self._map_sources(task, edges, batch)
        if needs:
            return needs
        lengths = {src.n for _, src in sources}
        if not problems and len(lengths) > 1:
            sizes = ", ".join(f"{e.key or e.upstream_task.name}={src.n}" for e, src in sources)
            problems.append(
                f"Task {task.name!r} cannot map: its mapped arguments have different lengths "
                f"({sizes}); give them the same length, or wrap one in unmapped(...) to pass "
                "it whole to every child"
            )
        if problems:
            inputs = [self._whole_input(e) for e in edges]
            batch[key] = self._node(
                task, batch, inputs, initial_state=initial, map_error=problems[0]
            )
            self.plan.outputs[task] = Output(single=key)
            return set()
        n = lengths.pop() if lengths else 0
        if given is not None and given.length not in (None, n):
            given = None  # the inputs changed length: no given child is known to match
        job = MapJob(task, key, n, edges, dict(sources), initial, given)
        return self._plan_map(job, batch)

    def _plan_given_map(self, task: Task, key: str, initial: Mapped, batch: dict[str, Any]) -> None:
        """A mapped task given a Mapped initial state: its children's states as literals."""
        given = initial.map_states
        if isinstance(given, ChildStates):
            keys = [f"{key}-batch{b.start}" for b in given.batches]
            batch.update(zip(keys, given.batches, strict=True))
            starts = [b.start for b in given.batches] + [len(given)]
            self.plan.outputs[task] = Output(batches=keys, starts=starts)
            return
        children = [f"{key}-{i}" for i in range(len(given))]
        batch.update(zip(children, given, strict=True))
        self.plan.outputs[task] = Output(children=children)

    def _map_sources(
        self, task: Task, edges: Sequence[Edge], batch: dict[str, Any]
    ) -> tuple[list[tuple[Edge, Elements]], set[str], list[str]]:
        """For each mapped edge, where child ``i`` takes its element from; the shape keys
        still to wait for; and why the map cannot be expanded, if it cannot."""
        plan = self.plan
        sources: list[tuple[Edge, Elements]] = []
        needs: set[str] = set()
        problems: list[str] = []
        for e in edges:
            if not e.mapped:
                continue
            up = e.upstream_task
            out = plan.outputs[up]
            if out.mapped and not e.flattened:
                n = len(out.keys()) if out.starts is None else out.starts[-1]
                sources.append((e, Elements(n, out=out)))
                continue
            what = "the value given" if isinstance(up, Constant) else f"the result of {up.name!r}"
            if isinstance(up, Constant) and out.single is not None:
                shape = shape_of(what, e.flattened, Success(result=up.value))
            else:
                shape_key = plan.shape_keys.get((up, e.flattened))
                if shape_key is None:
                    shape_key = plan.shape_keys[(up, e.flattened)] = (
                        f"shape-{up.slug}-{int(e.flattened)}-{plan.token}"
                    )
                    batch[shape_key] = (shape_of, LiteralArg(what), e.flattened, *out.keys())
                if shape_key not in plan.shapes:
                    needs.add(shape_key)
                    continue
                shape = plan.shapes[shape_key]
            if shape.problem is not None:
                arg = f"argument {e.key!r}" if e.key else f"upstream task {up.name!r}"
                problems.append(f"Task {task.name!r} cannot map over {arg}: {shape.problem}")
                continue
            sources.append((e, element_sources(out, shape)))
        return sources, needs, problems

    def _plan_map(self, job: MapJob, batch: dict[str, Any]) -> set[str]:
        """Plan a map: one node per child, batches of ``batch_size`` or adaptive batches
        (:mod:`headwater.engine.sizing`), or (no children but inputs to check) one node
        deciding its state; return the pilots it still waits for."""
        task, edges = job.task, job.edges
        whole = {e: self._whole_input(e) for e in edges if not e.mapped}
        if job.n == 0 and whole:
            # No child will check the condition, unmapped inputs or waits: one node does, so
            # an empty map in a branch not taken is Skipped, not an empty Mapped.
            spec = NodeSpec(tuple(i for i, _ in whole.values()), None, job.initial)
            args = [k for _, keys in whole.values() for k in keys]
            def_key = self._def_key(task, batch)
            batch[job.key] = (run_empty_map, def_key, self._ctx, spec, *args)
            self.plan.outputs[task] = Output(single=job.key)
            return set()
        size = task.batch_size
        if size is None:
            return self._plan_adaptive(job, whole, batch)
        if size > 1 and job.n > 1:
            bounds = [*range(0, job.n, size), job.n]
            keys = self._batch_nodes(job, bounds, whole, batch)
            self.plan.outputs[task] = Output(batches=keys, starts=bounds)
            return set()
        self._plan_children(job, whole, batch)
        return set()

    def _plan_adaptive(
        self, job: MapJob, whole: Mapping[Edge, tuple[InputSpec, list[str]]], batch: dict[str, Any]
    ) -> set[str]:
        """Plan a map's pilots, or, once one finished, the rest sized by its pace, or the
        whole map at once when its task's last run on this cluster was fast (see
        :mod:`headwater.engine.sizing`); return the pilots it still waits for."""
        plan, task, n = self.plan, job.task, job.n
        slots = self._parallelism()
        pilots = plan.pilots.get(task)
        if pilots is None:
            bounds = sizing.pilot_bounds(n, slots)
            if not bounds or not self._travels(task, batch):
                self._plan_children(job, whole, batch)  # (refused as a whole when it cannot travel)
                return set()
            memory = sizing.pace_memory(self.executor)  # notice 0018
            if memory is not None and (pace := memory.get(task)) is not None:
                bounds = sizing.remembered_bounds(n, pace, slots) or bounds  # fast: at once
            cover = bounds[-1]
            pilots = Output(batches=self._batch_nodes(job, bounds, whole, batch), starts=bounds)
            if cover < n and hasattr(self.executor, "summarize_early"):  # their pace is asked
                self.executor.summarize_early(pilots.keys(), sizing.pace_of)
            def_key = self.plan.def_keys[task]
            if self._inlines and def_key in self.literals.inline(pilots.keys(), batch, slots):
                self.literals.hold(def_key, batch)  # sent with the first node reading it
            if cover == n:
                plan.outputs[task] = pilots
                return set()
            plan.pilots[task] = pilots
        assert pilots.batches is not None and pilots.starts is not None
        pace = plan.paces.get(task)
        if pace is None:
            left = {k for k in pilots.batches if k not in plan.measured}
            if left:
                return left
            pace = sizing.NODE_SECONDS  # no pilot told its pace (lost with a worker): as if slow
        cover = pilots.starts[-1]
        size = sizing.rest_size(n - cover, pace, slots)
        bounds = [*range(cover, n, size), n]
        keys = self._batch_nodes(job, bounds, whole, batch)
        plan.outputs[task] = Output(
            batches=pilots.batches + keys, starts=pilots.starts[:-1] + bounds
        )
        return set()

    def _travels(self, task: Task, batch: dict[str, Any]) -> bool:
        """Whether the task's definition can reach the workers (if not, it is planned without
        pilots, and every node of it fails: :meth:`_finish_planning`)."""
        return self._travel_problem(self._def_key(task, batch), batch) is None

    def _travel_problem(self, def_key: str, batch: dict[str, Any]) -> str | None:
        """Why the definition ``batch[def_key]`` cannot reach the workers (None: it can, or
        nothing is shipped); checked once per definition (it pickles the constants)."""
        if def_key not in batch or not getattr(self.executor, "ships_values", False):
            return None
        return self.literals.problem(def_key, batch[def_key])

    def _plan_children(
        self, job: MapJob, whole: Mapping[Edge, tuple[InputSpec, list[str]]], batch: dict[str, Any]
    ) -> None:
        """Plan a map as one node per child."""
        task, given, initial = job.task, job.given, job.initial
        children = []
        for i in range(job.n):
            child_key = f"{job.key}-{i}"
            children.append(child_key)
            child_initial = initial if given is None else given.state(i)
            if child_initial is not None and child_initial.is_finished():
                batch[child_key] = child_initial
                continue
            inputs = []
            for e in job.edges:
                if e.mapped:
                    src_key, at, index = job.by_edge[e].at(i)
                    element = InputSpec(e.key, -1, index, False, is_gate_edge(e), at)
                    inputs.append((element, [src_key]))
                else:
                    inputs.append(whole[e])
            fresh = given is not None and given.fresh(i)
            batch[child_key] = self._node(task, batch, inputs, i, child_initial, fresh=fresh)
        self.plan.outputs[task] = Output(children=children)

    def _batch_nodes(
        self,
        job: MapJob,
        bounds: Sequence[int],
        whole: Mapping[Edge, tuple[InputSpec, list[str]]],
        batch: dict[str, Any],
    ) -> list[str]:
        """Add a batch node for each run of children ``bounds[j] .. bounds[j + 1] - 1``
        (notice 0010); return their keys."""
        task, given = job.task, job.given
        def_key = self._def_key(task, batch)
        keys: list[str] = []
        for s, stop in zip(bounds, bounds[1:], strict=False):
            inputs: list[BatchInput] = []
            args: list[str] = []
            for e in job.edges:
                if e.mapped:
                    spec, ks = span_input(e, job.by_edge[e], s, stop)
                else:
                    whole_spec, ks = whole[e]
                    spec = BatchInput(
                        whole_spec.key,
                        "whole",
                        whole_spec.count,
                        whole_spec.flattened,
                        whole_spec.gate,
                        whole_spec.batched,
                    )
                inputs.append(spec)
                args.extend(ks)
            node_key = f"{job.key}-batch{s}"
            keys.append(node_key)
            batch_spec = BatchSpec(s, stop, tuple(inputs), job.initial)
            batch[node_key] = self._batch_node(def_key, batch_spec, args, given)
        return keys

    def _batch_node(
        self, def_key: str, spec: BatchSpec, args: list[str], given: ChildPlan | None
    ) -> Any:
        """A batch's node; its children's states when ``given`` keeps every one of them."""
        if given is None:
            return (run_batch, def_key, self._ctx, spec, *args)
        span = range(spec.start, spec.stop)
        children = tuple(given.state(i) for i in span)
        if all(c is not None and c.is_finished() for c in children):
            return StateBatch.of(spec.start, children)  # type: ignore[arg-type]
        fresh = frozenset(i for i in span if given.fresh(i))
        spec = dataclasses.replace(spec, initial_states=children, fresh=fresh)
        return (run_batch, def_key, self._ctx, spec, *args)

    def _finish_planning(
        self, task: Task, batch: dict[str, Any], annotations: dict[str, dict[str, Any]]
    ) -> None:
        """Check that a planned task can travel and annotate its nodes."""
        out = self.plan.outputs[task]
        def_key = self.plan.def_keys.get(task)
        if def_key is not None:
            problem = self._travel_problem(def_key, batch)
            if problem is not None:
                del batch[def_key]
                fail_unpicklable(task, out, problem, batch, self.executor)
        node = batch.get(out.single or "")
        if def_key in batch and node is not None and is_node(node) and node[1] == def_key:
            # A task with one node: its definition rides inside that node (no extra key,
            # no transfer between workers); only a map's children share it as a literal.
            batch[out.single or ""] = (node[0], batch.pop(def_key), *node[2:])
        elif def_key is not None and out.single is None and self._inlines:
            if def_key in self.literals.inline(out.keys(), batch, self._parallelism()):
                batch.pop(def_key, None)
            self.literals.unhold(def_key, out.keys(), batch)
        self._annotate(task, out, batch, annotations)

    def _annotate(
        self, task: Task, out: Output, batch: dict[str, Any], annotations: dict[str, dict[str, Any]]
    ) -> None:
        """Give the task's nodes in ``batch`` its Dask annotations; a map's nodes no more
        than the slots are also spread over them (:func:`~headwater.engine.shipping.placed`)."""
        nodes = [k for k in out.keys() if is_node(batch.get(k))]
        slots = None if out.single is not None else self._parallelism()
        annotations.update(placed(self.executor, annotations_of(task), nodes, slots))

    # -- nodes ---------------------------------------------------------------------------
    def _def_key(self, task: Task, batch: dict[str, Any]) -> str:
        """The key of the task's definition literal, added to ``batch`` the first time."""
        plan = self.plan
        key = plan.def_keys.get(task)
        if key is None:
            key = plan.def_keys[task] = f"taskdef-{task.slug}-{plan.token}"
            result, checkpoint = caching.resolve_result(
                task, self.flow.result, self.flow.checkpoint, self.checkpoint_switch
            )
            constants = MappingProxyType(dict(self.flow.constants.get(task, {})))
            readback = checkpoint and bool(getattr(self.executor, "loses_results", False))
            folder = self._cache_folder(task) if caching.is_cached(task) else None
            earlier = self.resume.source(task) if self.resume is not None else None
            batch[key] = TaskDef(task, constants, result, checkpoint, readback, folder, earlier)
        return key

    def _cache_folder(self, task: Task) -> str:
        """Where the task's cache candidates live: by the flow's name and the task's slug in
        the flow (the same for the same flow in any process), or by its ``cache_key``."""
        if self._slugs is None:
            self._slugs = caching.flow_slugs(self.flow.tasks)
        return caching.cache_folder(self.flow.name, self._slugs[task], task.cache_key)

    def _node(
        self,
        task: Task,
        batch: dict[str, Any],
        inputs: Inputs,
        map_index: int | None = None,
        initial_state: State | None = None,
        map_error: str | None = None,
        fresh: bool = False,
    ) -> tuple[Any, ...]:
        spec = NodeSpec(tuple(i for i, _ in inputs), map_index, initial_state, map_error, fresh)
        args = [k for _, keys in inputs for k in keys]
        return (run_node, self._def_key(task, batch), self._ctx, spec, *args)

    def _whole_input(self, edge: Edge) -> tuple[InputSpec, list[str]]:
        """An input taking the upstream's whole state (or all its children's states)."""
        out = self.plan.outputs[edge.upstream_task]
        gate = is_gate_edge(edge)
        if out.children is not None:
            spec = InputSpec(edge.key, len(out.children), None, edge.flattened, gate)
            return spec, list(out.children)
        if out.batches is not None:
            spec = InputSpec(edge.key, len(out.batches), None, edge.flattened, gate, None, True)
            return spec, list(out.batches)
        assert out.single is not None
        return InputSpec(edge.key, -1, None, edge.flattened, gate), [out.single]

    def _parallelism(self) -> int:
        """The executor's parallelism, asked once per run (a round trip on distributed)."""
        if self.plan.slots is None:
            self.plan.slots = parallelism(self.executor)
        return self.plan.slots


__all__ = ["Planner"]
