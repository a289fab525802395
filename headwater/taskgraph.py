"""The task graph format the planner writes and every executor reads.

Design note
-----------
A graph is a subset of Dask's plain format:

- ``graph[key] = (function, *args)``: a node; each arg is either a key of this or an earlier
  batch (a ``str``, replaced by that node's value), a ``list`` of such keys (replaced by the
  list of values), or any other object, passed as it is. Plain strings are never passed as
  literal arguments, so a ``str`` arg is always a key (a string meant literally is wrapped in
  a ``str`` subclass, for which ``type(arg) is str`` is False).
- ``graph[key] = value`` where ``value`` is not such a tuple: a literal.

Batches arrive in dependency order: a node only refers to keys of the same batch listed before
it or of earlier batches. The helpers below are the only code that reads that format; the
planner (:mod:`headwater.engine.planner`) and every executor (:mod:`headwater.executors`) use
them. This module imports nothing of headwater's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Graph = Mapping[str, Any]
"""Key -> ``(function, *args)`` node or literal value."""


def is_node(value: Any) -> bool:
    """Whether a graph value is a ``(function, *args)`` node rather than a literal.

    >>> is_node((len, "a")), is_node("a"), is_node(())
    (True, False, False)
    """
    return type(value) is tuple and bool(value) and callable(value[0])


def dependencies(node: Any) -> list[str]:
    """The keys a node reads, in order, without repeats (none for a literal).

    >>> dependencies((max, "a", ["b", "a"], 3))
    ['a', 'b']
    """
    if not is_node(node):
        return []
    out: list[str] = []
    for a in node[1:]:
        if type(a) is str:
            out.append(a)
        elif type(a) is list:
            out.extend(a)
    return list(dict.fromkeys(out))


def resolve(arg: Any, values: Mapping[str, Any]) -> Any:
    """Replace a key (or a list of keys) by its value; leave other objects as they are.

    >>> resolve(["a", "b"], {"a": 1, "b": 2}), resolve(3, {})
    ([1, 2], 3)
    """
    if type(arg) is str:
        return values[arg]
    if type(arg) is list:
        return [values[k] for k in arg]
    return arg


def renamed(arg: Any, rename: Mapping[str, str]) -> Any:
    """A node argument with its keys renamed (other objects as they are).

    >>> renamed(["a", "b"], {"a": "a~1"}), renamed("b", {"a": "a~1"})
    (['a~1', 'b'], 'b')
    """
    if type(arg) is str:
        return rename.get(arg, arg)
    if type(arg) is list:
        return [rename.get(k, k) for k in arg]
    return arg


__all__ = ["Graph", "dependencies", "is_node", "renamed", "resolve"]
