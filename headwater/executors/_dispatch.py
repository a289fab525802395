"""LocalDaskExecutor("processes"): the dispatcher that feeds the worker processes, and what
it does when one of them dies.

Design note
-----------
Worker processes are not fed by Dask's ``get_async``: every value comes back to the driver
and travels to the next node from there, so what counts is how many calls a run makes and
what each carries. One dispatcher (:class:`Dispatcher`, one thread per run) feeds all
batches to the run's worker processes (:class:`~headwater.executors._processes.WorkerProcess`,
each with a pipe of its own); its state lives under the lock of the executor's
:class:`~headwater.executors._store.ValueStore`, which is all of the executor it sees: it
keeps each node's value there with ``finish`` and reads the values it sends along from it.

- Up to ``_CHUNKSIZE`` nodes per call: the ready nodes shared evenly among the idle
  processes, then *followers*: for each node of the call, one dependent whose every input is
  computed or comes earlier in the call (the next task of a chain; only one, so that the
  dependents of a fan-out still spread over the processes). The worker runs them in order,
  each taking its inputs from the values sent along or from the nodes before it
  (:func:`~headwater.executors._processes.run_nodes`). A node whose input erred gets that
  error without a call. Each node's value comes back as soon as the node ends (one message
  a node; the last says the call is over and the process free), so the driver hears of
  it (``watch`` callbacks, the journal) and frees its dependents while the nodes after it
  run: a quick node fused with a slow follower is not held back by it, and is not lost
  if the process dies or the run is interrupted during the follower. The cost: nodes of one
  call run one after the other in one process. A task waiting to retry holds its process
  (a process has no slot to lend) and delays the nodes after it in its call.
- A literal goes to a process with the first call that reads it, then by token only.

**A process that dies.** The dispatcher knows the call each process runs, and the process
notes which node of the call it is running, so when it dies (``os.kill``, the OOM killer,
``os._exit``, a segfault) only that node is lost: its value is a
:class:`~headwater.errors.WorkerLostError` naming the process's exit (errors are values:
the flow runner runs the task again while it has retries, else ends it Crashed, and
resubmits what read it, as after Dask's ``KilledWorker``). The nodes of the call that ran
before it sent their values back already and are kept (they never run twice); those that
never ran are queued again as if they had not been sent, and a new process takes the dead
one's place; the other processes never notice. A process that dies while sending its last
node's value back loses that node. When processes die before starting a call
``_EARLY_DEATHS`` times in a row (a process that cannot start), the nodes of such calls
are lost instead of being queued again, so a run never loops; and should the dispatcher
itself fail (a process that cannot start), every node queued or running gets a
``WorkerLostError`` saying why, so no run waits forever.
"""

from __future__ import annotations

import pickle
import queue
import threading
from collections.abc import Callable
from typing import Any

from headwater.errors import WorkerLostError
from headwater.executors._processes import Packed, WorkerProcess, ship
from headwater.executors._store import Errored, Told, ValueStore, tell
from headwater.taskgraph import Graph, dependencies, is_node

_CHUNKSIZE = 6
"""Most nodes sent to a worker process per call (Dask's multiprocessing default)."""

_EARLY_DEATHS = 3
"""Calls in a row whose process died before running any node, before their nodes are lost
instead of queued again."""

_STOP = object()

_RELEASED = Errored(KeyError("an input of this node was released before the node ran"))

_Node = tuple[Callable[..., Any], tuple[Any, ...], list[str]]
"""A node not sent yet: its function, its arguments, the keys it reads."""

_Call = tuple[list[str], list[_Node]]
"""A call a process runs: its keys, in order, and their nodes (to queue them again)."""


