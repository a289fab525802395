"""LocalDaskExecutor("processes"): the dispatcher that feeds a process pool, and what its
worker processes run.

Design note
-----------
Worker processes (forked from a forkserver where there is one, else spawned; a pool per
run) are not fed by Dask's ``get_async``: every value comes back to the driver and travels
to the next node from there, so what counts is how many pool calls a run makes and what
each carries.
A small dispatcher (:class:`Dispatcher`, one thread per run) feeds all batches to the pool;
its state lives under the lock of the executor's
:class:`~headwater.executors._store.ValueStore`, which is all of the executor it sees: it
keeps each node's value there with ``finish`` and reads the values it sends along from it.

- Up to ``_CHUNKSIZE`` nodes per call: the ready nodes shared evenly among the free
  processes, then *followers*: for each node of the call, one dependent whose every input is
  computed or comes earlier in the call (the next task of a chain; only one, so that the
  dependents of a fan-out still spread over the processes). The worker runs them in
  order, each taking its inputs from the values sent along or from the nodes before it
  (:func:`_run_nodes`). A node whose input erred gets that error without a call. The cost:
  nodes of one call run one after the other in one process, and the driver hears of them
  (values, ``watch`` callbacks) when the call returns. A task waiting to retry holds its
  process (a pool of processes has no slot to lend) and delays the nodes after it in its
  call.
- A literal (a task's definition, the run's context) is pickled once, into a file of the
  run's folder (:class:`Packed`); what travels with each node that uses it is its token and
  path, and each worker process reads and unpickles the file the first time one of its nodes
  needs it, then keeps the value by token (``_received`` counts the reads: one per process
  and literal). A file, because a process pool cannot address one of its processes: the
  driver cannot know which process lacks a literal, so the process fetches it when it does.
  The folder is removed when the run ends.
- What crosses is pickled by :func:`_ship`: the standard pickler, taught the read-only
  mappings of task definitions and contexts, which would otherwise send every node through
  cloudpickle.

Each worker process is made ready by :func:`init_process`: the driver's environment of this
run, the run's setup, and its logs sent back through a queue to the driver's loggers
(:class:`Redispatch`). Only :mod:`headwater.executors.dask_local` uses this module (its
public names: the dispatcher, :class:`Packed`, :func:`process_context` and the log plumbing);
worker processes import it (the forkserver preloads it, with the modules of the first
graph's node functions: :func:`preload`) to run :func:`_run_nodes`.
"""

from __future__ import annotations

import copyreg
import io
import logging
import logging.handlers
import multiprocessing
import os
import pickle
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from types import MappingProxyType
from typing import Any

from headwater.executors._store import Errored, Told, ValueStore, first_error, tell
from headwater.pickling import dumps
from headwater.taskgraph import Graph, dependencies, is_node, resolve

_CHUNKSIZE = 6
"""Most nodes sent to a worker process per pool call (Dask's multiprocessing default)."""


