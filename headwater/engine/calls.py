"""How a task's function is called: timeouts, waits before a retry, stdout capture, and where
a run happened.

Design note
-----------
Timeouts run the call in a helper thread (the same in the main thread, worker threads and
worker processes) and stop waiting after ``timeout`` seconds: the run ends TimedOut at once and
the abandoned call is interrupted at its next Python bytecode where possible
(:func:`call_with_timeout`). The helper thread runs in a copy of the caller's context, so the
run context is visible inside.

The wait between tries (:func:`wait_for_retry`) does not hold a worker slot: on a
dask.distributed worker the thread secedes from the worker's pool while it sleeps; on
LocalDaskExecutor's threads it lends its slot (:func:`headwater.executors.base.lend_slot`).

``log_stdout=True`` tasks print into their logger: ``sys.stdout`` is replaced once by a
:class:`StdoutRouter` that sends the writes of such a task (a ContextVar says which) to its
logger and everything else to the original stream.

:func:`run_info` says where a run happened (host, worker, thread), looked up once per thread.
"""

from __future__ import annotations

import contextvars
import ctypes
import datetime as _dt
import itertools
import logging
import os
import socket
import sys
import threading
import time
import traceback as _traceback
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from headwater.executors.base import lend_slot
from headwater.model.states import RunInfo


class TaskTimeoutError(TimeoutError):
    """A task's call outlived its ``timeout``."""


class TaskTimeoutInterrupt(BaseException):
    """Raised inside a call that outlived its task's timeout, to stop it where possible."""


def wait_for_retry(seconds: float) -> None:
    """Sleep before a retry without holding a worker slot: on a dask.distributed worker the
    thread secedes from the worker's pool; LocalDaskExecutor's threads lend their slot
    (:func:`headwater.executors.base.lend_slot`; a no-op elsewhere).

    Args:
        seconds: how long to wait.
    """
    if seconds <= 0:
        return
    if current_worker() is not None:
        from distributed import rejoin, secede

        secede()
        try:
            time.sleep(seconds)
        finally:
            rejoin()
        return
    with lend_slot():
        time.sleep(seconds)


def current_worker() -> Any:
    """The dask.distributed worker running this thread, or None (without importing
    distributed: a process where it was never imported runs no worker)."""
    worker_mod = sys.modules.get("distributed.worker")
    if worker_mod is None:
        return None
    try:
        return worker_mod.get_worker()
    except ValueError:
        return None


def format_exception(exc: BaseException) -> str:
    """An exception with its traceback, as text."""
    return "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))


def _interrupt_thread(thread: threading.Thread) -> None:
    if thread.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(TaskTimeoutInterrupt)
    )


def call_with_timeout(
    fn: Callable[..., Any], kwargs: Mapping[str, Any], timeout: float, name: str
) -> Any:
    """Call ``fn(**kwargs)`` in a helper thread and give up after ``timeout`` seconds.

    The helper thread runs in a copy of the current context, so the run context is visible
    inside. On timeout the call is interrupted at its next bytecode where possible (a blocking
    C call finishes first) and :class:`TimeoutError` is raised at once.

    Raises:
        TaskTimeoutError: when the call did not return in time.
    """
    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(fn, **kwargs)
        except TaskTimeoutInterrupt:
            pass
        except BaseException as exc:  # signals included: re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"headwater-timeout-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        _interrupt_thread(thread)
        raise TaskTimeoutError(f"Task {name!r} timed out after {timeout:g} seconds")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class StdoutRouter:
    """sys.stdout replacement that sends writes of tasks with ``log_stdout=True`` to their
    logger, and everything else to the original stream (thread-safe via a ContextVar)."""

    target: contextvars.ContextVar[logging.LoggerAdapter | None] = contextvars.ContextVar(
        "headwater_stdout_logger", default=None
    )

    def __init__(self, original: Any) -> None:
        self.original = original

    def write(self, text: str) -> int:
        log = self.target.get()
        if log is None:
            return int(self.original.write(text))
        if text.strip():
            log.info(text.rstrip("\n"))
        return len(text)

    def flush(self) -> None:
        if self.target.get() is None:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_router_lock = threading.Lock()


def route_stdout(log: logging.LoggerAdapter) -> contextvars.Token:
    """Send this context's writes to ``sys.stdout`` to ``log`` until the token is reset
    (``StdoutRouter.target.reset(token)``)."""
    with _router_lock:
        if not isinstance(sys.stdout, StdoutRouter):
            sys.stdout = StdoutRouter(sys.stdout)
    return StdoutRouter.target.set(log)


_HOST = socket.gethostname()


_RUN_ID_PREFIX = uuid.uuid4().hex[:20]


_run_ids = itertools.count(1)


def new_run_id() -> str:
    """A task run id unique across processes: a random per-process prefix and a counter
    (uuid4 per run cost microseconds in the per-child path)."""
    return f"{_RUN_ID_PREFIX}{next(_run_ids):012x}"


_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1  # a forked child's threads look their worker up again


_where = threading.local()
"""Per thread: (worker, thread name), looked up once per thread (a thread belongs to one
worker for its whole life)."""


def run_info(started: _dt.datetime | None) -> RunInfo:
    """Where and when a task run happened: its start, now as its end, the host, the worker
    (a dask.distributed worker's address, else ``pid:N``) and the thread."""
    where = getattr(_where, "value", None)
    if where is None or where[2] != _forks:
        worker = current_worker()
        name = worker.address if worker is not None else f"pid:{os.getpid()}"
        where = _where.value = (name, threading.current_thread().name, _forks)
    end = _dt.datetime.now(_dt.UTC)
    return RunInfo(started, end, _HOST, where[0], where[1])


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)

__all__ = [
    "StdoutRouter",
    "TaskTimeoutError",
    "TaskTimeoutInterrupt",
    "call_with_timeout",
    "current_worker",
    "format_exception",
    "new_run_id",
    "route_stdout",
    "run_info",
    "wait_for_retry",
]
