"""The executor interface: run a growing graph of tasks and hand back their values.

Design note
-----------
An executor knows nothing of flows, tasks or states. The flow runner compiles a flow into a
graph in Dask's plain format and hands it over in batches; the executor runs it and returns
values when asked. Keeping executors this ignorant keeps them small (each backend is a thin
adapter) and keeps the engine's semantics in one place, the same on every backend
(docs/notices/0003-runner-pipeline.md).

The graph format is :mod:`headwater.taskgraph`'s. ``annotations`` maps a key to Dask annotations
(``priority``, ``resources``) for backends that support them.

An executor is used as ``with executor.start(): ...`` around one flow run.

Errors are values: ``gather`` returns the exception object for a key whose computation
raised, was lost (a worker died too often: Dask's ``KilledWorker``) or was cancelled, and a
key whose dependency errored may return that same exception. It never raises for one key, so
one poisoned task cannot fail a whole run; the flow runner turns those exceptions into
Crashed (or Cancelled) states and resubmits what depended on them.

``gather_summaries(keys, summarize)`` returns a small summary of each value instead of the
value (the flow runner asks for states without their results this way): a backend that
holds values elsewhere makes the summaries where the values are. ``summarize_early`` says
beforehand which nodes will be asked (a backend may send their summaries as they finish),
and ``gather_with_summaries`` reads values and summaries together (a backend may overlap the
two). ``cluster_memory()`` is a dict that lives as long as the backend's cluster, where the
engine keeps what it measured for later runs (notice 0018), or None.

``watch(keys, on_done)`` lets the driver hear of keys finishing as they finish (for the
progress bar and the run journal): ``on_done(key, value_type)`` gets the type of the key's
value (or of its exception), never a value that would have to be fetched; a backend that
holds values in the driver's process passes the value as a third argument. It may be called from another
thread. A backend that cannot tell keeps the default, which says nothing.

``start(setup=...)`` takes what a run needs in every process that runs its tasks (a
:class:`RunSetup`: the run's signing key, for one): the executor calls its ``setup()`` in
each such process before any task of the run runs there (in workers that join later too),
and ``teardown()`` when the run ends. It travels to workers pickled, outside the task graph,
so it never shows in a dashboard or a graph; executors never log it.

``ships_values`` says whether nodes and values cross a process boundary (so they must
pickle); ``loses_results`` whether a finished value can be lost with a worker and computed
again; ``holds_values`` whether finished values are in the driver's process (gathering them
costs nothing). A backend that can lend a worker slot out while a task sleeps before a retry
publishes how through :func:`lend_slot` (dask.distributed does it with ``secede``).

``on_start`` and ``on_exit`` are PIN-12's environment callbacks: plain functions of no
arguments that every executor carries and the engine calls on the driver around a flow run,
inside ``start()`` (docs/engine.md, "Around a run"). An executor never calls
them itself.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from headwater.taskgraph import Graph

_slot = threading.local()


@contextlib.contextmanager
def lending_slot(release: Callable[[], Any], reacquire: Callable[[], Any]) -> Iterator[None]:
    """Let code running in this thread lend its worker slot out (see :func:`lend_slot`).

    A backend wraps each node's call in it, with how to give the slot back to its pool and
    how to take it again.

    Args:
        release: gives this thread's slot to another task.
        reacquire: blocks until this thread has a slot again.
    """
    previous = getattr(_slot, "hooks", None)
    _slot.hooks = (release, reacquire)
    try:
        yield
    finally:
        _slot.hooks = previous


@contextlib.contextmanager
def lend_slot() -> Iterator[None]:
    """While inside, the current task does not count against its backend's worker limit
    (a no-op outside a backend that supports it). Used for the wait before a retry."""
    hooks = getattr(_slot, "hooks", None)
    if hooks is None:
        yield
        return
    release, reacquire = hooks
    release()
    try:
        yield
    finally:
        reacquire()


def _checked_callback(value: Any, which: str) -> Callable[[], Any] | None:
    if value is not None and not callable(value):
        raise TypeError(f"{which} must be a function taking no arguments (or None), got {value!r}")
    return value


class RunSetup(Protocol):
    """What a run needs in every process that runs its tasks; picklable."""

    @property
    def name(self) -> str:
        """A name unique to the run."""
        ...

    def setup(self) -> None:
        """Make the process ready (called once per process, before the run's tasks)."""
        ...

    def teardown(self) -> None:
        """Undo :meth:`setup` when the run ends."""
        ...


@contextlib.contextmanager
def set_up_here(setup: RunSetup | None) -> Iterator[None]:
    """Run ``setup`` in this process for the block (for backends that run tasks here).

    Args:
        setup: what the run needs, or None.
    """
    if setup is None:
        yield
        return
    setup.setup()
    try:
        yield
    finally:
        setup.teardown()


class Executor(ABC):
    """Runs batches of a task graph; subclass it to add a backend.

    Args:
        on_start: called with no arguments on the driver once per flow run, after the
            executor started and before any task is submitted (PIN-12).
        on_exit: called with no arguments on the driver once per flow run whose
            ``on_start`` returned, after every task finished and before the executor stops.
    """

    def __init__(
        self,
        *,
        on_start: Callable[[], Any] | None = None,
        on_exit: Callable[[], Any] | None = None,
    ) -> None:
        self.on_start = on_start
        self.on_exit = on_exit

    @property
    def on_start(self) -> Callable[[], Any] | None:
        """Called before a flow run's tasks (see the class's Args); checked when set."""
        return self.__dict__.get("_on_start")

    @on_start.setter
    def on_start(self, value: Callable[[], Any] | None) -> None:
        self.__dict__["_on_start"] = _checked_callback(value, "on_start")

    @property
    def on_exit(self) -> Callable[[], Any] | None:
        """Called after a flow run's tasks (see the class's Args); checked when set."""
        return self.__dict__.get("_on_exit")

    @on_exit.setter
    def on_exit(self, value: Callable[[], Any] | None) -> None:
        self.__dict__["_on_exit"] = _checked_callback(value, "on_exit")

    ships_values: ClassVar[bool] = False
    """Whether nodes and values cross a process boundary (so they must pickle)."""

    loses_results: ClassVar[bool] = False
    """Whether a finished node's value can be lost with a worker and computed again. When
    True, checkpointed tasks first look for the checkpoint they wrote earlier in the same
    flow run and read it back instead of running twice."""

    inlines_literals: ClassVar[bool] = False
    """Whether small literals (the flow context, a small map's definition and constant)
    should ride inside the nodes that read them, for a backend where a literal is a task of
    its own that nodes wait for and are placed by (dask.distributed: notice 0017). A backend
    that ships each literal once to each process keeps them apart."""

    holds_values: ClassVar[bool] = False
    """Whether a finished node's value is in the driver's own process, so that ``gather``
    of a key ``watch`` told of costs no transfer (the run journal then notes a batch's
    children's states as the run goes)."""

    @contextlib.contextmanager
    def start(self, setup: RunSetup | None = None) -> Iterator[Executor]:
        """Acquire what a run needs (threads, a cluster) and release it afterwards.

        Args:
            setup: what the run needs in every process that runs its tasks (see the
                module's note); a backend that runs tasks in this process sets it up here.
        """
        with set_up_here(setup):
            yield self

    @abstractmethod
    def submit(
        self, graph: Graph, annotations: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        """Start running a batch of nodes (see the module's note for the format)."""

    @abstractmethod
    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Block until at least one of ``keys`` is computed; return those that are."""

    @abstractmethod
    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Return the values of ``keys``, waiting for them if needed; the exception object
        for a key whose computation failed (see the module's note), never raising for it."""

    def gather_summaries(
        self, keys: Collection[str], summarize: Callable[[Any], Any]
    ) -> dict[str, Any]:
        """Return ``summarize(value)`` for each of ``keys``, as :meth:`gather` returns values
        (the exception for a key that failed). A backend whose values live elsewhere makes
        the summaries there, so the values themselves never reach the caller; by default the
        values are gathered and summarized here.

        Args:
            keys: keys of submitted nodes or literals.
            summarize: a picklable function of one value, cheap and never raising.
        """
        got = self.gather(keys)
        return {k: v if isinstance(v, BaseException) else summarize(v) for k, v in got.items()}

    def gather_with_summaries(
        self, whole: Collection[str], summarized: Collection[str], summarize: Callable[[Any], Any]
    ) -> dict[str, Any]:
        """:meth:`gather` of ``whole`` and :meth:`gather_summaries` of ``summarized`` in one
        dict; the summaries first (the last tasks, often those wanted whole, may still run
        meanwhile). A backend may do both at once.

        Args:
            whole: keys whose values are wanted.
            summarized: keys whose summaries are wanted.
            summarize: as for :meth:`gather_summaries`.
        """
        out = dict(self.gather_summaries(summarized, summarize)) if summarized else {}
        if whole:
            out.update(self.gather(whole))
        return out

    def cluster_memory(self) -> dict[str, Any] | None:
        """A dict that lives as long as the executor's cluster, where the engine keeps what
        it learns of it for later runs (the pace of a task's maps: notice 0018); None, the
        default, for a backend where planning a map in two rounds costs nothing worth saving.
        """
        return None

    def summarize_early(  # noqa: B027 - optional hook
        self, keys: Collection[str], summarize: Callable[[Any], Any]
    ) -> None:
        """Say that :meth:`gather_summaries` will soon ask for ``summarize`` of ``keys``
        (nodes submitted next): a backend whose values live elsewhere may make the summaries
        as the nodes finish and send them along, saving the trip to ask. Nothing by default.

        Args:
            keys: keys of nodes not submitted yet.
            summarize: as for :meth:`gather_summaries`.
        """

    def spread(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Annotations that start each of ``keys`` (nodes submitted together) on another of
        the executor's slots, for a backend that places nodes where their inputs are (all
        of a map's first nodes read one input, held in one place); none by default.

        Args:
            keys: nodes of one batch, no more than :meth:`parallelism` says.
        """
        return {}

    def release(self, keys: Collection[str]) -> None:  # noqa: B027 - optional hook
        """Forget values the flow runner no longer needs."""

    def watch(  # noqa: B027 - optional hook
        self, keys: Collection[str], on_done: Callable[..., None]
    ) -> None:
        """Call ``on_done(key, value_type)`` once for each of ``keys`` when it is computed
        (at once for one already computed; see the module's note). Call it before
        submitting the keys. By default nothing is called. A backend whose
        ``holds_values`` is True passes the value too: ``on_done(key, value_type, value)``.

        Args:
            keys: keys of this batch or earlier ones.
            on_done: takes the key and the type of its value (the exception's type for a
                key that erred; ``concurrent.futures.CancelledError`` for a cancelled one),
                and the value where the backend holds it.
        """

    def cancel(self, keys: Collection[str]) -> None:  # noqa: B027 - optional hook
        """Stop computing ``keys``: ``gather`` then returns a ``CancelledError`` for each one
        not finished, at once; running tasks are interrupted where the backend can."""