class Dispatcher:
    """Feeds the nodes of every batch to the run's worker processes, several per call (see
    the module's note). Its state lives under the store's lock; one thread per run sends
    the calls, takes their values and replaces a process that died.

    Args:
        store: the executor's values; the dispatcher keeps each node's value there.
        ctx: the multiprocessing context the processes start from.
        slots: how many worker processes run.
        log_queue: the queue the driver's log listener reads.
        level: the driver's effective log level.
        environ: the driver's environment of this run (each process starts with it).
        setup: what the run needs in each process (``setup()`` is called there), or None.
    """

    def __init__(
        self,
        store: ValueStore,
        ctx: Any,
        slots: int,
        log_queue: Any,
        level: int,
        environ: dict[str, str] | None = None,
        setup: Any = None,
    ) -> None:
        self.store = store
        self.ctx = ctx
        self.slots = slots
        self.log = (log_queue, level, environ, setup)
        self.nodes: dict[str, _Node] = {}
        self.waiting: dict[str, int] = {}
        """Node not sent yet -> how many of its inputs are not computed yet (none: ready)."""
        self.dependents: dict[str, list[str]] = {}
        self.ready: list[str] = []
        self.workers: list[WorkerProcess] = []
        self.idle: list[WorkerProcess] = []
        self.closed = False
        self.broken: BaseException | None = None
        """Why the dispatcher cannot run nodes any more (a process that cannot start)."""
        self.early_deaths = 0
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
        keys = []
        for key, node in graph.items():
            if is_node(node):
                self._queue(key, (node[0], node[1:], dependencies(node)))
                keys.append(key)
        self.inbox.put(None)
        return keys

    def _queue(self, key: str, node: _Node) -> None:
        """Queue a node, ready or waiting for the inputs not computed yet (under the lock)."""
        store, values = self.store, self.store.values
        left = 0
        for d in node[2]:
            if d not in values and store.is_unfinished(d):
                left += 1
                waiters = self.dependents.setdefault(d, [])
                if key not in waiters:  # queued again: it may be there from the first time
                    waiters.append(key)
        self.nodes[key] = node
        if left:
            self.waiting[key] = left
        else:
            self.ready.append(key)

    def cancel(self) -> None:
        """Terminate the worker processes (the run is cancelled; nothing is resubmitted)."""
        self.closed = True
        for worker in list(self.workers):
            worker.terminate()

    def stop(self, wait: bool = True) -> None:
        """Stop the dispatcher's thread and the worker processes.

        Args:
            wait: give each process a few seconds to finish what it runs.
        """
        self.closed = True
        self.inbox.put(_STOP)
        self.thread.join(timeout=5)
        for worker in self.workers:
            worker.stop(wait)

    # -- the dispatcher's thread ---------------------------------------------------------
    def _loop(self) -> None:
        while True:
            item = self.inbox.get()
            if item is _STOP:
                return
            try:
                self._step(item)
            except BaseException as exc:  # e.g. no process can start: no node may wait forever
                self.broken = exc
                self._step(None)

    def _step(self, item: Any) -> None:
        """Take one message (a batch added, a node's value, a death) and send what is ready."""
        if self.broken is not None:
            self._fail_all(self.broken)
            return
        if not self.workers and not self.closed:
            self._start_workers()
        worker, data = item if item is not None else (None, None)
        result: tuple[str, Any, bool] | None = None
        fresh = None
        if worker is not None and data is None and not self.closed:
            fresh = WorkerProcess(self.ctx, self.inbox, *self.log)
        elif worker is not None and data is not None:
            result = self._value(worker, data)
        told: Told = []
        with self.store.lock:
            if worker is not None and data is None:
                self._died(worker, fresh, told)
            if result is not None:
                key, value, last = result
                if last and worker is not None:  # the call is over: the process is free
                    worker.call = None
                    self.idle.append(worker)
                self._finish(key, value, told)
            calls = self._take(told)
        tell(told)
        for call in calls:
            self._send(*call)

    def _fail_all(self, exc: BaseException) -> None:
        """Give every node queued or in a call this error (the dispatcher cannot go on)."""
        told: Told = []
        error = Errored(
            WorkerLostError(f"LocalDaskExecutor cannot run its worker processes: {exc!r}")
        )
        with self.store.lock:
            keys = list(self.nodes)
            for worker in self.workers:
                keys.extend(worker.call[0] if worker.call is not None else ())
            self.nodes.clear()
            self.waiting.clear()
            self.ready.clear()
            for k in keys:
                self._finish(k, error, told)
        tell(told)

    def _start_workers(self) -> None:
        """Start the worker processes (on the first batch: after the forkserver's preload)."""
        started = [WorkerProcess(self.ctx, self.inbox, *self.log) for _ in range(self.slots)]
        with self.store.lock:
            self.workers.extend(started)
            self.idle.extend(started)

    def _value(self, worker: WorkerProcess, data: bytes) -> tuple[str, Any, bool]:
        """One node's value as sent back, and whether it ends its call; an error when it
        cannot be loaded here (the nodes of a call come back in order, one message each)."""
        self.early_deaths = 0
        sent = worker.sent
        worker.sent += 1
        try:
            key, value, last = pickle.loads(data)
            return key, value, last
        except BaseException as exc:
            keys = worker.call[0] if worker.call is not None else []
            key = keys[sent] if sent < len(keys) else ""
            return key, Errored(exc), sent >= len(keys) - 1

    def _died(self, worker: WorkerProcess, fresh: WorkerProcess | None, told: Told) -> None:
        """A worker process died: its running node is lost, the rest of its call is queued
        again, and ``fresh`` takes its place (under the store's lock)."""
        if worker in self.workers:
            self.workers.remove(worker)
        if worker in self.idle:
            self.idle.remove(worker)
        if fresh is not None:
            self.workers.append(fresh)
            self.idle.append(fresh)
        call, worker.call = worker.call, None
        if call is None or self.closed:
            return
        keys, nodes = call
        at = worker.progress.value
        how = worker.how_it_died()
        if 0 <= at < len(keys):
            lost = {keys[at]}
            error = f"The worker process running it died ({how})."
        elif at >= len(keys):
            lost = set(keys)
            error = f"The worker process died while sending its value back ({how})."
        else:
            self.early_deaths += 1
            lost = set(keys) if self.early_deaths >= _EARLY_DEATHS else set()
            error = f"Worker processes die before running anything ({how})."
        for key, node in zip(keys, nodes, strict=True):
            if key not in lost and self.store.is_unfinished(key):
                self._queue(key, node)
        for key in keys:  # (a node whose value came back before the death is kept)
            if key in lost and self.store.is_unfinished(key):
                self._finish(key, Errored(WorkerLostError(error)), told)

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

    def _take(self, told: Told) -> list[tuple[WorkerProcess, list[Any], dict[str, Any]]]:
        """Make the calls that idle processes can take (under the store's lock): ready nodes
        shared evenly, then nodes whose every input is computed or comes earlier in the call."""
        store, calls = self.store, []
        while self.ready and self.idle:
            size = max(1, min(_CHUNKSIZE, -(-len(self.ready) // len(self.idle))))
            chunk = self._ready_nodes(size, told)
            inchunk = set(chunk)
            self._add_followers(chunk, inchunk)
            if not chunk:
                continue
            worker = self.idle.pop()
            nodes, data, queued = [], {}, []
            for key in chunk:
                node = self.nodes.pop(key)
                fn, args, deps = node
                for d in deps:
                    if d not in inchunk:
                        data[d] = store.sendable(d, _RELEASED)
                nodes.append((key, fn, args))
                queued.append(node)
            worker.call, worker.sent = (chunk, queued), 0
            calls.append((worker, nodes, data))
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

    def _send(self, worker: WorkerProcess, nodes: list[Any], data: dict[str, Any]) -> None:
        """Send a call: each literal whole to a process that lacks it, else by token."""
        tokens = []
        for k, v in data.items():
            if type(v) is Packed:
                if v.token in worker.has:
                    data[k] = v.again()
                else:
                    data[k] = v.first()
                    tokens.append(v.token)
        try:
            payload = ship((nodes, data))
        except BaseException as exc:  # what would not pickle
            told: Told = []
            with self.store.lock:
                keys = worker.call[0] if worker.call is not None else []
                worker.call = None
                self.idle.append(worker)
                for k in keys:
                    self._finish(k, Errored(exc), told)
            tell(told)
            self.inbox.put(None)
            return
        worker.has.update(tokens)
        try:
            worker.send(payload)
        except OSError:
            pass  # it died: its reader says so, and its call is queued again


__all__ = ["Dispatcher"]
