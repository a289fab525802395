"""How a run's graph travels to the executor: in parts, small literals inside the nodes that
read them, a map's first nodes spread, each task definition checked once (issue 14; notice
0017).

Design note
-----------
The planner hands a round's graph over in parts as it plans it (:data:`FIRST_FLUSH`): the
executor starts on the first nodes while the rest is planned (planning 10 layers x 100 took
~120 ms on the driver before anything ran on distributed).

On dask.distributed a literal of the graph (a task's definition, a constant's state, the
flow context) is a task of its own on some worker: the nodes reading it wait until it is
computed there and, on another worker, fetched across, and Dask places them where it is
(``decide_worker`` takes only the workers holding a node's inputs as candidates). On an
executor that says so (``Executor.inlines_literals``) small literals therefore ride inside
the nodes that read them:

- **The flow context**, when its pickle is small (:data:`INLINE_CONTEXT_BYTES`), inside
  every node: a node depends only on its upstream nodes, as in hand-written Dask (10
  layers x 100 made ~280 transfers between workers with a shared context, ~215 without;
  raw futures ~185).
- **A map's definition and the constant it maps over**, when small
  (:data:`INLINE_LITERAL_BYTES` each, :data:`INLINE_TOTAL_BYTES` for all their copies),
  inside its nodes whenever those are no more than the executor's slots: its pilots, a
  map of no more children than slots, a rest cut into few nodes. They then start as soon
  as they reach a worker (on a 1,000-element map the step before them cost ~8 ms of a ~45
  ms run). A map cut into more nodes reads them by key, one copy per worker; so does every
  map when the pilots do not cover it (the definition stays in the graph for the rest). A
  plain Constant (the task made for a list given to ``.map``) is run here as the flow is
  planned (:meth:`Literals.run_constant`), so that its state is a literal; a constant of
  more than :data:`INLINE_LITERAL_ITEMS` items is never pickled to measure it.

A map's first nodes, when no more than the slots, are also spread over them
(:func:`placed`, ``Executor.spread``): they all read one input, held by one worker, and
Dask started all 16 pilots of 50 ms children on that worker while the other idled ~300 ms.

A definition's size is known from the pickling check every definition goes through once
(:meth:`Literals.problem`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from headwater import pickling
from headwater.engine.children import StateBatch
from headwater.engine.nodes import PLAIN_TYPES, FlowContext, TaskDef
from headwater.engine.plain import run_plain_node
from headwater.engine.plan import Output
from headwater.model.states import Failed, Success
from headwater.model.task import Task
from headwater.taskgraph import dependencies, is_node

FIRST_FLUSH = 64
"""A round's first part goes to the executor once it holds this many keys, each next part
once it holds four times more than the one before (a few messages however large)."""

INLINE_CONTEXT_BYTES = 16_384
"""The largest pickled flow context that rides inside every node (else: one literal)."""

INLINE_LITERAL_BYTES = 65_536
"""The largest literal put inside a map's nodes."""

INLINE_TOTAL_BYTES = 1 << 20
"""The most bytes of copies of one literal inside a map's nodes together."""

INLINE_LITERAL_ITEMS = 10_000
"""A constant of more items is not measured (pickling it to decide would cost)."""

_UNMEASURED = INLINE_TOTAL_BYTES + 1
"""The size said of a literal not measured: never put inside a node."""


