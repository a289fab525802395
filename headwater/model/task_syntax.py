"""What a task placeholder supports in a flow body besides being called: operators that make
new tasks, and explicit dependencies (Prefect 1's ``set_upstream``, ``set_downstream``, ``|``).

Design note
-----------
:class:`TaskSyntax` is a base class of :class:`~headwater.model.task.Task`, kept in its own
module so the task module stays about tasks. Each operator binds a new operator task
(:mod:`headwater.model.operators`) in the active flow (or the flow given), so ``total + 1``
inside ``with Flow(...)`` or a ``@flow`` body is a task like any other; outside a flow it is
refused, as calling a task is.

Which operators exist follows Prefect 1 exactly: arithmetic and its reflected forms, ``< <= >
>=``, ``&`` (logical and), and the methods ``is_equal``, ``is_not_equal``, ``not_``, ``or_``
(plus ``and_``, which Prefect 1 spells ``&`` only). ``==`` and ``!=`` stay identity, since
flows keep tasks in dicts and sets; ``|`` is a state-only dependency, not a logical or.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from headwater.errors import FlowDefinitionError

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.task import Task


def _operator(kind: str, *operands: Any) -> Task:
    from headwater.model import operators
    from headwater.model.task import active_flow

    if active_flow() is None:
        raise FlowDefinitionError(
            f"An operator on a task makes a new task ({kind}), so it can only be used while "
            "defining a flow (inside `with Flow(...):` or a @flow function)"
        )
    op: Task = getattr(operators, kind)()
    return op.bind(*operands)


class TaskSyntax:
    """Operators and dependency helpers of a task placeholder (see the module's note)."""

    # -- dependencies ----------------------------------------------------------------------
    def set_upstream(
        self,
        task: Any,
        flow: Flow | None = None,
        key: str | None = None,
        mapped: bool = False,
    ) -> Task:
        """Make this task wait for ``task`` (and, with ``key``, take its result).

        Args:
            task: the upstream task (a collection holding tasks becomes a collection task).
            flow: the flow to change (the active flow by default).
            key: the argument of this task that receives ``task``'s result; None for a
                state-only dependency.
            mapped: map this task over ``task``'s result.

        Returns:
            This task.

        Raises:
            FlowDefinitionError: when no flow is given or active, this task is a Parameter,
                or ``key`` is not an argument of this task or is already bound.
        """
        from headwater.model.parameter import Parameter
        from headwater.model.task import active_flow

        me = cast("Task", self)
        if isinstance(me, Parameter):
            raise FlowDefinitionError(
                f"Parameter {me.name!r} cannot wait for another task: parameters are where a "
                "flow starts (as in Prefect 1)"
            )
        target = flow or active_flow()
        if target is None:
            raise FlowDefinitionError(
                f"{me.name}.set_upstream(...) needs a flow: call it inside `with Flow(...):` "
                "or a @flow function, or pass flow=..."
            )
        if key is None:
            target.set_dependencies(me, upstream_tasks=[task], mapped=mapped)
        else:
            me.bind(flow=target, mapped=mapped, **{key: task})
        return me

    def set_downstream(
        self,
        task: Task,
        flow: Flow | None = None,
        key: str | None = None,
        mapped: bool = False,
    ) -> Task:
        """Make ``task`` wait for this one (and, with ``key``, take its result).

        Args:
            task: the downstream task.
            flow: the flow to change (the active flow by default).
            key: the argument of ``task`` that receives this task's result; None for a
                state-only dependency.
            mapped: map ``task`` over this task's result.

        Returns:
            This task.

        Raises:
            FlowDefinitionError: as :meth:`set_upstream`, or when ``task`` is not a task.
        """
        from headwater.model.task import Task

        if not isinstance(task, Task):
            raise FlowDefinitionError(f"{self.name}.set_downstream(...) takes a task, got {task!r}")
        me = cast("Task", self)
        task.set_upstream(me, flow=flow, key=key, mapped=mapped)
        return me

    def __or__(self, other: Any) -> Any:
        """``a | b``: ``b`` waits for ``a`` (a state-only edge); returns ``b``, so
        ``a | b | c`` chains."""
        self.set_downstream(other)
        return other

    def __ror__(self, other: Any) -> Task:
        """``x | a`` for an ``x`` that is not a task (a list of tasks): ``a`` waits for it."""
        return self.set_upstream(other)

    # -- logic -----------------------------------------------------------------------------
    def is_equal(self, other: Any) -> Task:
        """A task returning ``self == other`` (``==`` itself keeps its identity meaning).

        Args:
            other: a task or a plain value.
        """
        return _operator("Equal", self, other)

    def is_not_equal(self, other: Any) -> Task:
        """A task returning ``self != other``.

        Args:
            other: a task or a plain value.
        """
        return _operator("NotEqual", self, other)

    def not_(self) -> Task:
        """A task returning ``not self``."""
        return _operator("Not", self)

    def and_(self, other: Any) -> Task:
        """A task returning ``self and other`` (the same as ``self & other``).

        Args:
            other: a task or a plain value.
        """
        return _operator("And", self, other)

    def or_(self, other: Any) -> Task:
        """A task returning ``self or other`` (``|`` is a dependency, not an or).

        Args:
            other: a task or a plain value.
        """
        return _operator("Or", self, other)

    # -- operators -------------------------------------------------------------------------
    def __add__(self, other: Any) -> Task:
        return _operator("Add", self, other)

    def __radd__(self, other: Any) -> Task:
        return _operator("Add", other, self)

    def __sub__(self, other: Any) -> Task:
        return _operator("Sub", self, other)

    def __rsub__(self, other: Any) -> Task:
        return _operator("Sub", other, self)

    def __mul__(self, other: Any) -> Task:
        return _operator("Mul", self, other)

    def __rmul__(self, other: Any) -> Task:
        return _operator("Mul", other, self)

    def __truediv__(self, other: Any) -> Task:
        return _operator("Div", self, other)

    def __rtruediv__(self, other: Any) -> Task:
        return _operator("Div", other, self)

    def __floordiv__(self, other: Any) -> Task:
        return _operator("FloorDiv", self, other)

    def __rfloordiv__(self, other: Any) -> Task:
        return _operator("FloorDiv", other, self)

    def __mod__(self, other: Any) -> Task:
        return _operator("Mod", self, other)

    def __rmod__(self, other: Any) -> Task:
        return _operator("Mod", other, self)

    def __pow__(self, other: Any) -> Task:
        return _operator("Pow", self, other)

    def __rpow__(self, other: Any) -> Task:
        return _operator("Pow", other, self)

    def __and__(self, other: Any) -> Task:
        return _operator("And", self, other)

    def __rand__(self, other: Any) -> Task:
        return _operator("And", other, self)

    def __gt__(self, other: Any) -> Task:
        return _operator("GreaterThan", self, other)

    def __ge__(self, other: Any) -> Task:
        return _operator("GreaterThanOrEqual", self, other)

    def __lt__(self, other: Any) -> Task:
        return _operator("LessThan", self, other)

    def __le__(self, other: Any) -> Task:
        return _operator("LessThanOrEqual", self, other)


__all__ = ["TaskSyntax"]
