"""Our task graph in Dask's task spec, for DaskExecutor.

Design note
-----------
:func:`to_dask` is the one place that turns a batch of :mod:`headwater.taskgraph`'s format
into the ``dask._task_spec`` objects Dask's scheduler takes: a node becomes a ``Task`` whose
key arguments are ``TaskRef``s (a list of keys a ``List`` of them), a literal a ``DataNode``.
No tokenizing happens here. Dask is imported when a batch is converted, not when this module
is.
"""

from __future__ import annotations

from typing import Any

from headwater.taskgraph import Graph, is_node


def to_dask(graph: Graph) -> dict[str, Any]:
    """Dask task specs for a batch, by key.

    Args:
        graph: the batch.

    Returns:
        Key -> ``Task`` (for a node) or ``DataNode`` (for a literal).
    """
    from dask._task_spec import DataNode, List, Task, TaskRef

    dsk: dict[str, Any] = {}
    for key, node in graph.items():
        if not is_node(node):
            dsk[key] = DataNode(key, node)
            continue
        args: list[Any] = []
        for a in node[1:]:
            if type(a) is str:
                args.append(TaskRef(a))
            elif type(a) is list:
                args.append(List(*(TaskRef(k) for k in a)))
            else:
                args.append(a)
        dsk[key] = Task(key, node[0], *args)
    return dsk


__all__ = ["to_dask"]
