"""LocalDaskExecutor's bookkeeping of values: what its threads path and its processes
dispatcher share.

Design note
-----------
Errors are values: an exception raised by a node (or the cancelling of a node) becomes an
:class:`Errored` marker stored under the key, and a node receiving a marker returns it
without running (:func:`first_error`), as dask.distributed does for the dependents of an
erred task; ``gather`` hands the exception back for the flow runner to judge.

:class:`ValueStore` keeps, under one condition (:attr:`ValueStore.lock`), the computed values,
the keys submitted and not finished yet, the ``watch`` callbacks, the packed literals of a
processes run, and the driver threads waiting for keys. Whoever computes a node (a batch's
driver thread, or the dispatcher of a process pool) calls :meth:`ValueStore.finish` under the
lock and calls the watcher it returns after releasing it (:func:`tell`); the driver's side
(``gather``, ``wait_any``, ``watch``, ``release``) takes the lock itself.

Waiting registers a counter under each missing key; storing a value counts it down and wakes
the driver only when a waiter is complete, so waiting for *n* keys costs O(n) however many of
them finish one by one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from headwater.pickling import dumps

_POLL = 0.2
"""Seconds between wake-ups of a waiting driver thread, so Ctrl-C is seen promptly."""

Watcher = Callable[..., None]
"""A ``watch`` callback: takes a key and the type of its value (or of its exception)."""

Told = list[tuple[str, Watcher, Any]]
"""Watchers to call once the lock is released: ``(key, watcher, value)``."""


class Errored:
    """The value of a key whose computation raised (or was cancelled).

    Pickles with its exception, or, when that exception does not pickle, with a
    RuntimeError naming it.

    Args:
        exc: the exception.
    """

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self) -> tuple[Any, ...]:
        try:
            dumps(self.exc)
            exc = self.exc
        except Exception:
            exc = RuntimeError(f"{type(self.exc).__name__}: {self.exc}")
        return (Errored, (exc,))


def first_error(args: tuple[Any, ...]) -> Errored | None:
    """The first :class:`Errored` among a node's resolved arguments (or in a list of them).

    Args:
        args: the arguments a node's function would be called with.

    Returns:
        The marker the node returns instead of running, or None.
    """
    for a in args:
        if type(a) is Errored:
            return a
        if type(a) is list:
            for x in a:
                if type(x) is Errored:
                    return x
    return None


def type_of(value: Any) -> type:
    """The type a watcher is told: the exception's for an :class:`Errored` value.

    Args:
        value: a stored value.

    Returns:
        Its type, or its exception's.
    """
    return type(value.exc) if type(value) is Errored else type(value)


def tell(told: Told) -> None:
    """Call the watchers gathered under the lock (after releasing it).

    Args:
        told: ``(key, watcher, value)`` triples.
    """
    for key, on_done, value in told:
        on_done(key, type_of(value), value)


class _Waiter:
    """A driver thread waiting for ``remaining`` more of its keys (``gather``) or for any
    one of them (``wait_any``, which starts at 1)."""

    __slots__ = ("remaining",)

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining


class ValueStore:
    """The values of a run's keys, the keys not finished, their watchers and waiters, under
    one condition (see the module's note).

    Methods that say "under the lock" expect the caller to hold :attr:`lock` (so that one
    acquisition covers a batch of them); the others take it themselves.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        """Guards everything here; notified when a waiting driver thread has its keys."""
        self.values: dict[str, Any] = {}
        """Key -> value (an :class:`Errored` for a key that raised); read under the lock."""
        self._unfinished: set[str] = set()
        self._packed: dict[str, Any] = {}
        self._waiters: dict[str, list[_Waiter]] = {}
        self._watchers: dict[str, Watcher] = {}

    # -- under the lock ------------------------------------------------------------------
    def expect(self, keys: Iterable[str]) -> None:
        """Count ``keys`` as submitted and not finished (under the lock).

        Args:
            keys: the node keys of a batch.
        """
        self._unfinished.update(keys)

    def is_unfinished(self, key: str) -> bool:
        """Whether ``key`` was submitted and has no value yet (under the lock).

        Args:
            key: a key.

        Returns:
            False once it finished, erred or was cancelled.
        """
        return key in self._unfinished

    def _keep(self, key: str, value: Any) -> Watcher | None:
        """Keep a key's value and wake the driver threads it completes (under the lock).

        Args:
            key: the key.
            value: its value (an :class:`Errored` for an error).

        Returns:
            The key's watcher, to call once the lock is released.
        """
        self.values[key] = value
        waiters = self._waiters.pop(key, None)
        if waiters:
            wake = False
            for w in waiters:
                w.remaining -= 1
                wake = wake or w.remaining == 0
            if wake:
                self.lock.notify_all()
        return self._watchers.pop(key, None) if self._watchers else None

    def finish(self, key: str, value: Any) -> Watcher | None:
        """Keep the value of an unfinished key (a cancelled one keeps its CancelledError)
        (under the lock).

        Args:
            key: the key.
            value: its value (an :class:`Errored` for an error).

        Returns:
            The key's watcher, to call once the lock is released.
        """
        if key not in self._unfinished:
            return None
        self._unfinished.discard(key)
        return self._keep(key, value)

    def put_literals(
        self, literals: Mapping[str, Any], packed: Mapping[str, Any] | None = None
    ) -> Told:
        """Keep a batch's literals (under the lock).

        Args:
            literals: key -> value.
            packed: key -> what to send a worker process instead of the value (see
                :meth:`sendable`).

        Returns:
            The watchers to tell once the lock is released.
        """
        if packed:
            self._packed.update(packed)
        told: Told = []
        for k, v in literals.items():
            on_done = self._keep(k, v)
            if on_done is not None:
                told.append((k, on_done, v))
        return told

    def fail(self, keys: Iterable[str], error: Callable[[], BaseException]) -> Told:
        """Give each unfinished key of ``keys`` an error of its own (under the lock).

        Args:
            keys: the keys.
            error: makes the exception of one key (``CancelledError`` makes a new one each
                time).

        Returns:
            The watchers to tell once the lock is released.
        """
        told: Told = []
        for k in keys:
            if k in self._unfinished:
                value = Errored(error())
                on_done = self.finish(k, value)
                if on_done is not None:
                    told.append((k, on_done, value))
        return told

    def sendable(self, key: str, default: Any) -> Any:
        """What a worker process is sent for ``key``: its packed literal, else its value,
        else ``default`` (under the lock).

        Args:
            key: a computed key or a literal.
            default: for a key released meanwhile.

        Returns:
            A :class:`~headwater.executors._processes.Packed`, a value or ``default``.
        """
        return self._packed.get(key) or self.values.get(key, default)

    def _wait(self, keys: Collection[str], remaining: int) -> None:
        """Block until ``remaining`` of ``keys`` (none computed yet) are: O(keys) bookkeeping
        however many wake-ups, instead of a scan of the keys per wake-up (under the lock)."""
        waiter = _Waiter(remaining)
        for k in keys:
            self._waiters.setdefault(k, []).append(waiter)
        try:
            while waiter.remaining > 0:
                self.lock.wait(_POLL)
        finally:
            for k in keys:
                waiters = self._waiters.get(k)
                if waiters is not None:
                    with contextlib.suppress(ValueError):
                        waiters.remove(waiter)
                    if not waiters:
                        del self._waiters[k]

    # -- the driver's side (taking the lock) ---------------------------------------------
    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Block until one of ``keys`` is computed.

        Args:
            keys: the keys.

        Returns:
            Those that are.
        """
        with self.lock:
            done = {k for k in keys if k in self.values}
            if done or not keys:
                return done
            self._wait(keys, 1)
            return {k for k in keys if k in self.values}

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Wait for the values of ``keys``.

        Args:
            keys: the keys.

        Returns:
            Key -> value (the exception for a key that erred).
        """
        with self.lock:
            missing = {k for k in keys if k not in self.values}
            if missing:
                self._wait(missing, len(missing))
            out = {}
            for k in keys:
                v = self.values[k]
                out[k] = v.exc if type(v) is Errored else v
            return out

    def watch(self, keys: Collection[str], on_done: Watcher) -> None:
        """Call ``on_done`` as each key is computed (at once for one that is).

        Args:
            keys: the keys.
            on_done: takes the key and the type of its value.
        """
        done = []
        with self.lock:
            for k in keys:
                if k in self.values:
                    done.append((k, self.values[k]))
                else:
                    self._watchers[k] = on_done
        for k, v in done:
            on_done(k, type_of(v), v)

    def release(self, keys: Collection[str]) -> None:
        """Forget values.

        Args:
            keys: the keys.
        """
        with self.lock:
            for k in keys:
                self.values.pop(k, None)

    def unfinished(self) -> list[str]:
        """The keys submitted and not finished yet."""
        with self.lock:
            return list(self._unfinished)

    def clear(self) -> None:
        """Forget everything (the run is over)."""
        with self.lock:
            self.values.clear()
            self._waiters.clear()
            self._packed.clear()
            self._unfinished.clear()
            self._watchers.clear()


__all__ = ["Errored", "Told", "ValueStore", "Watcher", "first_error", "tell", "type_of"]
