"""LocalDaskExecutor: Dask's local scheduler (threads or processes) over a growing graph.

Design note
-----------
Dask's local scheduler (:func:`dask.local.get_async`) computes one whole graph per call. The
flow runner hands graphs over in batches, so with threads each batch runs as its own
``get_async`` call in a small driver thread, all of them feeding one shared pool; values are
kept here (a dict guarded by one condition) until the flow runner releases them. A batch
that refers to keys of earlier batches first waits for those values, then passes them in as
data: batches never deadlock (a later batch waits only on earlier ones), and the threads of
the pool never block on one another.

Errors are values. Each node's call is wrapped: an exception becomes an ``_Errored`` marker
stored under the key, and a node receiving a marker returns it without running (as
dask.distributed does for the dependents of an erred task), so one bad node never aborts a
batch and ``gather`` hands the exception back for the flow runner to judge.

Threads: the pool is larger than ``num_workers`` and a semaphore of ``num_workers`` slots
bounds the nodes that actually run; a task sleeping before a retry lends its slot out
(:func:`~headwater.executors.base.lend_slot`), so waiting tasks never starve the rest.

Processes (forked from a forkserver where there is one, else spawned; a pool per run) do
not go through ``get_async``: a dispatcher sends several nodes per pool call and each
literal to each worker process once (:mod:`headwater.executors._processes`, whose note says
how and why).

Task logs travel back through a queue to the driver's loggers. Cancelling terminates the
worker processes; in threads, running nodes get a KeyboardInterrupt at their next bytecode.

Waiting (``gather``, ``wait_any``) registers a counter under each missing key; storing a
value counts it down and wakes the driver only when a waiter is complete, so waiting for
*n* keys costs O(n) however many of them finish one by one.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import CancelledError, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import Executor as PoolExecutor
from typing import TYPE_CHECKING, Any

from headwater.executors.base import Executor, lending_slot
from headwater.pickling import dumps as _dumps
from headwater.taskgraph import Graph, is_node

if TYPE_CHECKING:
    from headwater.executors._processes import _Dispatcher, _Packed

_SPARE_THREADS = 16
"""Threads beyond ``num_workers``, so tasks waiting to retry do not hold pool threads."""

_POLL = 0.2
"""Seconds between wake-ups of a waiting driver thread, so Ctrl-C is seen promptly."""


class _Errored:
    """The value of a key whose computation raised (or was cancelled)."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self) -> tuple[Any, ...]:
        try:
            _dumps(self.exc)
            exc = self.exc
        except Exception:
            exc = RuntimeError(f"{type(self.exc).__name__}: {self.exc}")
        return (_Errored, (exc,))


def _first_error(args: tuple[Any, ...]) -> _Errored | None:
    for a in args:
        if type(a) is _Errored:
            return a
        if type(a) is list:
            for x in a:
                if type(x) is _Errored:
                    return x
    return None


def _type_of(value: Any) -> type:
    return type(value.exc) if type(value) is _Errored else type(value)


def _tell(done: list[tuple[str, Callable[[str, Any], None] | None]], value_type: type) -> None:
    for key, on_done in done:
        if on_done is not None:
            on_done(key, value_type)


class _Gate:
    """Wraps each node's call in a thread: at most ``slots`` run, errors become values,
    cancelling stops new calls and interrupts running ones."""

    def __init__(self, slots: int) -> None:
        self.sem = threading.Semaphore(slots)
        self.cancelled = False
        self.lock = threading.Lock()
        self.running: set[int] = set()

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        err = _first_error(args)
        if err is not None:
            return err
        if self.cancelled:
            return _Errored(CancelledError())
        ident = threading.get_ident()
        self.sem.acquire()
        try:
            if self.cancelled:
                return _Errored(CancelledError())
            with self.lock:
                self.running.add(ident)
            with lending_slot(self.sem.release, self.sem.acquire):
                return fn(*args)
        except BaseException as exc:
            return _Errored(exc)
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


class _Waiter:
    """A driver thread waiting for ``remaining`` more of its keys (``gather``) or for any
    one of them (``wait_any``, which starts at 1)."""

    __slots__ = ("remaining",)

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining


