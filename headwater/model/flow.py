"""Flows: a DAG of tasks with edges, parameters and reference tasks.

Design note
-----------
A :class:`Flow` is configuration only; running it is the flow runner's and the executor's
business (:mod:`headwater.engine.flow_runner`). It holds:

- ``tasks``: kept in insertion order (a dict used as an ordered set), so every walk of the
  flow is deterministic;
- ``edges``: :class:`Edge` values ``(upstream, downstream, key, mapped, flattened)``; a task
  has at most one edge per key (binding an argument twice is refused);
- ``constants``: plain argument values per task;
- ``reference_tasks``: the tasks whose states decide the flow's state (the terminal tasks
  unless set).

Problems are collected, not raised one by one: :meth:`Flow.validate` reports every cycle
(with its path), edge to a task not in the flow, duplicate parameter name, reference task not
in the flow and unbound required argument in one :class:`FlowValidationError`. Leaving a
``with Flow(...)`` block validates, so a bad flow is reported where it is written.

``Flow.run`` lives in :mod:`headwater.model.flow_running` (a base class), as the edits live
in :mod:`headwater.model.flow_edits`.

``@flow`` (:mod:`headwater.model.function_flow`) traces a function once into the same static
DAG.
"""

from __future__ import annotations

import copy as _copy
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwater.errors import FlowDefinitionError, FlowValidationError
from headwater.model.builtin_tasks import Constant, as_task
from headwater.model.dag import find_cycles, topological_order
from headwater.model.flow_edits import FlowEdits
from headwater.model.flow_running import FlowRunning
from headwater.model.parameter import Parameter
from headwater.model.task import Task, active_gate, defining, flatten, unmapped, unwrap

if TYPE_CHECKING:
    from headwater.model.states import State
    from headwater.results.base import Result
    from headwater.schedules.schedule import Schedule


@dataclass(frozen=True, slots=True)
class Edge:
    """A dependency: ``downstream`` waits for ``upstream``.

    Args:
        upstream_task: the task that runs first.
        downstream_task: the task that waits.
        key: the argument of ``downstream`` that receives the upstream's result (None: a
            state-only dependency).
        mapped: whether ``downstream`` maps over the upstream's result.
        flattened: whether the upstream's result is flattened one level first.
    """

    upstream_task: Task
    downstream_task: Task
    key: str | None = None
    mapped: bool = False
    flattened: bool = False

    def __repr__(self) -> str:
        flags = "".join([" mapped" if self.mapped else "", " flattened" if self.flattened else ""])
        key = f" key={self.key!r}" if self.key else ""
        return f"<Edge {self.upstream_task.name} -> {self.downstream_task.name}{key}{flags}>"