def _mappingproxy(d: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(d)


def _reduce_mappingproxy(m: MappingProxyType[Any, Any]) -> tuple[Any, ...]:
    return (_mappingproxy, (dict(m),))


_DISPATCH = {**copyreg.dispatch_table, MappingProxyType: _reduce_mappingproxy}


def _ship(obj: Any) -> bytes:
    """Pickle what crosses to or from a worker process: the standard pickler, which also
    takes the read-only mappings of task definitions and run contexts (the plain pickler
    refuses them, and cloudpickle costs several times more), else :func:`~headwater.pickling.dumps`."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    try:
        pickler.dump(obj)
    except Exception:
        return dumps(obj)
    data = buf.getvalue()
    return data if b"__main__" not in data else dumps(obj)


class Packed:
    """A literal pickled once in the driver into a file of the run's folder; its pickled
    form is only the token and the path, and each worker process reads and unpickles the
    file the first time a node needs it (:func:`_unpack`).

    Args:
        value: the literal.
        folder: the run's folder for literals.
    """

    __slots__ = ("path", "token")

    def __init__(self, value: Any, folder: str) -> None:
        self.token = uuid.uuid4().hex
        self.path = os.path.join(folder, self.token)
        blob = _ship(value)
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


def _run_nodes(payload: bytes) -> bytes:
    """Run one pool call's nodes in order in this worker process: each takes its inputs from
    the values sent along or from the nodes before it in the call. Returns ``(key, value)``
    pairs, pickled; an exception (or a value that cannot travel back) becomes ``Errored``."""
    nodes, values = pickle.loads(payload)
    _calls[0] += 1
    _calls[1] += len(nodes)
    out = []
    for key, fn, args in nodes:
        value = values[key] = _call_in_process(fn, *(resolve(a, values) for a in args))
        out.append((key, value))
    try:
        return _ship(out)
    except Exception:
        pass
    kept = []
    for key, value in out:
        try:
            _ship(value)
        except Exception as exc:
            value = Errored(exc)
        kept.append((key, value))
    return _ship(kept)


def _call_in_process(fn: Callable[..., Any], *args: Any) -> Any:
    """Run one node in a worker process; an exception becomes the key's value."""
    err = first_error(args)
    if err is not None:
        return err
    try:
        return fn(*args)
    except BaseException as exc:
        return Errored(exc)


def init_process(
    queue: Any, level: int, environ: dict[str, str] | None = None, setup: Any = None
) -> None:
    """Make a worker process ready for the run (a pool's initializer): the driver's
    environment as it is now (a process forked from the forkserver inherits the one the
    server started with, maybe runs ago), the run's setup, and ``headwater`` logs sent to the
    driver.

    Args:
        queue: the queue the driver's listener reads.
        level: the driver's effective level.
        environ: the driver's environment.
        setup: what the run needs in each process (``setup()`` is called), or None.
    """
    if environ is not None:
        for name in set(os.environ) - set(environ):
            del os.environ[name]
        os.environ.update(environ)
    logger = logging.getLogger("headwater")
    logger.handlers[:] = [logging.handlers.QueueHandler(queue)]
    logger.setLevel(level)
    logger.propagate = False
    if setup is not None:
        setup.setup()


class Redispatch(logging.Handler):
    """Hand a record from a worker process to the driver's logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        """Hand ``record`` on.

        Args:
            record: the worker process's record.
        """
        logging.getLogger(record.name).handle(record)


def process_context() -> Any:
    """forkserver where there is one (a fresh process per run costs ~15 ms instead of a
    ~300 ms spawn; the server is forked before any thread of ours exists), else spawn.

    Returns:
        The multiprocessing context for a run's pool.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def preload(graph: Graph) -> None:
    """Have the forkserver import the modules of ``graph``'s node functions (and this one)
    when it starts, so that every worker process of every run starts with them imported
    instead of importing them on its first node. Call it before the first process starts;
    once the server runs, it keeps what it imported."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    modules = {getattr(node[0], "__module__", None) for node in graph.values() if is_node(node)}
    modules.discard(None)
    modules.discard("__main__")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, *sorted(m for m in modules if m)])


_STOP = object()

_RELEASED = Errored(KeyError("an input of this node was released before the node ran"))


class Dispatcher:
    """Feeds the nodes of every batch to a process pool, several per call (see the module's
    note). Its state lives under the store's lock; one thread per run sends the calls and
    takes their results.

    Args:
        store: the executor's values; the dispatcher keeps each node's value there.
        pool: the run's process pool.
        slots: how many calls run at once (the pool's processes).
    """

    def __init__(self, store: ValueStore, pool: ProcessPoolExecutor, slots: int) -> None:
        self.store = store
        self.pool = pool
        self.slots = slots
        self.nodes: dict[str, tuple[Callable[..., Any], tuple[Any, ...], list[str]]] = {}
        self.waiting: dict[str, int] = {}
        """Node not sent yet -> how many of its inputs are not computed yet (none: ready)."""
        self.dependents: dict[str, list[str]] = {}
        self.ready: list[str] = []
        self.inflight = 0
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="headwater-processes")
        self.thread.start()

    def add(self, graph: Graph) -> list[str]:
        """Take a batch's nodes (under the store's lock).

        Args:
            graph: the batch (its literals are in the store already).

        Returns:
            The keys of its nodes.
        """
        values = self.store.values
        keys = []
        for key, node in graph.items():
            if not is_node(node):
                continue
            deps = dependencies(node)
            left = 0
            for d in deps:
                if d not in values:
                    left += 1
                    self.dependents.setdefault(d, []).append(key)
            self.nodes[key] = (node[0], node[1:], deps)
            if left:
                self.waiting[key] = left
            else:
                self.ready.append(key)
            keys.append(key)
        self.inbox.put(None)
        return keys

    def stop(self) -> None:
        """Stop the dispatcher's thread (the pool is shut down by its executor)."""
        self.inbox.put(_STOP)
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            item = self.inbox.get()
            if item is _STOP:
                return
            results: list[tuple[str, Any]] = []
            if item is not None:
                keys, fut = item
                try:
                    results = pickle.loads(fut.result())
                except BaseException as exc:  # a broken or terminated pool
                    results = [(k, Errored(exc)) for k in keys]
            told: Told = []
            with self.store.lock:
                if item is not None:
                    self.inflight -= 1
                for k, v in results:
                    self._finish(k, v, told)
                calls = self._take(told)
            tell(told)
            for chunk, nodes, data in calls:
                self._send(chunk, nodes, data)

    def _finish(self, key: str, value: Any, told: Told) -> None:
        """Keep a node's value (unless cancelled meanwhile) and free its dependents."""
        on_done = self.store.finish(key, value)
        if on_done is not None:
            told.append((key, on_done, value))
        for d in self.dependents.pop(key, ()):
            left = self.waiting.get(d)
            if left is None:  # sent already, as a follower of one of its inputs
                continue
            if left == 1:
                del self.waiting[d]
                self.ready.append(d)
            else:
                self.waiting[d] = left - 1

    def _take(self, told: Told) -> list[tuple[list[str], list[Any], dict[str, Any]]]:
        """Make the calls that free processes can take (under the store's lock): ready nodes
        shared evenly, then nodes whose every input is computed or comes earlier in the call."""
        store, calls = self.store, []
        free = self.slots - self.inflight
        while self.ready and free > 0:
            size = max(1, min(_CHUNKSIZE, -(-len(self.ready) // free)))
            chunk = self._ready_nodes(size, told)
            inchunk = set(chunk)
            self._add_followers(chunk, inchunk)
            if not chunk:
                continue
            nodes, data = [], {}
            for key in chunk:
                fn, args, deps = self.nodes.pop(key)
                for d in deps:
                    if d not in inchunk:
                        data[d] = store.sendable(d, _RELEASED)
                nodes.append((key, fn, args))
            calls.append((chunk, nodes, data))
            self.inflight += 1
            free -= 1
        return calls

    def _ready_nodes(self, size: int, told: Told) -> list[str]:
        """Up to ``size`` ready nodes for one call; a node cancelled meanwhile, or whose input
        erred, is finished here without a call (under the store's lock)."""
        store, values = self.store, self.store.values
        chunk: list[str] = []
        while self.ready and len(chunk) < size:
            key = self.ready.pop()
            deps = self.nodes[key][2]
            err = next((values[d] for d in deps if type(values.get(d)) is Errored), None)
            if not store.is_unfinished(key) or err is not None:
                # cancelled, or an input erred: its value is known without a call
                del self.nodes[key]
                self._finish(key, err if err is not None else values.get(key), told)
                continue
            chunk.append(key)
        return chunk

    def _add_followers(self, chunk: list[str], inchunk: set[str]) -> None:
        """Append to ``chunk`` one follower per node: a dependent whose every input is
        computed or comes earlier in the call, so a chain is followed and a fan-out spread
        (under the store's lock)."""
        store, values = self.store, self.store.values
        i = 0
        while i < len(chunk) and len(chunk) < _CHUNKSIZE:
            for d in self.dependents.get(chunk[i], ()):
                if (
                    d in self.waiting
                    and store.is_unfinished(d)
                    and all(x in inchunk or x in values for x in self.nodes[d][2])
                ):
                    del self.waiting[d]
                    chunk.append(d)
                    inchunk.add(d)
                    break  # one follower per node
            i += 1

    def _send(self, chunk: list[str], nodes: list[Any], data: dict[str, Any]) -> None:
        try:
            payload = _ship((nodes, data))
            fut = self.pool.submit(_run_nodes, payload)
        except BaseException as exc:  # a shut-down pool; or what would not pickle
            told: Told = []
            with self.store.lock:
                self.inflight -= 1
                for k in chunk:
                    self._finish(k, Errored(exc), told)
            tell(told)
            self.inbox.put(None)
            return
        fut.add_done_callback(lambda f: self.inbox.put((chunk, f)))
