"""LocalDaskExecutor("threads"): the dispatcher that runs each node on a thread as soon as
its inputs are computed.

Design note
-----------
Dask's local scheduler (``dask.local.get_async``) took about 145 µs of GIL time per node on
a 2-core machine (ordering the graph, its state machine, and a round trip through its own
thread for every finished task): more than a whole headwater node (notice 0016). The threads path therefore runs its
own, smaller dispatcher, as the processes path does (:mod:`headwater.executors._dispatch`):

- :meth:`ThreadDispatcher.add` takes a batch under the store's lock: each node counts its
  inputs that are not computed yet (of this batch or an earlier one) and waits for them, or
  is ready and goes to the thread pool;
- a thread runs a node (:class:`Gate`: at most ``slots`` at once, errors as values, a task
  waiting to retry lends its slot), keeps its value in the store, counts its dependents down,
  runs one dependent that became ready itself (a chain stays on one thread, with no hand-over
  between threads) and hands the others to the pool.

A node reads its inputs from the store: every input of a ready node is computed, and values
are only released by the flow runner once it no longer needs them.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

from headwater.executors._store import Errored, Told, ValueStore, first_error, tell
from headwater.executors.base import lending_slot
from headwater.taskgraph import Graph, dependencies, is_node, resolve

_RELEASED = Errored(KeyError("an input of this node was released before the node ran"))

_RETIRE = object()
"""Queued when a lent slot comes back: the thread taking it ends."""


class Gate:
    """Wraps each node's call in a thread: at most ``slots`` run, errors become values,
    cancelling stops new calls and interrupts running ones; a task that lends its slot
    (:func:`~headwater.executors.base.lend_slot`) asks for a thread to use it meanwhile.

    Args:
        slots: how many nodes run at once.
        lent: called when a running task lends its slot out.
    """

    def __init__(self, slots: int, lent: Callable[[], None], returned: Callable[[], None]) -> None:
        self.sem = threading.Semaphore(slots)
        self.cancelled = False
        self.lock = threading.Lock()
        self.running: set[int] = set()
        self._lent = lent
        self._returned = returned

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` in a slot; an exception (or a cancel) is the value.

        Args:
            fn: the node's function.
            *args: its resolved arguments.
        """
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
            with lending_slot(self._lend, self._take_back):
                return fn(*args)
        except BaseException as exc:
            return Errored(exc)
        finally:
            with self.lock:
                self.running.discard(ident)
            self.sem.release()

    def _lend(self) -> None:
        self.sem.release()
        self._lent()

    def _take_back(self) -> None:
        self.sem.acquire()
        self._returned()

    def cancel(self) -> None:
        """Stop: no new call starts, and running ones get a KeyboardInterrupt."""
        with self.lock:
            self.cancelled = True
            for ident in self.running:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
                )


class ThreadDispatcher:
    """Runs the nodes of every batch of a run on ``slots`` threads (see the module's note).

    Args:
        store: the executor's values; each node's value is kept there.
        slots: how many nodes run at once (and threads, plus one for each task lending its
            slot while it waits to retry).
    """

    def __init__(self, store: ValueStore, slots: int) -> None:
        self.store = store
        self.gate = Gate(slots, self._spare, self._retire)
        self.ready: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.nodes: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        """Nodes not run yet: function and arguments."""
        self.waiting: dict[str, int] = {}
        """Node -> how many of its inputs are not computed yet."""
        self.dependents: dict[str, list[str]] = {}
        self.threads: list[threading.Thread] = []
        for _ in range(slots):
            self._spare()

    def add(self, graph: Graph) -> list[str]:
        """Take a batch's nodes (under the store's lock; its literals are in the store).

        Args:
            graph: the batch.

        Returns:
            The nodes ready to run: give them to :meth:`start` once the lock is released.
        """
        store, values = self.store, self.store.values
        ready = []
        for key, node in graph.items():
            if not is_node(node):
                continue
            left = 0
            for d in dependencies(node):
                if d not in values and store.is_unfinished(d):
                    left += 1
                    self.dependents.setdefault(d, []).append(key)
            self.nodes[key] = (node[0], node[1:])
            if left:
                self.waiting[key] = left
            else:
                ready.append(key)
        return ready

    def start(self, keys: list[str]) -> None:
        """Queue ready nodes for the threads.

        Args:
            keys: nodes :meth:`add` found ready.
        """
        for key in keys:
            self.ready.put(key)

    def _spare(self) -> None:
        """Start a thread: one per slot, and one while a slot is lent out."""
        thread = threading.Thread(target=self._serve, daemon=True, name="headwater-dask")
        self.threads.append(thread)
        thread.start()

    def _retire(self) -> None:
        """One thread (whichever takes this from the queue) ends: a lent slot came back."""
        self.ready.put(_RETIRE)

    def _serve(self) -> None:
        """A thread's life: run the queued nodes until told to stop."""
        while (key := self.ready.get()) is not None and key is not _RETIRE:
            self._run(key)
        self.threads.remove(threading.current_thread())

    def _run(self, key: str | None) -> None:
        """Run a node, then one dependent it made ready, and so on; queue the others."""
        store = self.store
        while key is not None:
            with store.lock:
                fn, args = self.nodes.pop(key)
            value = self._call(fn, args)
            told: Told = []
            ready: list[str] = []
            with store.lock:
                on_done = store.finish(key, value)
                if on_done is not None:
                    told.append((key, on_done, value))
                for d in self.dependents.pop(key, ()):
                    left = self.waiting[d] - 1
                    if left:
                        self.waiting[d] = left
                    else:
                        del self.waiting[d]
                        ready.append(d)
            tell(told)
            key = ready[0] if ready else None
            self.start(ready[1:])

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        values = self.store.values
        try:
            resolved = [resolve(a, values) for a in args]
        except KeyError:
            return _RELEASED
        return self.gate(fn, *resolved)

    def cancel(self) -> None:
        """Stop running nodes (each one left gets a CancelledError) and interrupt those
        that run."""
        self.gate.cancel()

    def stop(self, wait: bool) -> None:
        """Stop the threads once they finished what they run.

        Args:
            wait: wait (a few seconds) for the nodes that run to end.
        """
        threads = list(self.threads)
        for _ in threads:
            self.ready.put(None)
        if wait:
            for thread in threads:
                thread.join(timeout=5)


__all__ = ["Gate", "ThreadDispatcher"]
