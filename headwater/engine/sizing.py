"""How many children of a map each graph node runs: adaptive batching (notice 0010).

Design note
-----------
A graph node costs the scheduler about the same whatever it runs (2-3 ms on dask.distributed
on a 2-core machine, a tenth of that on LocalDaskExecutor's threads), so children that take
microseconds must share nodes and children that take tenths of a second must not. What a
child costs is not known before it runs, so a map of ``n`` children (no ``batch_size``
given) is planned in two steps by the planner:

1. **Pilots.** With ``S`` slots (the tasks the executor runs at once), a map of at most
   ``S`` children runs one child per node: each slot gets one, nothing is gained by
   batching. A larger map starts with at most ``S`` *pilot* nodes of
   :func:`pilot_size` children each (at most :data:`PILOT_CHILDREN`, fewer when the map is
   small), one per slot, so that pilots of slow children keep every slot busy; the first
   has :data:`FIRST_PILOT_CHILDREN` (:func:`pilot_bounds`), so that it finishes first and
   the rest is sent while the others run. When the pilots cover the whole map, that is its
   plan.
2. **The rest.** As soon as one pilot finished (the others keep running), its pace —
   seconds per child, from the children's own times in its
   :class:`~headwater.engine.children.StateBatch` (:func:`pace_of`) — sizes the nodes of the
   remaining children (:func:`rest_size`), and they and everything downstream of the map
   are planned.

The rule for the rest, with pace ``c`` and ``m`` children left: nodes of
:data:`NODE_SECONDS` each (``ceil(NODE_SECONDS / c)`` children), so the scheduler's cost is a
few percent; but when that leaves fewer than :data:`NODES_PER_SLOT` nodes per slot, smaller
nodes (``ceil(m / (NODES_PER_SLOT * S))`` children) so that the work balances, yet none
shorter than :data:`MIN_NODE_SECONDS`; and never more than :data:`MAX_NODES` nodes. Slow
children (50 ms) thus run one per node, a million children of a few microseconds in about
forty nodes of 50 ms, a thousand in one.

The pace is measured on the first children only: a map whose children get much slower
further on is cut as if they were not (``.map(batch_size=n)`` forces a size). A pilot lost
with its worker tells no pace; when no pilot tells one, the rest is sized as for slow
children.

**Remembered paces** (notice 0018). Measuring costs a round trip through the scheduler,
about as long as a whole small map on dask.distributed. An executor whose
``cluster_memory()`` is a dict keeps, per Task object, the median pace of the map's batches
in its last run (:class:`PaceMemory`); the next run of the same task plans the map at once
from it when that makes a small plan (:func:`remembered_bounds`: at most
:data:`NODES_PER_SLOT` nodes a slot, at least one a slot), and with pilots otherwise.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from headwater.engine.children import StateBatch

if TYPE_CHECKING:
    from headwater.model.task import Task

NODE_SECONDS = 0.05
"""How long a node of a batched map aims to run (the scheduler's cost per node is then a
few percent)."""

MIN_NODE_SECONDS = 0.01
"""The shortest node made so that the work balances over the slots."""

NODES_PER_SLOT = 4
"""The nodes per slot aimed for when the work allows, so that the slots finish together."""

MAX_NODES = 1000
"""The most nodes the rest of a map is cut into (the scheduler's work stays bounded)."""

PILOT_CHILDREN = 4
"""The most children a pilot node runs."""

FIRST_PILOT_CHILDREN = 2
"""The children of the first pilot when there are several (the fewest that tell a pace
without the first call's warm-up: :func:`pace_of`)."""


def pilot_size(n: int, slots: int) -> int:
    """Children per pilot node of a map of ``n`` children on ``slots`` slots; 0 when the map
    runs one child per node without pilots (it has no more children than slots).

    Args:
        n: the number of children.
        slots: how many tasks the executor runs at once.

    >>> pilot_size(2, 2), pilot_size(3, 2), pilot_size(1000, 2), pilot_size(40, 16)
    (0, 2, 4, 3)
    """
    slots = max(1, slots)
    if n <= slots:
        return 0
    return min(PILOT_CHILDREN, -(-n // slots))


def pilot_bounds(n: int, slots: int) -> list[int]:
    """Where the pilots of a map of ``n`` children start, and where the last one stops; one
    pilot per slot, of :func:`pilot_size` children, but the first of
    :data:`FIRST_PILOT_CHILDREN` when there are others: it finishes first, and the rest of
    the map is sent while the other pilots still run (pilots of the same size finish
    together, and every slot then idles while the pace is read: 200 children of 50 ms on 16
    slots lost ~30 ms). ``[]`` when the map runs one child per node without pilots.

    Args:
        n: the number of children.
        slots: how many tasks the executor runs at once.

    >>> pilot_bounds(1000, 2), pilot_bounds(200, 16)[:4], pilot_bounds(20_000, 1)
    ([0, 2, 6], [0, 2, 6, 10], [0, 4])
    >>> pilot_bounds(3, 2), pilot_bounds(2, 2)
    ([0, 2, 3], [])
    """
    per_node = pilot_size(n, slots)
    if per_node == 0:
        return []
    slots = max(1, slots)
    first = min(per_node, FIRST_PILOT_CHILDREN) if slots > 1 else per_node
    bounds = [0, first]
    while len(bounds) <= slots and bounds[-1] < n:
        bounds.append(min(n, bounds[-1] + per_node))
    return bounds


def rest_size(m: int, pace: float, slots: int) -> int:
    """Children per node for the ``m`` children left once a pilot took ``pace`` seconds
    per child (see the module's note).

    Args:
        m: the children left.
        pace: seconds per child.
        slots: how many tasks the executor runs at once.

    >>> rest_size(184, 0.05, 16), rest_size(999_992, 2e-6, 2), rest_size(99_992, 2e-6, 2)
    (1, 25000, 12499)
    >>> rest_size(992, 2e-6, 2), rest_size(100, 0.001, 16)
    (992, 10)
    """
    if m <= 0:
        return 1
    slots = max(1, slots)
    pace = max(pace, 1e-9)
    size = _children_in(NODE_SECONDS, pace)
    if -(-m // size) < NODES_PER_SLOT * slots:
        size = max(-(-m // (NODES_PER_SLOT * slots)), _children_in(MIN_NODE_SECONDS, pace))
    size = max(size, -(-m // MAX_NODES))
    return max(1, min(size, m))


def remembered_bounds(n: int, pace: float, slots: int) -> list[int] | None:
    """Where the nodes of a map of ``n`` children start (and the last stops) when the map is
    planned at once from the ``pace`` its task's children took in an earlier run on the same
    cluster (:class:`PaceMemory`); None when that pace does not make it a small plan (more
    than :data:`NODES_PER_SLOT` nodes a slot): pilots measure then.

    The plan has at least one node a slot, so that children slower than remembered still
    share the slots evenly.

    Args:
        n: the number of children.
        pace: seconds per child, remembered.
        slots: how many tasks the executor runs at once.

    >>> remembered_bounds(1000, 2e-6, 2), remembered_bounds(1000, 0.05, 2)
    ([0, 500, 1000], None)
    >>> remembered_bounds(3, 2e-6, 16)
    [0, 1, 2, 3]
    """
    slots = max(1, slots)
    size = rest_size(n, pace, slots)
    count = -(-n // size)
    if count > NODES_PER_SLOT * slots:
        return None
    size = -(-n // max(count, min(slots, n)))
    return [*range(0, n, size), n]


class PaceMemory:
    """The pace (seconds per child) each task's map took in the last run on one executor's
    cluster, so that the next run of the same task (the same Task object: a flow run again,
    on a schedule or from a notebook) plans a fast map in one round, without pilots
    (notice 0018). A task forgotten by the flow is forgotten here (weak keys).
    """

    def __init__(self) -> None:
        self._paces: weakref.WeakKeyDictionary[Task, float] = weakref.WeakKeyDictionary()

    def get(self, task: Task) -> float | None:
        """The pace remembered for ``task``, if any."""
        return self._paces.get(task)

    def note(self, task: Task, batches: Iterable[Any]) -> None:
        """Remember the pace of ``task``'s map from its finished batches (their median
        :func:`pace_of`); nothing when none tells one."""
        paces = sorted(p for b in batches if (p := pace_of(b)) is not None)
        if paces:
            self._paces[task] = paces[len(paces) // 2]


def pace_memory(executor: Any) -> PaceMemory | None:
    """The :class:`PaceMemory` of the executor's cluster (kept in its
    ``Executor.cluster_memory``); None for an executor that keeps nothing between runs."""
    memory = getattr(executor, "cluster_memory", None)
    store = memory() if callable(memory) else None
    return store.setdefault("paces", PaceMemory()) if isinstance(store, dict) else None


def _children_in(seconds: float, pace: float) -> int:
    """How many children of ``pace`` seconds fill ``seconds`` (rounded up; at least 1)."""
    return max(1, math.ceil(seconds / pace - 1e-9))


def pace_of(value: Any) -> float | None:
    """Seconds per child of a finished batch, from its children's times: the time from the
    first child's end to the last one's over the children between (the cost of a child in a
    batch, the first call's own warm-up left out), or the one child's run time; None when
    the value is not a batch or holds no times (a pilot lost with its worker).

    A summary the executor makes where the value is (``Executor.gather_summaries``).

    Args:
        value: what a pilot node returned.
    """
    if not isinstance(value, StateBatch):
        return None
    starts: list[float] = []
    ends: list[float] = []
    times = value.times
    for pos in range(value.n):
        other = value.others.get(pos)
        if other is None:
            starts.append(times[3 * pos + 1])
            ends.append(times[3 * pos + 2])
            continue
        info = other.run_info
        if info is not None and info.start is not None and info.end is not None:
            starts.append(info.start.timestamp())
            ends.append(info.end.timestamp())
    if len(ends) >= 2:
        return max(0.0, ends[-1] - ends[0]) / (len(ends) - 1)
    if ends:
        return max(0.0, ends[0] - starts[0])
    return None


__all__ = [
    "MAX_NODES",
    "MIN_NODE_SECONDS",
    "NODES_PER_SLOT",
    "NODE_SECONDS",
    "FIRST_PILOT_CHILDREN",
    "PILOT_CHILDREN",
    "PaceMemory",
    "pace_memory",
    "pace_of",
    "pilot_bounds",
    "pilot_size",
    "remembered_bounds",
    "rest_size",
]
