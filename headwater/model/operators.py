"""Operator tasks: what ``x + 1``, ``x > y``, ``x & y`` or ``x.not_()`` on a task makes.

Design note
-----------
As in Prefect 1 (``prefect.tasks.core.operators``), each operator is a small task class named
after it (``Add``, ``GreaterThan``...); its ``run`` applies the operator to its two (or one)
inputs. The operators a task placeholder supports in a flow body are defined on
:class:`~headwater.model.task_syntax.TaskSyntax`, which :class:`~headwater.model.task.Task`
inherits:

- arithmetic ``+ - * / // % **``, each with its reflected form (``1 + x``);
- comparisons ``< <= > >=``;
- ``x & y`` is the logical ``x and y`` (Python's ``and`` cannot be overloaded);
- ``x[key]`` takes an item.

``==`` and ``!=`` keep their meaning (identity), because a flow keeps its tasks in dicts and
sets: use ``x.is_equal(y)`` and ``x.is_not_equal(y)``. ``x | y`` is not a logical or: it makes
``y`` wait for ``x`` (a state-only edge); use ``x.or_(y)``. ``~x`` is not defined; use
``x.not_()``. This is Prefect 1's choice, kept so ported flows mean the same.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, ClassVar

from headwater.model.builtin_tasks import GetItem
from headwater.model.task import Task


class BinaryOperator(Task):
    """A task applying a two-argument operator to its inputs ``x`` and ``y``.

    Subclasses set ``apply``; the task's name is the class name (``Add``).

    Args:
        name: the task's name (the class name by default).
        **options: the options of :class:`~headwater.model.task.Task`.
    """

    apply: ClassVar[Callable[..., Any]]

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name=name, **options)

    def run(self, x: Any, y: Any) -> Any:  # type: ignore[override]
        """Return ``apply(x, y)``."""
        return type(self).apply(x, y)


def _logical_and(x: Any, y: Any) -> Any:
    return x and y


def _logical_or(x: Any, y: Any) -> Any:
    return x or y


class Add(BinaryOperator):
    """``x + y``."""

    apply = staticmethod(operator.add)


class Sub(BinaryOperator):
    """``x - y``."""

    apply = staticmethod(operator.sub)


class Mul(BinaryOperator):
    """``x * y``."""

    apply = staticmethod(operator.mul)


class Div(BinaryOperator):
    """``x / y``."""

    apply = staticmethod(operator.truediv)


class FloorDiv(BinaryOperator):
    """``x // y``."""

    apply = staticmethod(operator.floordiv)


class Mod(BinaryOperator):
    """``x % y``."""

    apply = staticmethod(operator.mod)


class Pow(BinaryOperator):
    """``x ** y``."""

    apply = staticmethod(operator.pow)


class And(BinaryOperator):
    """``x and y`` (what ``x & y`` on tasks makes)."""

    apply = staticmethod(_logical_and)


class Or(BinaryOperator):
    """``x or y`` (what ``x.or_(y)`` makes)."""

    apply = staticmethod(_logical_or)


class Equal(BinaryOperator):
    """``x == y`` (what ``x.is_equal(y)`` makes)."""

    apply = staticmethod(operator.eq)


class NotEqual(BinaryOperator):
    """``x != y`` (what ``x.is_not_equal(y)`` makes)."""

    apply = staticmethod(operator.ne)


class GreaterThan(BinaryOperator):
    """``x > y``."""

    apply = staticmethod(operator.gt)


class GreaterThanOrEqual(BinaryOperator):
    """``x >= y``."""

    apply = staticmethod(operator.ge)


class LessThan(BinaryOperator):
    """``x < y``."""

    apply = staticmethod(operator.lt)


class LessThanOrEqual(BinaryOperator):
    """``x <= y``."""

    apply = staticmethod(operator.le)


class Not(Task):
    """``not x`` (what ``x.not_()`` makes).

    Args:
        name: the task's name (``Not`` by default).
        **options: the options of :class:`~headwater.model.task.Task`.
    """

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name=name, **options)

    def run(self, x: Any) -> bool:  # type: ignore[override]
        """Return ``not x``."""
        return not x


__all__ = [
    "Add",
    "And",
    "BinaryOperator",
    "Div",
    "Equal",
    "FloorDiv",
    "GetItem",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
    "Mod",
    "Mul",
    "Not",
    "NotEqual",
    "Or",
    "Pow",
    "Sub",
]
