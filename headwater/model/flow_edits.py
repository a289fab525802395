"""Editing a flow after it is built: ``chain``, ``replace`` and ``update`` (Prefect 1's).

Design note
-----------
:class:`FlowEdits` is a base class of :class:`~headwater.model.flow.Flow`, kept in its own
module so the flow module stays about what a flow is. The edits keep the flow's invariants:
tasks in insertion order, at most one edge per argument, an edge's both ends in the flow.

- ``chain(a, b, c)`` adds state-only edges ``a -> b -> c``.
- ``replace(old, new)`` puts ``new`` where ``old`` was: every edge into or out of ``old``
  (data or state-only, mapped or not) now ends at ``new``, and ``new`` takes ``old``'s place
  among the reference tasks when they are set. As in Prefect 1, the plain values bound to
  ``old``'s arguments are not carried over (``new`` may take other arguments); a plain value
  or a collection given as ``new`` becomes a task.
- ``update(other)`` adds ``other``'s tasks, edges and bound values. Two parameters with one
  name are refused unless ``merge_parameters=True``, which keeps ``other``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from headwater.errors import FlowDefinitionError

if TYPE_CHECKING:
    from headwater.model.flow import Edge, Flow
    from headwater.model.task import Task


class FlowEdits:
    """``chain``, ``replace`` and ``update`` of a flow (see the module's note)."""

    def chain(self, *tasks: Task, validate: bool = False) -> list[Edge]:
        """Make each task wait for the one before it (state-only edges).

        Args:
            *tasks: the tasks, in order (added to the flow when needed).
            validate: check the whole flow afterwards (:meth:`Flow.validate`).

        Returns:
            The edges added.
        """
        me = cast("Flow", self)
        edges = [me.add_edge(up, down) for up, down in zip(tasks, tasks[1:], strict=False)]
        if validate:
            me.validate()
        return edges

    def replace(self, old: Task, new: Any, validate: bool = True) -> None:
        """Put ``new`` in ``old``'s place: its edges, and its place among reference tasks.

        Args:
            old: a task of this flow.
            new: the task to put instead (a plain value or a collection becomes a task).
            validate: check the whole flow afterwards (:meth:`Flow.validate`).

        Raises:
            FlowDefinitionError: when ``old`` is not in the flow.
            FlowValidationError: with ``validate``, when the flow has problems afterwards
                (for example an argument ``new`` needs that nothing gives).
        """
        from headwater.model.builtin_tasks import Constant, as_task

        me = cast("Flow", self)
        if not me.has_task(old):
            raise FlowDefinitionError(f"Cannot replace task {old!r}: it is not in flow {me.name!r}")
        replacement = as_task(new, me)
        if replacement is None:
            replacement = Constant(new)
        affected = [e for e in me.edges if old in (e.upstream_task, e.downstream_task)]
        references = me._reference_tasks
        me._forget(old)
        me.add_task(replacement)
        for e in affected:
            me.add_edge(
                replacement if e.upstream_task is old else e.upstream_task,
                replacement if e.downstream_task is old else e.downstream_task,
                key=e.key,
                mapped=e.mapped,
                flattened=e.flattened,
            )
        if references:
            me.set_reference_tasks(replacement if t is old else t for t in references)
        if validate:
            me.validate()

    def _forget(self, task: Task) -> None:
        """Take ``task``, its edges and its bound values out of the flow."""
        me = cast("Flow", self)
        for e in [*me._upstream.pop(task, ()), *me._downstream.pop(task, ())]:
            me._edges.pop(e, None)
            ends = ((e.upstream_task, me._downstream), (e.downstream_task, me._upstream))
            for end, edges in ends:
                if end is not task and e in edges.get(end, ()):
                    edges[end].remove(e)
        me._tasks.pop(task, None)
        me.constants.pop(task, None)

    def update(
        self,
        flow: Flow,
        merge_parameters: bool = False,
        validate: bool = False,
        merge_reference_tasks: bool = False,
    ) -> None:
        """Add another flow's tasks, edges and bound values to this one.

        Args:
            flow: the flow to take them from (it is not changed).
            merge_parameters: when both flows have a parameter of one name, keep ``flow``'s
                (every edge from this flow's parameter moves to it); without it, such a pair
                is refused.
            validate: check the whole flow afterwards (:meth:`Flow.validate`; always with
                ``merge_parameters``, as in Prefect 1).
            merge_reference_tasks: add ``flow``'s reference tasks to this flow's.

        Raises:
            FlowDefinitionError: when both flows have a parameter of one name and
                ``merge_parameters`` is False (nothing is changed).
        """
        me = cast("Flow", self)
        theirs = {p.name: p for p in flow.parameters()}
        clashes = [p for p in me.parameters() if p.name in theirs and theirs[p.name] is not p]
        if clashes and not merge_parameters:
            names = ", ".join(repr(p.name) for p in clashes)
            raise FlowDefinitionError(
                f"Flow {flow.name!r} cannot be added to flow {me.name!r}: both have a "
                f"parameter named {names}. Pass merge_parameters=True to keep "
                f"{flow.name!r}'s, or rename one."
            )
        for p in clashes:
            me.replace(p, theirs[p.name], validate=False)
        for t in flow.tasks:
            me.add_task(t)
        existing = set(me.edges)
        for e in flow.edges:
            if e not in existing:
                me.add_edge(e.upstream_task, e.downstream_task, e.key, e.mapped, e.flattened)
        for t, values in flow.constants.items():
            me.constants.setdefault(t, {}).update(values)
        if merge_reference_tasks:
            me.set_reference_tasks([*me.reference_tasks(), *flow.reference_tasks()])
        if validate or merge_parameters:
            me.validate()


__all__ = ["FlowEdits"]
