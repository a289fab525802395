"""Tasks the model makes by itself: constants to map over, items of a result, collections.

Design note
-----------
Calling a task with plain values binds them as constants; a *mapped* plain value becomes a
:class:`Constant` node (so the map has an upstream to count), ``task[key]`` a
:class:`GetItem`, and a list, tuple, set or dict holding tasks a :class:`CollectionTask`
that assembles it once its items exist (:func:`as_task`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.model.task import Task, flatten, unmapped

if TYPE_CHECKING:
    from headwater.model.flow import Flow


class Constant(Task):
    """A task returning a fixed value (made for mapped constants).

    Args:
        value: the value.
        name: the task's name.
    """

    def __init__(self, value: Any, name: str | None = None) -> None:
        self.value = value
        super().__init__(name=name or f"Constant[{type(value).__name__}]")

    def run(self) -> Any:
        """Return the value."""
        return self.value


class GetItem(Task):
    """Return ``obj[key]``."""

    def run(self, obj: Any, key: Any) -> Any:  # type: ignore[override]
        """Return ``obj[key]``."""
        return obj[key]


class CollectionTask(Task):
    """Build a list, tuple, set or dict from task results and plain values.

    Args:
        kind: ``list``, ``tuple``, ``set`` or ``dict``.
        name: the task's name.
    """

    def __init__(self, kind: type, name: str | None = None) -> None:
        self.kind = kind
        super().__init__(name=name or kind.__name__.capitalize())

    def run(self, **items: Any) -> Any:
        """Assemble the collection from the items bound by position."""
        if self.kind is dict:
            n = len(items) // 2
            return {items[f"key_{i}"]: items[f"value_{i}"] for i in range(n)}
        return self.kind(items[f"item_{i}"] for i in range(len(items)))


_PLAIN_TYPES = frozenset({int, float, str, bytes, bool, type(None)})


def _contains_task(value: Any) -> bool:
    if isinstance(value, Task | unmapped | flatten):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        # plain items are skipped cheaply: a mapped constant may have a million of them
        return any(_contains_task(v) for v in value if type(v) not in _PLAIN_TYPES)
    if isinstance(value, dict):
        return any(_contains_task(k) or _contains_task(v) for k, v in value.items())
    return False


def as_task(value: Any, flow: Flow) -> Task | None:
    """Return ``value`` as a task in ``flow`` if it is or holds tasks, else None (a constant)."""
    if isinstance(value, Task):
        return value
    if not _contains_task(value):
        return None
    if isinstance(value, dict):
        collection = CollectionTask(dict)
        items: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            items[f"key_{i}"], items[f"value_{i}"] = k, v
    else:
        kind = list if isinstance(value, list) else tuple if isinstance(value, tuple) else set
        collection = CollectionTask(kind)
        items = {f"item_{i}": v for i, v in enumerate(value)}
    return collection.bind(flow=flow, **items)


__all__ = ["CollectionTask", "Constant", "GetItem", "as_task"]
