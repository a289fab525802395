"""LocalDaskExecutor: Dask's local scheduler (threads or processes) over a growing graph.

Design note
-----------
Dask's local scheduler (:func:`dask.local.get_async`) computes one whole graph per call. The
flow runner hands graphs over in batches, so each batch runs as its own ``get_async`` call
in a small driver thread, all of them feeding one shared pool; values are kept here (a dict
guarded by one condition) until the flow runner releases them. A batch that refers to keys
of earlier batches first waits for those values, then passes them in as data: batches never
deadlock (a later batch waits only on earlier ones), and the threads of the pool never
block on one another.

Errors are values. Each node's call is wrapped: an exception becomes an ``_Errored`` marker
stored under the key, and a node receiving a marker returns it without running (as
dask.distributed does for the dependents of an erred task), so one bad node never aborts a
``get_async`` call and ``gather`` hands the exception back for the flow runner to judge.

Threads: the pool is larger than ``num_workers`` and a semaphore of ``num_workers`` slots
bounds the nodes that actually run; a task sleeping before a retry lends its slot out
(:func:`~headwater.executors.base.lend_slot`), so waiting tasks never starve the rest.

Processes (forked from a forkserver where there is one, else spawned; a pool per run). What
crosses to a worker process is kept small, because on this backend every node's inputs
travel from the driver with it:

- A literal (a task's definition, the run's context) is pickled once, into a file of the
  run's folder (:class:`_Packed`); what travels with each node that uses it is its token and
  path, and each worker process reads and unpickles the file the first time one of its nodes
  needs it, then keeps the value by token (``_received`` counts the reads: one per process
  and literal). A file, because a process pool cannot address one of its processes: the
  driver cannot know which process lacks a literal, so the process fetches it when it does.
  A literal of an earlier batch is passed on as the same token. The folder is removed when
  the run ends.
- Several ready nodes go in one pool call (``chunksize`` of :func:`dask.local.get_async`,
  ``_CHUNKSIZE`` nodes, as ``dask.multiprocessing.get`` does), not one call each. The cost:
  nodes of one call run one after the other in one process, and the driver hears of them
  (values, ``watch`` callbacks) when the call returns. A task waiting to retry holds its
  process (a pool of processes has no slot to lend) and delays the nodes after it in its
  call.

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
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import CancelledError, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import Executor as PoolExecutor
from typing import Any

from headwater._pickling import dumps as _dumps
from headwater.executors.base import Executor, Graph, is_node, lending_slot

_SPARE_THREADS = 16
"""Threads beyond ``num_workers``, so tasks waiting to retry do not hold pool threads."""

_POLL = 0.2
"""Seconds between wake-ups of a waiting driver thread, so Ctrl-C is seen promptly."""

_CHUNKSIZE = 6
"""Ready nodes sent to a worker process per pool call (Dask's multiprocessing default)."""


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


class _Packed:
    """A literal pickled once in the driver into a file of the run's folder; its pickled
    form is only the token and the path, and each worker process reads and unpickles the
    file the first time a node needs it (:func:`_unpack`)."""

    __slots__ = ("path", "token")

    def __init__(self, value: Any, folder: str) -> None:
        self.token = uuid.uuid4().hex
        self.path = os.path.join(folder, self.token)
        blob = _dumps(value)
        with open(self.path, "wb") as f:
            f.write(blob)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpack, (self.token, self.path))


_unpacked: dict[str, Any] = {}
"""This process's literals by token (a worker process lives for one run)."""

_received: dict[str, int] = {}
"""How many times this process read each literal's bytes: at most once per token."""

_calls = [0, 0]
"""Pool calls and nodes this worker process has run (tests read them from a task)."""


def _unpack(token: str, path: str) -> Any:
    try:
        return _unpacked[token]
    except KeyError:
        pass
    with open(path, "rb") as f:
        blob = f.read()
    _received[token] = _received.get(token, 0) + 1
    value = _unpacked[token] = pickle.loads(blob)
    return value


def _run_chunk(args: list[tuple[Any, ...]]) -> list[Any]:
    """Run one pool call's nodes (several ready ones: get_async's ``chunksize``)."""
    from dask.local import batch_execute_tasks

    _calls[0] += 1
    _calls[1] += len(args)
    return batch_execute_tasks(args)


def _call_in_process(fn: Callable[..., Any], *args: Any) -> Any:
    """Run one node in a worker process; an exception becomes the key's value."""
    err = _first_error(args)
    if err is not None:
        return err
    try:
        return fn(*args)
    except BaseException as exc:
        return _Errored(exc)


def _init_process(queue: Any, level: int) -> None:
    """Send the worker process's ``headwater`` logs to the driver."""
    logger = logging.getLogger("headwater")
    logger.handlers[:] = [logging.handlers.QueueHandler(queue)]
    logger.setLevel(level)
    logger.propagate = False


class _Redispatch(logging.Handler):
    """Hand a record from a worker process to the driver's logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


def _process_context() -> Any:
    """forkserver where there is one (a fresh process per run costs ~15 ms instead of a
    ~300 ms spawn; the server is forked before any thread of ours exists), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["headwater.core.flow_runner", __name__])
        return ctx
    return multiprocessing.get_context("spawn")


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
            ctx = _process_context()
            self._folder = tempfile.mkdtemp(prefix="headwater-literals-")
            queue = ctx.Queue()
            listener = logging.handlers.QueueListener(queue, _Redispatch())
            listener.start()
            level = logging.getLogger("headwater").getEffectiveLevel()
            self._pool = ProcessPoolExecutor(
                self.num_workers, mp_context=ctx, initializer=_init_process, initargs=(queue, level)
            )
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
        folder = self._folder
        dsk: dict[str, Any] = {}
        external: set[str] = set()
        literals: dict[str, Any] = {}
        wrapper: Callable[..., Any] = _call_in_process if folder else self._gate  # type: ignore[assignment]
        for key, node in graph.items():
            if not is_node(node):
                literals[key] = node
                if folder is None:
                    dsk[key] = DataNode(key, node)
                else:
                    dsk[key] = DataNode(key, packed := _Packed(node, folder))
                    self._packed[key] = packed
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
            dsk[key] = Task(key, wrapper, *args)
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

    def _run_batch(self, dsk: dict[str, Any], keys: list[str], external: set[str]) -> None:
        from dask._task_spec import DataNode
        from dask.local import get_async

        try:
            values = self.gather(external)
            for k, v in values.items():
                v = self._packed.get(k, v)  # a literal of an earlier batch travels as a token
                dsk[k] = DataNode(k, _Errored(v) if isinstance(v, BaseException) else v)
            pool = self._pool
            if pool is None:
                raise CancelledError()
            ships = self.scheduler == "processes"

            def submit(fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> Any:
                return pool.submit(_run_chunk, args)

            get_async(
                submit if ships else pool.submit,
                self.num_workers + (0 if ships else _SPARE_THREADS),
                dsk,
                keys,
                callbacks=[(None, None, None, self._finished, None)],
                chunksize=_CHUNKSIZE if ships else 1,
                get_id=threading.get_ident,
                dumps=_dumps if ships else (lambda x: x),
                loads=pickle.loads if ships else (lambda x: x),
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
