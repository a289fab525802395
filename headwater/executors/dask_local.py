"""LocalDaskExecutor: local threads or worker processes over a growing graph.

Design note
-----------
The flow runner hands graphs over in batches, and values are kept in a
:class:`~headwater.executors._store.ValueStore` (a dict guarded by one condition) until the
flow runner releases them. Neither path goes through Dask's local scheduler
(:func:`dask.local.get_async`), which computes one whole graph per call and took about
145 µs of GIL time per node here, more than a headwater node itself (notice 0016): each has a
dispatcher of its own, fed batch by batch, that runs a node as soon as its inputs (of this
batch or an earlier one) are computed, so batches never deadlock and nothing waits for a
whole batch. The name and the constructor stay Prefect 1's.

Errors are values. Each node's call is wrapped: an exception becomes an
:class:`~headwater.executors._store.Errored` marker stored under the key, and a node
receiving a marker returns it without running (as dask.distributed does for the dependents
of an erred task), so one bad node never aborts a batch and ``gather`` hands the exception
back for the flow runner to judge.

Threads (:mod:`headwater.executors._threads`): ``num_workers`` threads and a semaphore of
as many slots; a task sleeping before a retry lends its slot out
(:func:`~headwater.executors.base.lend_slot`) and a thread is started to use it meanwhile,
so waiting tasks never starve the rest. A thread that finishes a node runs one dependent
it made ready itself, so a chain never changes threads.

Processes (forked from a forkserver where there is one, else spawned; ``num_workers`` per
run, each with its own pipe): the dispatcher sends several nodes per call and each literal
to each worker process once, in memory (nothing of a run is written to disk). When a worker
process dies, only the node it was running is lost (its value is a
:class:`~headwater.errors.WorkerLostError`, which the flow runner retries or reports
Crashed); the rest of its call is run again by a new process
(:mod:`headwater.executors._dispatch` and :mod:`headwater.executors._processes`, whose notes
say how and why). The dispatcher sees the executor's store, never the executor.

Each worker process starts with the driver's environment as it is when the run starts (a
process forked from the forkserver would otherwise have the server's, from the first run)
and runs the run's setup (``start(setup=...)``: its signing key); with threads, the setup
runs in this process. Task logs travel back through a queue to the driver's loggers.
Cancelling terminates the worker processes; in threads, running nodes get a
KeyboardInterrupt at their next bytecode.

Waiting (``gather``, ``wait_any``) costs O(n) for *n* keys however many of them finish one
by one (the store's note says how).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from headwater.executors._store import ValueStore, tell
from headwater.executors._threads import ThreadDispatcher
from headwater.executors.base import Executor, RunSetup, set_up_here
from headwater.taskgraph import Graph, is_node

if TYPE_CHECKING:
    from headwater.executors._dispatch import Dispatcher


class LocalDaskExecutor(Executor):
    """Run tasks in local threads or worker processes (Prefect 1's LocalDaskExecutor).

    Args:
        scheduler: ``"threads"`` (the default) or ``"processes"``.
        num_workers: how many tasks run at once; the number of CPUs by default.
        on_start: called on the driver before a flow run's tasks (see :class:`Executor`).
        on_exit: called on the driver after a flow run's tasks (see :class:`Executor`).
    """

    def __init__(
        self,
        scheduler: str = "threads",
        num_workers: int | None = None,
        *,
        on_start: Callable[[], Any] | None = None,
        on_exit: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(on_start=on_start, on_exit=on_exit)
        if scheduler not in ("threads", "processes"):
            raise ValueError(
                f"LocalDaskExecutor scheduler must be 'threads' or 'processes', got {scheduler!r}"
                " (use DaskExecutor for a dask.distributed cluster)"
            )
        if num_workers is not None and num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {num_workers}")
        self.scheduler = scheduler
        self.num_workers = num_workers or os.cpu_count() or 1
        self._store = ValueStore()
        self._preloaded = False
        self._dispatcher: Dispatcher | None = None
        self._threads: ThreadDispatcher | None = None
        self._cancelled = False

    @property
    def ships_values(self) -> bool:  # type: ignore[override]
        """True for processes: nodes and values are pickled to the worker processes."""
        return self.scheduler == "processes"

    @property
    def loses_results(self) -> bool:  # type: ignore[override]
        """True for processes: the values of a call die with its worker process, and its
        nodes that had finished run again (checkpointed ones read their checkpoint back)."""
        return self.scheduler == "processes"

    # -- lifecycle -----------------------------------------------------------------------
    @contextlib.contextmanager
    def start(self, setup: RunSetup | None = None) -> Iterator[LocalDaskExecutor]:
        """Start the pool (for processes, the dispatcher and the log listener); stop them
        afterwards.

        Args:
            setup: what the run needs where its tasks run: this process (threads), or each
                worker process (processes), which also starts with the environment this
                process has now, not the one the forkserver started with.
        """
        listener = None
        here = contextlib.ExitStack()
        if self.scheduler == "threads":
            here.enter_context(set_up_here(setup))
            self._threads = ThreadDispatcher(self._store, self.num_workers)
        else:
            listener = self._start_processes(setup)
        try:
            with here:
                yield self
        finally:
            left = self._store.unfinished()
            if left:  # an error left work running
                self.cancel(left)
            abandoned, self._cancelled = self._cancelled, False
            if self._threads is not None:
                self._threads.stop(wait=not abandoned)
                self._threads = None
            if self._dispatcher is not None:
                self._dispatcher.stop(wait=not abandoned)
                self._dispatcher = None
            if listener is not None:
                listener.stop()
            self._store.clear()

    def _start_processes(self, setup: RunSetup | None) -> logging.handlers.QueueListener:
        """Start the dispatcher (its worker processes start with the first batch, with this
        process's environment, and run ``setup``) and the listener that hands the worker
        processes' logs to the driver's loggers (returned)."""
        from headwater.executors._dispatch import Dispatcher
        from headwater.executors._processes import Redispatch, process_context

        ctx = process_context()
        queue = ctx.Queue()
        listener = logging.handlers.QueueListener(queue, Redispatch())
        listener.start()
        level = logging.getLogger("headwater").getEffectiveLevel()
        self._dispatcher = Dispatcher(
            self._store, ctx, self.num_workers, queue, level, dict(os.environ), setup
        )
        return listener

    # -- the graph -----------------------------------------------------------------------
    def submit(
        self, graph: Graph, annotations: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        """Start computing a batch in the background (annotations are not used locally)."""
        if self._threads is None and self._dispatcher is None:
            raise RuntimeError("LocalDaskExecutor.submit called outside executor.start()")
        if self._dispatcher is not None:
            self._submit_to_processes(graph)
            return
        threads = self._threads
        assert threads is not None
        literals = {k: v for k, v in graph.items() if not is_node(v)}
        store = self._store
        with store.lock:
            told = store.put_literals(literals)
            store.expect(k for k in graph if k not in literals)
            ready = threads.add(graph)
        tell(told)
        threads.start(ready)

    def _submit_to_processes(self, graph: Graph) -> None:
        assert self._dispatcher is not None
        literals = {k: v for k, v in graph.items() if not is_node(v)}
        from headwater.executors._processes import Packed, preload

        if not self._preloaded:
            preload(graph)
            self._preloaded = True
        packed = {k: Packed(v) for k, v in literals.items()}
        store = self._store
        with store.lock:
            told = store.put_literals(literals, packed)
            store.expect(k for k in graph if k not in literals)
            self._dispatcher.add(graph)
        tell(told)

    # -- values --------------------------------------------------------------------------
    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Block until one of ``keys`` is computed; return those that are."""
        return self._store.wait_any(keys)

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Return the values of ``keys`` (the exception for a key that errored)."""
        return self._store.gather(keys)

    def watch(self, keys: Collection[str], on_done: Callable[[str, Any], None]) -> None:
        """Call ``on_done`` as each key is computed (from the batch's driver thread)."""
        self._store.watch(keys, on_done)

    def release(self, keys: Collection[str]) -> None:
        """Forget values."""
        self._store.release(keys)

    def cancel(self, keys: Collection[str]) -> None:
        """Stop: unfinished keys get a CancelledError now; running tasks are interrupted."""
        self._cancelled = True
        store = self._store
        with store.lock:
            told = store.fail(keys, CancelledError)
            store.lock.notify_all()
        tell(told)
        if self._threads is not None:
            self._threads.cancel()
        elif self._dispatcher is not None:
            self._dispatcher.cancel()

    def __repr__(self) -> str:
        return f"LocalDaskExecutor(scheduler={self.scheduler!r}, num_workers={self.num_workers})"


__all__ = ["LocalDaskExecutor"]