class LocalDaskExecutor(Executor):
    """Run tasks with Dask's local scheduler, in threads or in worker processes.

    Args:
        scheduler: ``"threads"`` (the default) or ``"processes"``.
        num_workers: how many tasks run at once; the number of CPUs by default.
    """

    def __init__(self, scheduler: str = "threads", num_workers: int | None = None) -> None:
        if scheduler not in ("threads", "processes"):
            raise ValueError(
                f"LocalDaskExecutor scheduler must be 'threads' or 'processes', got {scheduler!r}"
                " (use DaskExecutor for a dask.distributed cluster)"
            )
        if num_workers is not None and num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {num_workers}")
        self.scheduler = scheduler
        self.num_workers = num_workers or os.cpu_count() or 1
        self._pool: PoolExecutor | None = None
        self._gate: _Gate | None = None
        self._cond = threading.Condition()
        self._values: dict[str, Any] = {}
        self._waiters: dict[str, list[_Waiter]] = {}
        self._packed: dict[str, _Packed] = {}
        self._folder: str | None = None
        self._dispatcher: _Dispatcher | None = None
        self._threads: list[threading.Thread] = []
        self._unfinished: set[str] = set()
        self._cancelled = False
        self._watchers: dict[str, Callable[[str, Any], None]] = {}

    @property
    def ships_values(self) -> bool:  # type: ignore[override]
        """True for processes: nodes and values are pickled to the worker processes."""
        return self.scheduler == "processes"

    # -- lifecycle -----------------------------------------------------------------------
    @contextlib.contextmanager
    def start(self) -> Iterator[LocalDaskExecutor]:
        """Start the pool (and, for processes, the log listener); stop them afterwards."""
        listener = None
        if self.scheduler == "threads":
            self._gate = _Gate(self.num_workers)
            self._pool = ThreadPoolExecutor(
                self.num_workers + _SPARE_THREADS, thread_name_prefix="headwater-dask"
            )
        else:
            from headwater.executors import _processes as P

            ctx = P._process_context()
            self._folder = tempfile.mkdtemp(prefix="headwater-literals-")
            queue = ctx.Queue()
            listener = logging.handlers.QueueListener(queue, P._Redispatch())
            listener.start()
            level = logging.getLogger("headwater").getEffectiveLevel()
            processes = ProcessPoolExecutor(
                self.num_workers,
                mp_context=ctx,
                initializer=P._init_process,
                initargs=(queue, level),
            )
            self._pool = processes
            self._dispatcher = P._Dispatcher(self, processes, self.num_workers)
        try:
            yield self
        finally:
            if self._unfinished:  # an error left work running
                self.cancel(list(self._unfinished))
            abandoned, self._cancelled = self._cancelled, False
            pool, self._pool = self._pool, None
            pool.shutdown(wait=not abandoned, cancel_futures=True)
            if not abandoned:
                for t in self._threads:
                    t.join(timeout=5)
            if self._dispatcher is not None:
                self._dispatcher.stop()
                self._dispatcher = None
            if listener is not None:
                listener.stop()
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None
            self._threads.clear()
            with self._cond:
                self._values.clear()
                self._waiters.clear()
                self._packed.clear()
                self._unfinished.clear()
                self._watchers.clear()

    # -- the graph -----------------------------------------------------------------------
    def submit(
        self, graph: Graph, annotations: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        """Start computing a batch in the background (annotations are not used locally)."""
        from dask._task_spec import DataNode, List, Task, TaskRef

        if self._pool is None:
            raise RuntimeError("LocalDaskExecutor.submit called outside executor.start()")
        if self._dispatcher is not None:
            self._submit_to_processes(graph)
            return
        dsk: dict[str, Any] = {}
        external: set[str] = set()
        literals: dict[str, Any] = {}
        for key, node in graph.items():
            if not is_node(node):
                literals[key] = node
                dsk[key] = DataNode(key, node)
                continue
            args: list[Any] = [node[0]]
            for a in node[1:]:
                if type(a) is str:
                    args.append(TaskRef(a))
                    if a not in graph:
                        external.add(a)
                elif type(a) is list:
                    args.append(List(*(TaskRef(k) for k in a)))
                    external.update(k for k in a if k not in graph)
                else:
                    args.append(a)
            dsk[key] = Task(key, self._gate, *args)  # type: ignore[arg-type]
        keys = [k for k in dsk if k not in literals]
        with self._cond:
            for k, v in literals.items():
                self._store(k, v)
            self._unfinished.update(keys)
            told = (
                [(k, self._watchers.pop(k, None), v) for k, v in literals.items()]
                if self._watchers
                else []
            )
        for k, on_done, v in told:
            if on_done is not None:
                on_done(k, type(v))
        if not keys:
            return
        thread = threading.Thread(
            target=self._run_batch, args=(dsk, keys, external), daemon=True, name="headwater-batch"
        )
        self._threads.append(thread)
        thread.start()

    def _submit_to_processes(self, graph: Graph) -> None:
        folder = self._folder
        assert folder is not None and self._dispatcher is not None
        literals = {k: v for k, v in graph.items() if not is_node(v)}
        from headwater.executors._processes import _Packed

        packed = {k: _Packed(v, folder) for k, v in literals.items()}
        with self._cond:
            self._packed.update(packed)
            for k, v in literals.items():
                self._store(k, v)
            told = [(k, self._watchers.pop(k, None), v) for k, v in literals.items()]
            self._unfinished.update(k for k in graph if k not in literals)
            self._dispatcher.add(graph)
        for k, on_done, v in told:
            if on_done is not None:
                on_done(k, type(v))

    def _run_batch(self, dsk: dict[str, Any], keys: list[str], external: set[str]) -> None:
        from dask._task_spec import DataNode
        from dask.local import get_async

        try:
            values = self.gather(external)
            for k, v in values.items():
                dsk[k] = DataNode(k, _Errored(v) if isinstance(v, BaseException) else v)
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
            done = []
            with self._cond:
                for k in keys:
                    if k not in self._values:
                        self._store(k, _Errored(exc))
                        self._unfinished.discard(k)
                        done.append((k, self._watchers.pop(k, None)))
            _tell(done, type(exc))

    def _finished(self, key: str, value: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        on_done = None
        with self._cond:
            if key in self._unfinished:
                self._unfinished.discard(key)
                self._store(key, value)
                if self._watchers:
                    on_done = self._watchers.pop(key, None)
        if on_done is not None:
            on_done(key, _type_of(value))

    def _store(self, key: str, value: Any) -> None:
        """Keep a key's value and wake the driver threads it completes (under the lock)."""
        self._values[key] = value
        waiters = self._waiters.pop(key, None)
        if waiters:
            wake = False
            for w in waiters:
                w.remaining -= 1
                wake = wake or w.remaining == 0
            if wake:
                self._cond.notify_all()

    def _wait(self, keys: Collection[str], remaining: int) -> None:
        """Block until ``remaining`` of ``keys`` (none computed yet) are: O(keys) bookkeeping
        however many wake-ups, instead of a scan of the keys per wake-up (under the lock)."""
        waiter = _Waiter(remaining)
        for k in keys:
            self._waiters.setdefault(k, []).append(waiter)
        try:
            while waiter.remaining > 0:
                self._cond.wait(_POLL)
        finally:
            for k in keys:
                waiters = self._waiters.get(k)
                if waiters is not None:
                    with contextlib.suppress(ValueError):
                        waiters.remove(waiter)
                    if not waiters:
                        del self._waiters[k]

    # -- values --------------------------------------------------------------------------
    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Block until one of ``keys`` is computed; return those that are."""
        with self._cond:
            done = {k for k in keys if k in self._values}
            if done or not keys:
                return done
            self._wait(keys, 1)
            return {k for k in keys if k in self._values}

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Return the values of ``keys`` (the exception for a key that errored)."""
        with self._cond:
            missing = {k for k in keys if k not in self._values}
            if missing:
                self._wait(missing, len(missing))
            out = {}
            for k in keys:
                v = self._values[k]
                out[k] = v.exc if type(v) is _Errored else v
            return out

    def watch(self, keys: Collection[str], on_done: Callable[[str, Any], None]) -> None:
        """Call ``on_done`` as each key is computed (from the batch's driver thread)."""
        done = []
        with self._cond:
            for k in keys:
                if k in self._values:
                    done.append((k, self._values[k]))
                else:
                    self._watchers[k] = on_done
        for k, v in done:
            on_done(k, _type_of(v))

    def release(self, keys: Collection[str]) -> None:
        """Forget values."""
        with self._cond:
            for k in keys:
                self._values.pop(k, None)

    def cancel(self, keys: Collection[str]) -> None:
        """Stop: unfinished keys get a CancelledError now; running tasks are interrupted."""
        self._cancelled = True
        done = []
        with self._cond:
            for k in keys:
                if k in self._unfinished:
                    self._unfinished.discard(k)
                    self._store(k, _Errored(CancelledError()))
                    done.append((k, self._watchers.pop(k, None)))
            self._cond.notify_all()
        _tell(done, CancelledError)
        if self._gate is not None:
            self._gate.cancel()
        elif isinstance(self._pool, ProcessPoolExecutor):
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.terminate()

    def __repr__(self) -> str:
        return f"LocalDaskExecutor(scheduler={self.scheduler!r}, num_workers={self.num_workers})"


__all__ = ["LocalDaskExecutor"]
