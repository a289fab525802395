"""Walks of a flow's graph: its cycles and a topological order.

Design note
-----------
Both walks are iterative (a deep flow does not hit the recursion limit) and deterministic:
they visit tasks in the order given (the flow's insertion order), so every walk of a flow, and
every plan made from it, is the same from one run to the next.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T", bound=Any)


def find_cycles(tasks: Sequence[T], downstream: Callable[[T], Iterable[T]]) -> list[list[T]]:
    """Return one path per cycle found, each ending where it starts.

    Args:
        tasks: the nodes, in a fixed order.
        downstream: the nodes each node leads to.

    >>> find_cycles(["a", "b"], {"a": ["b"], "b": ["a"]}.__getitem__)
    [['a', 'b', 'a']]
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(tasks, white)
    cycles: list[list[T]] = []
    for root in tasks:
        if colour[root] != white:
            continue
        stack: list[tuple[T, Iterable[T]]] = [(root, iter(downstream(root)))]
        path = [root]
        colour[root] = grey
        while stack:
            node, children = stack[-1]
            for child in children:
                state = colour.get(child, black)
                if state == grey:
                    cycles.append(path[path.index(child) :] + [child])
                elif state == white:
                    colour[child] = grey
                    path.append(child)
                    stack.append((child, iter(downstream(child))))
                    break
            else:
                colour[node] = black
                path.pop()
                stack.pop()
    return cycles


def topological_order(
    tasks: Sequence[T],
    upstream: Callable[[T], Sequence[T]],
    downstream: Callable[[T], Iterable[T]],
) -> list[T]:
    """The nodes in a topological order, ties broken by their order in ``tasks``; shorter than
    ``tasks`` when there is a cycle (the nodes on or after it are left out).

    Args:
        tasks: the nodes, in a fixed order.
        upstream: the distinct nodes each node waits for.
        downstream: the distinct nodes waiting for each node.

    >>> edges = {"a": [], "b": ["a"], "c": ["a"]}
    >>> topological_order(["c", "b", "a"], edges.__getitem__, lambda t: [k for k, v in edges.items() if t in v])
    ['a', 'c', 'b']
    """
    indegree = {t: len(upstream(t)) for t in tasks}
    order_of = {t: i for i, t in enumerate(tasks)}
    ready = [(order_of[t], t) for t, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    out: list[T] = []
    while ready:
        _, t = heapq.heappop(ready)
        out.append(t)
        for child in downstream(t):
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, (order_of[child], child))
    return out


__all__ = ["find_cycles", "topological_order"]
