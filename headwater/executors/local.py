"""LocalExecutor: runs every node in this process and thread, one at a time, in order.

Design note
-----------
The simplest backend and the reference for the others: ``submit`` computes the batch at
once, in the order given (dependency order), so ``pdb.set_trace()`` inside a task works and
tracebacks are plain. Values live in a dict until released.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from headwater.executors.base import Executor, Graph, is_node, resolve


class LocalExecutor(Executor):
    """Run tasks in-process, one at a time (the default executor)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def submit(
        self, graph: Graph, annotations: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        """Compute the batch now, node by node."""
        values = self._values
        for key, node in graph.items():
            if is_node(node):
                fn, *args = node
                values[key] = fn(*[resolve(a, values) for a in args])
            else:
                values[key] = node

    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Every submitted key is already computed."""
        return {k for k in keys if k in self._values}

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Return the computed values."""
        return {k: self._values[k] for k in keys}

    def release(self, keys: Collection[str]) -> None:
        """Drop values."""
        for k in keys:
            self._values.pop(k, None)

    def __repr__(self) -> str:
        return "LocalExecutor()"
