"""DaskExecutor's futures: one thread hears of every watched key finishing; releasing many at once.

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
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
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


__all__ = ["INTERVAL", "KeyWatcher", "release_all", "tell"]
