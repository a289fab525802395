"""LocalDaskExecutor: Dask's local scheduler (threads or processes) over a growing graph.

Design note
-----------
Dask's local scheduler (:func:`dask.local.get_async`) computes one whole graph per call. The
flow runner hands graphs over in batches, so with threads each batch runs as its own
``get_async`` call in a small driver thread, all of them feeding one shared pool; values are
kept in a :class:`~headwater.executors._store.ValueStore` (a dict guarded by one condition)
until the flow runner releases them. A batch that refers to keys of earlier batches first
waits for those values, then passes them in as data: batches never deadlock (a later batch
waits only on earlier ones), and the threads of the pool never block on one another.

Errors are values. Each node's call is wrapped: an exception becomes an
:class:`~headwater.executors._store.Errored` marker stored under the key, and a node
receiving a marker returns it without running (as dask.distributed does for the dependents
of an erred task), so one bad node never aborts a batch and ``gather`` hands the exception
back for the flow runner to judge. Batches become Dask task specs through
:func:`~headwater.executors._dask_spec.to_dask`, as for DaskExecutor.

Threads: the pool is larger than ``num_workers`` and a semaphore of ``num_workers`` slots
bounds the nodes that actually run; a task sleeping before a retry lends its slot out
(:func:`~headwater.executors.base.lend_slot`), so waiting tasks never starve the rest.

Processes (forked from a forkserver where there is one, else spawned; ``num_workers`` per
run, each with its own pipe) do not go through ``get_async``: a dispatcher sends several
nodes per call and each literal to each worker process once, in memory (nothing of a run is
written to disk). When a worker process dies, only the node it was running is lost (its
value is a :class:`~headwater.errors.WorkerLostError`, which the flow runner retries or
reports Crashed); the rest of its call is run again by a new process
(:mod:`headwater.executors._dispatch` and :mod:`headwater.executors._processes`, whose notes
say how and why). The dispatcher sees the executor's store, never the executor.

Each worker process starts with the driver's environment as it is when the run starts (a
process forked from the forkserver would otherwise have the server's, from the first run)
and runs the run's setup (``start(setup=...)``: its signing key); with threads, the setup
runs in this process. Task logs travel back through a queue to the driver's loggers. Cancelling terminates the
worker processes; in threads, running nodes get a KeyboardInterrupt at their next bytecode.

Waiting (``gather``, ``wait_any``) costs O(n) for *n* keys however many of them finish one
by one (the store's note says how).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import os
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from headwater.executors._dask_spec import to_dask
from headwater.executors._store import Errored, ValueStore, first_error, tell, type_of
from headwater.executors.base import Executor, RunSetup, lending_slot, set_up_here
from headwater.taskgraph import Graph, is_node

if TYPE_CHECKING:
    from headwater.executors._dispatch import Dispatcher

_SPARE_THREADS = 16
"""Threads beyond ``num_workers``, so tasks waiting to retry do not hold pool threads."""


class _Gate:
    """Wraps each node's call in a thread: at most ``slots`` run, errors become values,
    cancelling stops new calls and interrupts running ones."""

    def __init__(self, slots: int) -> None:
        self.sem = threading.Semaphore(slots)
        self.cancelled = False
        self.lock = threading.Lock()
        self.running: set[int] = set()

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        err = first_error(args)
        if err is not None:
            return err
        if self.cancelled:
            return Errored(CancelledError())
        ident = threading.get_ident()
        self.sem.acquire()
        try:
            if self.cancelled:
                return Errored(CancelledError())
            with self.lock:
                self.running.add(ident)
            with lending_slot(self.sem.release, self.sem.acquire):
                return fn(*args)
        except BaseException as exc:
            return Errored(exc)
        finally:
            with self.lock:
                self.running.discard(ident)
            self.sem.release()

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            for ident in self.running:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
                )


class LocalDaskExecutor(Executor):
    """Run tasks with Dask's local scheduler, in threads or in worker processes.

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
        self._pool: ThreadPoolExecutor | None = None
        self._gate: _Gate | None = None
        self._store = ValueStore()
        self._preloaded = False
        self._dispatcher: Dispatcher | None = None
        self._threads: list[threading.Thread] = []
        self._cancelled = False

    holds_values = True  # threads share them; worker processes send them back to the store

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
            self._gate = _Gate(self.num_workers)
            self._pool = ThreadPoolExecutor(
                self.num_workers + _SPARE_THREADS, thread_name_prefix="headwater-dask"
            )
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
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=not abandoned, cancel_futures=True)
            if not abandoned:
                for t in self._threads:
                    t.join(timeout=5)
            if self._dispatcher is not None:
                self._dispatcher.stop(wait=not abandoned)
                self._dispatcher = None
            if listener is not None:
                listener.stop()
            self._threads.clear()
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
        if self._pool is None and self._dispatcher is None:
            raise RuntimeError("LocalDaskExecutor.submit called outside executor.start()")
        if self._dispatcher is not None:
            self._submit_to_processes(graph)
            return
        external: set[str] = set()
        dsk = to_dask(graph, self._gate, external)
        literals = {k: v for k, v in graph.items() if not is_node(v)}
        keys = [k for k in dsk if k not in literals]
        store = self._store
        with store.lock:
            told = store.put_literals(literals)
            store.expect(keys)
        tell(told)
        if not keys:
            return
        thread = threading.Thread(
            target=self._run_batch, args=(dsk, keys, external), daemon=True, name="headwater-batch"
        )
        self._threads.append(thread)
        thread.start()

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

    def _run_batch(self, dsk: dict[str, Any], keys: list[str], external: set[str]) -> None:
        from dask._task_spec import DataNode
        from dask.local import get_async

        try:
            values = self.gather(external)
            for k, v in values.items():
                dsk[k] = DataNode(k, Errored(v) if isinstance(v, BaseException) else v)
            pool = self._pool
            if pool is None:
                raise CancelledError()
            get_async(
                pool.submit,
                self.num_workers + _SPARE_THREADS,
                dsk,
                keys,
                callbacks=[(None, None, None, self._finished, None)],
                chunksize=1,
                get_id=threading.get_ident,
                dumps=lambda x: x,
                loads=lambda x: x,
            )
        except BaseException as exc:  # a broken pool, a cancelled run: every key left errs
            error = exc
            with self._store.lock:
                told = self._store.fail(keys, lambda: error)
            tell(told)

    def _finished(self, key: str, value: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        store = self._store
        with store.lock:
            on_done = store.finish(key, value)
        if on_done is not None:
            on_done(key, type_of(value), value)

    # -- values --------------------------------------------------------------------------
    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Block until one of ``keys`` is computed; return those that are."""
        return self._store.wait_any(keys)

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Return the values of ``keys`` (the exception for a key that errored)."""
        return self._store.gather(keys)

    def watch(self, keys: Collection[str], on_done: Callable[..., None]) -> None:
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
        if self._gate is not None:
            self._gate.cancel()
        elif self._dispatcher is not None:
            self._dispatcher.cancel()

    def __repr__(self) -> str:
        return f"LocalDaskExecutor(scheduler={self.scheduler!r}, num_workers={self.num_workers})"


__all__ = ["LocalDaskExecutor"]
