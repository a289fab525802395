"""LocalExecutor: runs every node in this process and thread, one at a time, in order.

Design note
-----------
The simplest backend and the reference for the others: ``submit`` computes the batch at
once, in the order given (dependency order), so ``pdb.set_trace()`` inside a task works and
tracebacks are plain. Values live in a dict until released.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from concurrent.futures import CancelledError
from typing import Any

from headwater.executors.base import Executor
from headwater.taskgraph import Graph, is_node, resolve


class LocalExecutor(Executor):
    """Run tasks in-process, one at a time (the default executor).

    Args:
        on_start: called on the driver before a flow run's tasks (see :class:`Executor`).
        on_exit: called on the driver after a flow run's tasks (see :class:`Executor`).
    """

    holds_values = True

    def __init__(
        self,
        *,
        on_start: Callable[[], Any] | None = None,
        on_exit: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(on_start=on_start, on_exit=on_exit)
        self._values: dict[str, Any] = {}
        self._watchers: dict[str, Callable[..., None]] = {}

    def submit(
        self, graph: Graph, annotations: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        """Compute the batch now, node by node."""
        values = self._values
        for key, node in graph.items():
            if is_node(node):
                fn, *args = node
                resolved = [resolve(a, values) for a in args]
                failed = _first_error(resolved)
                if failed is not None:  # a dependency errored: so does this node (as in Dask)
                    values[key] = failed
                else:
                    try:
                        values[key] = fn(*resolved)
                    except Exception as exc:  # errors are values (see executors.base)
                        values[key] = exc
            else:
                values[key] = node
            if self._watchers:
                on_done = self._watchers.pop(key, None)
                if on_done is not None:
                    on_done(key, type(values[key]), values[key])

    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Every submitted key is already computed."""
        return {k for k in keys if k in self._values}

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Return the computed values."""
        return {k: self._values[k] for k in keys}

    def watch(self, keys: Collection[str], on_done: Callable[..., None]) -> None:
        """Call ``on_done`` as each key is computed inside ``submit``."""
        for k in keys:
            if k in self._values:
                on_done(k, type(self._values[k]), self._values[k])
            else:
                self._watchers[k] = on_done

    def release(self, keys: Collection[str]) -> None:
        """Drop values."""
        for k in keys:
            self._values.pop(k, None)

    def cancel(self, keys: Collection[str]) -> None:
        """Nodes run inside ``submit``; a key an interrupted batch never reached is cancelled."""
        for k in keys:
            self._values.setdefault(k, CancelledError())

    def __repr__(self) -> str:
        return "LocalExecutor()"


def _first_error(args: list[Any]) -> BaseException | None:
    for a in args:
        if isinstance(a, BaseException):
            return a
        if type(a) is list:
            for x in a:
                if isinstance(x, BaseException):
                    return x
    return None
