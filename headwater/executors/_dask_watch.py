"""What DaskExecutor hears from the cluster: keys finishing (one thread for all), worker logs,
nodes' summaries; and releasing many futures at once.

Design note
-----------
``Executor.watch`` tells the driver of keys finishing (for the progress bar and the run
journal), with the type of their value, never the value. dask.distributed's own way,
``Future.add_done_callback``, costs each future a coroutine on the client's IO loop (the
loop the scheduler and the client share in a LocalCluster) and a hand-over to distributed's
callback thread: 11% of a DaskExecutor run's samples on 1,000 small nodes
(docs/benchmarks.md, issue 14). :class:`KeyWatcher` instead keeps the watched futures in one
list and one thread of its own looks at them every :data:`INTERVAL` seconds: a read of each
pending future's status, nothing on the IO loop. A key is thus told at most
:data:`INTERVAL` seconds after it finished, which a progress bar or a journal line does not
notice. :meth:`KeyWatcher.close` (when the run's executor stops, before the run's hooks
hear it ended) tells every key done by then, cancelled ones included, and forgets the rest,
so nothing is told after the run is over. A listener that raises is logged, as
distributed logs a done callback that raises; the run and the other keys go on.

Workers' log records reach the driver's loggers through :class:`LogRelay`, and the
summaries some nodes send as they finish (a map's pilots: their pace) wait in the client's
:class:`SummaryInbox` until the planner takes them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import CancelledError
from typing import Any

logger = logging.getLogger("headwater.executors")

INTERVAL = 0.02
"""Seconds between two looks at the pending futures."""

Told = Callable[[str, Any], None]


class KeyWatcher:
    """Calls ``on_done(key, value_type)`` once for each watched future when it is done
    (finished, erred or cancelled), from a thread of its own (see the module's note)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, Told]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, future: Any, on_done: Told) -> None:
        """Watch ``future``; the thread starts with the first one.

        Args:
            future: a ``distributed.Future``.
            on_done: told the key and the type of its value once it is done.
        """
        with self._lock:
            self._pending.append((future, on_done))
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, daemon=True, name="headwater-dask-watch"
                )
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(INTERVAL):
            self._sweep()

    def _sweep(self) -> None:
        """Tell the futures done by now, and keep watching the others."""
        done: list[tuple[Any, Told]] = []
        left: list[tuple[Any, Told]] = []
        with self._lock:
            for item in self._pending:
                (done if item[0].done() else left).append(item)
            if done:
                self._pending = left
        for future, on_done in done:
            try:
                tell(on_done, future)
            except Exception:  # a listener's error is its own: the run and the others go on
                logger.exception("Telling the run's hooks that %r finished failed", future.key)

    def close(self) -> None:
        """Stop the thread, tell what is done by now, forget the rest."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._sweep()
        with self._lock:
            self._pending = []


def tell(on_done: Told, future: Any) -> None:
    """Tell ``on_done`` of a done future: its key and the type of its value (the exception's
    type when it erred, ``CancelledError`` when it was cancelled)."""
    if future.status == "finished":
        on_done(future.key, future.type)
    elif future.status == "cancelled":
        on_done(future.key, CancelledError)
    else:
        on_done(future.key, BaseException)


def release_all(client: Any, futures: list[Any]) -> None:
    """Release ``futures`` with one call into the client's event loop.

    ``Future.release`` hands each future to the loop on its own (a wake-up of the loop
    each): 45 ms for the 1,000 futures of a run on this machine (issue 14). Here the
    futures are marked released as ``Future.release`` marks them, so none is released
    twice (by its ``__del__`` either), and one callback drops the client's references.
    A client without those internals (another version of distributed) releases them one
    by one.
    """
    dec_ref = getattr(client, "_dec_ref", None)
    if dec_ref is None or (futures and not hasattr(futures[0], "_cleared")):
        for f in futures:
            f.release()
        return
    keys = []
    generation = client.generation
    for f in futures:
        if not f._cleared and f._generation == generation:
            f._cleared = True
            keys.append(f.key)
    if keys:
        with contextlib.suppress(TypeError):  # the client shutting down: its loop is gone
            client.loop.add_callback(_dec_refs, dec_ref, keys)


def _dec_refs(dec_ref: Callable[[str], None], keys: list[str]) -> None:
    for key in keys:
        dec_ref(key)


class LogRelay:
    """Hands the log records forwarded from workers to the driver's loggers.

    distributed receives them in its IO loop thread. While a run is on, the relay queues
    them for a thread that the run started instead, so that Jupyter shows the lines under
    the cell running the flow (ipykernel sends a thread's output to the cell that started
    the thread: the IO loop's is the cell that made the Client). Between runs, a record is
    handled where it arrives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[logging.LogRecord | None] | None = None
        self._thread: threading.Thread | None = None
        self._users = 0

    def __call__(self, event: Any) -> None:
        _, attributes = event
        record = logging.makeLogRecord(attributes)
        q = self._queue
        if q is not None:
            q.put(record)
        else:
            logging.getLogger(record.name).handle(record)

    @contextlib.contextmanager
    def relaying(self) -> Iterator[None]:
        """Relay through a thread started here, until the block ends (then drain it)."""
        with self._lock:
            self._users += 1
            if self._thread is None:
                q: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
                self._queue = q
                self._thread = threading.Thread(
                    target=_relay_records, args=(q,), daemon=True, name="headwater-worker-logs"
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                thread, q2 = self._thread, self._queue
                if self._users == 0 and thread is not None and q2 is not None:
                    self._thread = self._queue = None
                    q2.put(None)
                    thread.join(timeout=5)


def _relay_records(q: queue.SimpleQueue[logging.LogRecord | None]) -> None:
    while (record := q.get()) is not None:
        logging.getLogger(record.name).handle(record)


class SummaryInbox:
    """The summaries that nodes called through
    :class:`~headwater.executors._dask_worker.SummaryPush` send to one client, as Dask
    events under :attr:`topic` (one topic and one subscription per client, for the client's
    life, so no run pays a message for them). Each run takes its own out by key, and forgets
    those it never took when it ends.

    The event comes on the stream that then says the node finished, so it is here when its
    future is done; one that is not (lost, or not plain data) is asked for as before.

    Args:
        client: the ``distributed.Client`` to subscribe.
    """

    def __init__(self, client: Any) -> None:
        self.topic = f"headwater-summaries-{client.id}"
        self._got: dict[str, Any] = {}
        client.subscribe_topic(self.topic, self)

    def __call__(self, event: Any) -> None:
        """Keep one summary (called in the client's IO loop with ``(time, [key, summary])``)."""
        msg = event[1]
        if isinstance(msg, (list, tuple)) and len(msg) == 2 and isinstance(msg[0], str):
            self._got[msg[0]] = msg[1]

    def take(self, keys: Collection[str]) -> dict[str, Any]:
        """The summaries of ``keys`` that arrived, removed from the inbox."""
        got = self._got
        return {k: got.pop(k) for k in keys if k in got}

    def forget(self, keys: Collection[str]) -> None:
        """Drop what arrived for ``keys`` (a run that ends)."""
        for k in keys:
            self._got.pop(k, None)


_inboxes: weakref.WeakKeyDictionary[Any, SummaryInbox] = weakref.WeakKeyDictionary()


def inbox_of(client: Any) -> SummaryInbox:
    """The client's :class:`SummaryInbox`, subscribed the first time."""
    inbox = _inboxes.get(client)
    if inbox is None:
        inbox = _inboxes[client] = SummaryInbox(client)
    return inbox


__all__ = ["INTERVAL", "KeyWatcher", "LogRelay", "SummaryInbox", "inbox_of", "release_all", "tell"]