class Literals:
    """A run's task definitions and constant states on their way to an executor that ships
    values: whether each definition can travel, the sizes, and putting them inside a map's
    nodes (see the module's note)."""

    def __init__(self) -> None:
        self._problems: dict[str, str | None] = {}
        self._sizes: dict[str, int] = {}
        self._literals: dict[str, Any] = {}
        self._held: set[str] = set()

    def problem(self, key: str, definition: Any) -> str | None:
        """Why a task definition cannot reach the workers (None: it can); checked once per
        definition (it pickles the constants), measuring its size on the way."""
        if key not in self._problems:
            self._literals[key] = definition
            try:
                self._sizes[key] = pickling.pickled_size(definition)
                self._problems[key] = None
            except Exception as exc:
                problem = pickling.pickle_problem(definition, "task")
                self._problems[key] = problem or f"{type(exc).__name__}: {exc}"
        return self._problems[key]

    def run_constant(
        self, key: str, def_key: str, context: FlowContext | None, batch: dict[str, Any]
    ) -> None:
        """Run a plain Constant task (its node ``key`` in ``batch``) here and now: its state
        becomes a literal of the graph, put inside the nodes of maps over it when small (see
        the module's note). Left a node when its definition is not plain (handlers, results,
        a resumed run) or its run does not succeed.

        Args:
            key: the Constant's node.
            def_key: its definition's key (checked by :meth:`problem`).
            context: the flow run's context.
            batch: the batch holding both.
        """
        definition = batch.get(def_key)
        if context is None or not isinstance(definition, TaskDef) or not definition.plain:
            return
        state = run_plain_node(definition, context, (), None)
        if type(state) is not Success:
            return
        batch[key] = state
        del batch[def_key]
        value = state.result
        if isinstance(value, list | tuple | dict | range | str | bytes):
            cheap = len(value) <= INLINE_LITERAL_ITEMS
        else:
            cheap = value is None or type(value) in PLAIN_TYPES
        size = _UNMEASURED
        if cheap:
            with contextlib.suppress(Exception):  # (it pickles: its definition did)
                size = pickling.pickled_size(state)
        self._literals[key], self._sizes[key] = state, size

    def inline(self, nodes: list[str], batch: dict[str, Any], slots: int) -> set[str]:
        """Put the definitions and constant states known here that the ``nodes`` of
        ``batch`` read inside them, each when the nodes are no more than ``slots`` and its
        copies small enough; return the keys put inside.

        Args:
            nodes: a map's nodes in ``batch``.
            batch: the batch.
            slots: how many tasks the executor runs at once.
        """
        nodes = [k for k in nodes if is_node(batch.get(k))]
        if not nodes or len(nodes) > slots:
            return set()
        keys = {a for k in nodes for a in batch[k][1:] if type(a) is str and a in self._literals}
        inside: dict[str, Any] = {}
        for key in keys:
            size = self._sizes.get(key, _UNMEASURED)
            if size <= INLINE_LITERAL_BYTES and size * len(nodes) <= INLINE_TOTAL_BYTES:
                inside[key] = self._literals[key]
        if inside:
            for k in nodes:
                batch[k] = tuple(
                    inside[a] if type(a) is str and a in inside else a for a in batch[k]
                )
        return set(inside)

    def hold(self, key: str, batch: dict[str, Any]) -> None:
        """Take the literal ``key`` out of ``batch`` until a node reads it by key
        (:meth:`unhold`): a map's definition once inside its pilots. Sent with them, a
        worker would compute it before a pilot for nodes planned later that may never read
        it (a small map's rest has it inside too): ~3 ms of the first pilot's round on 2
        local workers.

        Args:
            key: a literal of ``batch`` known here (put inside nodes by :meth:`inline`) that
                is no task's output (a task definition).
            batch: the batch holding it.
        """
        if batch.pop(key, None) is not None:
            self._held.add(key)

    def unhold(self, key: str, nodes: list[str], batch: dict[str, Any]) -> None:
        """Put the held literal ``key`` back into ``batch`` if one of ``nodes`` (the last
        planned of its map) reads it by key; forget it otherwise.

        Args:
            key: a literal given to :meth:`hold` (or not: then nothing happens).
            nodes: the nodes of ``batch`` that may read it.
            batch: the batch.
        """
        if key not in self._held:
            return
        self._held.discard(key)
        if any(key in dependencies(batch.get(k)) for k in nodes):
            batch[key] = self._literals[key]


def fail_unpicklable(
    task: Task, out: Output, problem: str, batch: dict[str, Any], executor: Any
) -> None:
    """Replace the nodes of a task that cannot reach the workers by Failed states.

    Args:
        task: the task.
        out: its output keys.
        problem: why its definition does not pickle.
        batch: the batch holding its nodes.
        executor: the run's executor (named in the message).
    """
    message = (
        f"Task {task.name!r} cannot be sent to the workers of {executor!r}: "
        f"it does not pickle: {problem}. Define its function and the objects it "
        "uses at module level, or create unpicklable objects inside the task."
    )
    starts = out.starts
    for i, k in enumerate(out.keys()):
        if starts is not None:
            children = [Failed(message, map_index=j) for j in range(starts[i], starts[i + 1])]
            batch[k] = StateBatch.of(starts[i], children)
        else:
            batch[k] = Failed(message, map_index=i if out.children is not None else None)


def placed(
    executor: Any, ann: dict[str, Any] | None, nodes: list[str], slots: int | None
) -> dict[str, dict[str, Any]]:
    """The annotations of a task's ``nodes``: the task's own (``ann``), and, for a map's
    nodes no more than the executor's ``slots`` (its pilots, a small map), the places that
    spread them over the slots, where the executor can say (``Executor.spread``) and the
    task asks for no resources.

    Dask places a node where its inputs are: the pilots of a map all read the one state of
    what they map over, so all 16 pilots of 50 ms children went to one worker of two (8
    threads each) and the other idled ~300 ms (issue 14).

    Args:
        executor: the run's executor.
        ann: the task's own annotations (:func:`~headwater.engine.plan.annotations_of`).
        nodes: the task's nodes in the batch.
        slots: the executor's slots, for a map's nodes (None for a task's one node).
    """
    out = dict.fromkeys(nodes, ann) if ann else {}
    spread = getattr(executor, "spread", None)
    if slots is None or not 1 < len(nodes) <= slots or not callable(spread):
        return out
    if ann and ("resources" in ann or "workers" in ann):
        return out
    for k, where in spread(nodes).items():
        out[k] = {**(ann or {}), **where}
    return out


__all__ = [
    "INLINE_CONTEXT_BYTES",
    "INLINE_LITERAL_BYTES",
    "INLINE_TOTAL_BYTES",
    "FIRST_FLUSH",
    "Literals",
    "fail_unpicklable",
    "placed",
]