class Flow(FlowEdits, FlowRunning):
    """A DAG of tasks.

    Use it as a context manager to add tasks by calling them, or add them with
    :meth:`add_task`, :meth:`add_edge` and :meth:`set_dependencies`; edit it with
    :meth:`chain`, :meth:`replace` and :meth:`update` (:mod:`headwater.model.flow_edits`);
    run it with :meth:`run` (:mod:`headwater.model.flow_running`).

    Args:
        name: the flow's name.
        tasks: tasks to add.
        edges: edges to add (their tasks must be in the flow; :meth:`validate` checks).
        reference_tasks: the tasks whose states decide the flow's state.
        result: the default Result for its tasks' outputs.
        state_handlers: ``handler(flow, old_state, new_state)`` called on the flow's transitions.
        schedule: a :class:`headwater.schedules.Schedule`: when ``flow.run(run_on_schedule=True)``
            runs the flow.
        checkpoint: whether tasks that do not say write their results (see
            :mod:`headwater.engine.caching` for the whole rule).
        executor: where ``flow.run()`` and ``headwater run`` run the tasks when they are
            given no executor (a LocalExecutor when this is None too).
        on_failure: ``callback(flow, state)`` called when the flow run ends Failed.
        terminal_state_handler: ``handler(flow, state, reference_task_states)`` called with
            the flow run's final state before its state handlers; a State it returns
            replaces it (``reference_task_states`` is a set: the reference tasks' states, a
            mapped task's children's states in place of its own).
    """

    def __init__(
        self,
        name: str,
        tasks: Iterable[Task] | None = None,
        edges: Iterable[Edge] | None = None,
        reference_tasks: Iterable[Task] | None = None,
        result: Result | None = None,
        state_handlers: Iterable[Callable[..., Any]] | None = None,
        schedule: Schedule | None = None,
        checkpoint: bool | None = None,
        executor: Any = None,
        on_failure: Callable[[Flow, State], Any] | None = None,
        terminal_state_handler: Callable[[Flow, State, set[State]], State | None] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"A Flow needs a non-empty name, got {name!r}")
        self.name = name
        self._tasks: dict[Task, None] = {}
        self._edges: dict[Edge, None] = {}
        self._upstream: dict[Task, list[Edge]] = {}
        self._downstream: dict[Task, list[Edge]] = {}
        self.constants: dict[Task, dict[str, Any]] = {}
        self._reference_tasks: list[Task] = []
        self.result = result
        self.state_handlers = list(state_handlers or ())
        self.schedule = schedule
        self.checkpoint = checkpoint
        self.executor = executor
        self.on_failure = _checked_callable(on_failure, "on_failure", name)
        self.terminal_state_handler = _checked_callable(
            terminal_state_handler, "terminal_state_handler", name
        )
        self._token: Any = None
        for t in tasks or ():
            self.add_task(t)
        for e in edges or ():
            self._add_edge_object(e)
        if reference_tasks is not None:
            self.set_reference_tasks(reference_tasks)

    @property
    def schedule(self) -> Schedule | None:
        """When ``flow.run(run_on_schedule=True)`` runs the flow (a Schedule, or None)."""
        return self._schedule

    @schedule.setter
    def schedule(self, value: Schedule | None) -> None:
        if value is not None:
            from headwater.schedules.schedule import check_schedule

            value = check_schedule(value, self.name)
        self._schedule = value

    @property
    def executor(self) -> Any:
        """Where ``flow.run()`` runs the tasks when it is given no executor (None: a
        LocalExecutor)."""
        return self._executor

    @executor.setter
    def executor(self, value: Any) -> None:
        if isinstance(value, type):
            raise TypeError(
                f"Flow {self.name!r}: executor must be an executor object, got the class "
                f"{value.__name__}; write executor={value.__name__}()."
            )
        if value is not None and not callable(getattr(value, "submit", None)):
            raise TypeError(
                f"Flow {self.name!r}: executor must be an executor such as LocalDaskExecutor() "
                f"(from headwater.executors), got {value!r}"
            )
        self._executor = value

    # -- context manager -----------------------------------------------------------------
    def __enter__(self) -> Flow:
        if self._token is not None:
            raise FlowDefinitionError(
                f"Flow {self.name!r} is already being defined in a `with` block"
            )
        self._token = defining(self)
        self._token.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        token, self._token = self._token, None
        token.__exit__(None, None, None)
        if exc_type is None:
            self.validate()

    # -- contents ------------------------------------------------------------------------
    @property
    def tasks(self) -> list[Task]:
        """The flow's tasks, in the order they were added."""
        return list(self._tasks)

    @property
    def edges(self) -> list[Edge]:
        """The flow's edges, in the order they were added."""
        return list(self._edges)

    def parameters(self) -> list[Parameter]:
        """The flow's parameters."""
        return [t for t in self._tasks if isinstance(t, Parameter)]

    def has_task(self, task: Any) -> bool:
        """Whether ``task`` is in the flow."""
        return task in self._tasks

    def get_tasks(self, name: str) -> list[Task]:
        """Return the tasks called ``name``."""
        return [t for t in self._tasks if t.name == name]

    def add_task(self, task: Task) -> Task:
        """Add a task (no edges); adding it twice does nothing.

        Raises:
            TypeError: when ``task`` is not a Task.
        """
        if not isinstance(task, Task):
            raise TypeError(f"Flow {self.name!r} can only add Tasks, got {task!r}")
        if task not in self._tasks:
            self._tasks[task] = None
            self._upstream[task] = []
            self._downstream[task] = []
            gate = active_gate()
            if gate is not None and gate is not task and not isinstance(task, Parameter):
                self.add_edge(gate, task)  # created inside `with case(...)`: runs only if it passes
        return task

    def add_edge(
        self,
        upstream_task: Task,
        downstream_task: Task,
        key: str | None = None,
        mapped: bool = False,
        flattened: bool = False,
    ) -> Edge:
        """Make ``downstream_task`` wait for ``upstream_task`` (adding both if needed).

        Args:
            upstream_task: the task that runs first.
            downstream_task: the task that waits.
            key: the argument receiving the upstream result; None for a state-only edge.
            mapped: map ``downstream_task`` over the upstream's result.
            flattened: flatten the upstream's result one level first.

        Raises:
            FlowDefinitionError: when ``key`` is already bound on ``downstream_task``.
        """
        self.add_task(upstream_task)
        self.add_task(downstream_task)
        return self._add_edge_object(Edge(upstream_task, downstream_task, key, mapped, flattened))

    def _add_edge_object(self, edge: Edge) -> Edge:
        down = edge.downstream_task
        if edge.key is not None:
            self._check_unbound(down, edge.key)
        if edge in self._edges:
            return edge
        self._edges[edge] = None
        self._upstream.setdefault(edge.downstream_task, []).append(edge)
        self._downstream.setdefault(edge.upstream_task, []).append(edge)
        return edge

    def _check_unbound(self, task: Task, key: str) -> None:
        bound = key in self.constants.get(task, {}) or any(
            e.key == key for e in self._upstream.get(task, ())
        )
        if bound:
            raise FlowDefinitionError(
                f"Argument {key!r} of task {task.name!r} is already bound in flow {self.name!r}; "
                "an argument can be bound only once."
            )

    def set_dependencies(
        self,
        task: Task,
        upstream_tasks: Iterable[Any] | None = None,
        downstream_tasks: Iterable[Task] | None = None,
        keyword_tasks: Mapping[str, Any] | None = None,
        mapped: bool = False,
    ) -> None:
        """Add ``task`` with its dependencies.

        Args:
            task: the task.
            upstream_tasks: tasks it waits for without taking their results.
            downstream_tasks: tasks that wait for it.
            keyword_tasks: argument name -> task or plain value (wrapped in
                :class:`unmapped` / :class:`flatten` as needed).
            mapped: map over the keyword tasks that are not wrapped in :class:`unmapped`.
        """
        self.add_task(task)
        for up in upstream_tasks or ():
            is_mapped = mapped and not isinstance(up, unmapped)
            up_value = up.value if isinstance(up, unmapped | flatten) else up
            up_task = as_task(up_value, self)
            if up_task is None:
                raise FlowDefinitionError(
                    f"upstream_tasks of task {task.name!r} must be tasks, got {up_value!r}"
                )
            self.add_edge(up_task, task, key=None, mapped=is_mapped)
        for down in downstream_tasks or ():
            self.add_edge(task, down)
        for key, value in (keyword_tasks or {}).items():
            value, is_mapped, is_flat = unwrap(value, mapped)
            up_task = as_task(value, self)
            if up_task is None and (is_mapped or is_flat):
                up_task = self.add_task(Constant(value))
            if up_task is None:
                self._check_unbound(task, key)
                self.constants.setdefault(task, {})[key] = value
            else:
                self.add_edge(up_task, task, key=key, mapped=is_mapped, flattened=is_flat)

    # -- structure -----------------------------------------------------------------------
    def upstream_edges(self, task: Task) -> list[Edge]:
        """The edges into ``task``."""
        return list(self._upstream.get(task, ()))

    def downstream_edges(self, task: Task) -> list[Edge]:
        """The edges out of ``task``."""
        return list(self._downstream.get(task, ()))

    def upstream_tasks(self, task: Task) -> list[Task]:
        """The tasks ``task`` waits for, without repeats."""
        return list(dict.fromkeys(e.upstream_task for e in self._upstream.get(task, ())))

    def downstream_tasks(self, task: Task) -> list[Task]:
        """The tasks waiting for ``task``, without repeats."""
        return list(dict.fromkeys(e.downstream_task for e in self._downstream.get(task, ())))

    def is_mapped(self, task: Task) -> bool:
        """Whether ``task`` runs as a map (it has a mapped edge)."""
        return any(e.mapped for e in self._upstream.get(task, ()))

    def root_tasks(self) -> list[Task]:
        """The tasks with no upstream task."""
        return [t for t in self._tasks if not self._upstream.get(t)]

    def terminal_tasks(self) -> list[Task]:
        """The tasks with no downstream task."""
        return [t for t in self._tasks if not self._downstream.get(t)]

    def reference_tasks(self) -> list[Task]:
        """The tasks whose states decide the flow's state: unless set, the terminal tasks,
        where auxiliary tasks (a resource manager's init and cleanup) never count, and a task
        followed only by auxiliary tasks that end the flow (a cleanup) is terminal."""
        if self._reference_tasks:
            return list(self._reference_tasks)
        ends = {t for t in self._tasks if t.auxiliary and not self._downstream.get(t)}
        return [
            t
            for t in self._tasks
            if not t.auxiliary
            and all(e.downstream_task in ends for e in self._downstream.get(t, ()))
        ]

    def set_reference_tasks(self, tasks: Iterable[Task]) -> None:
        """Choose the tasks whose states decide the flow's state; :meth:`validate` checks
        that they are in the flow."""
        self._reference_tasks = list(dict.fromkeys(tasks))

    def sorted_tasks(self) -> list[Task]:
        """Return the tasks in a topological order, ties in insertion order.

        Raises:
            FlowValidationError: when the flow has a cycle.
        """
        out = topological_order(list(self._tasks), self.upstream_tasks, self.downstream_tasks)
        if len(out) != len(self._tasks):
            self.validate()
        return out

    def validate(self) -> None:
        """Check the whole flow and report every problem at once.

        Raises:
            FlowValidationError: naming every cycle, edge to a task not in the flow, duplicate
                parameter name, reference task not in the flow and unbound required argument.
        """
        problems: list[str] = []
        for cycle in find_cycles(list(self._tasks), self.downstream_tasks):
            problems.append("cycle: " + " -> ".join(repr(t.name) for t in cycle))
        for e in self._edges:
            for end, label in ((e.upstream_task, "upstream"), (e.downstream_task, "downstream")):
                if end not in self._tasks:
                    problems.append(
                        f"edge {e.upstream_task.name!r} -> {e.downstream_task.name!r}: the {label} "
                        f"task {end.name!r} is not in the flow (add it with flow.add_task)"
                    )
        seen: dict[str, int] = {}
        for p in self.parameters():
            seen[p.name] = seen.get(p.name, 0) + 1
        for name, count in seen.items():
            if count > 1:
                problems.append(f"parameter name {name!r} is used by {count} different parameters")
        for t in self._reference_tasks:
            if t not in self._tasks:
                problems.append(f"reference task {t.name!r} is not in the flow")
        for t in self._tasks:
            missing = self._missing_arguments(t)
            if missing:
                problems.append(
                    f"task {t.name!r} is missing argument{'s' if len(missing) > 1 else ''} "
                    + ", ".join(repr(m) for m in missing)
                )
        if problems:
            raise FlowValidationError(self.name, problems)

    def _missing_arguments(self, task: Task) -> list[str]:
        bound = set(self.constants.get(task, {})) | {
            e.key for e in self._upstream.get(task, ()) if e.key
        }
        missing = []
        for p in task.signature().parameters.values():
            if p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
                continue
            if p.default is inspect.Parameter.empty and p.name not in bound:
                missing.append(p.name)
        return missing

    def copy(self) -> Flow:
        """Return a copy sharing the same task objects, with its own edges and constants."""
        new = _copy.copy(self)
        new._tasks = dict(self._tasks)
        new._edges = dict(self._edges)
        new._upstream = {t: list(es) for t, es in self._upstream.items()}
        new._downstream = {t: list(es) for t, es in self._downstream.items()}
        new.constants = {t: dict(c) for t, c in self.constants.items()}
        new._reference_tasks = list(self._reference_tasks)
        new.state_handlers = list(self.state_handlers)
        new._token = None
        return new

    # -- looking at it -------------------------------------------------------------------
    def visualize(
        self, flow_state: State | None = None, filename: str | None = None, format: str = "svg"
    ) -> Any:
        """Draw the flow with Graphviz; see :func:`headwater.viz.visualize`.

        Args:
            flow_state: a run's State, to color each task by its final state.
            filename: write the picture to this file.
            format: the picture's format (``svg``, ``png``, ``pdf``...).

        Returns:
            A ``graphviz.Digraph`` (displayed as a picture in Jupyter).
        """
        from headwater.viz.graph import visualize

        return visualize(self, flow_state=flow_state, filename=filename, format=format)

    def _repr_html_(self) -> str:
        from headwater.viz.html import flow_html

        return flow_html(self)

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}: {len(self._tasks)} tasks>"


def _checked_callable(fn: Any, option: str, flow_name: str) -> Any:
    if fn is not None and not callable(fn):
        raise TypeError(f"Flow {flow_name!r}: {option} must be callable, got {fn!r}")
    return fn


__all__ = ["Edge", "Flow"]
