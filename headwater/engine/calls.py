"""How a task's function is called: timeouts, waits before a retry, stdout capture, and where
a run happened.

Design note
-----------
Timeouts run the call in a helper thread (the same in the main thread, worker threads and
worker processes) and stop waiting after ``timeout`` seconds: the run ends TimedOut at once and
the abandoned call is interrupted at its next Python bytecode where possible
(:func:`call_with_timeout`). The helper thread runs in a copy of the caller's context, so the
run context is visible inside.

An ``async def`` task returns a coroutine; it is awaited in a fresh event loop
(:func:`await_coroutine`), never with ``asyncio.run`` and never in a loop that already runs:
in this thread when no loop runs here, else (a Jupyter kernel's main thread) in a helper
thread. With a timeout it runs in the timeout's helper thread, and a timeout cancels it
(``CancelledError`` at its next ``await``) instead of interrupting the thread. Retries call
the function again, so each try awaits a new coroutine.

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
from types import CoroutineType
from typing import Any

from headwater.executors.base import lend_slot
from headwater.model import signals
from headwater.model.states import Failed, Looped, RunInfo, Skipped, State, TimedOut


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


def state_of_error(task: Any, exc: BaseException, run_count: int) -> State:
    """The state a try ends in when the task's function raised ``exc``: what a signal asks
    for, TimedOut for a timeout, Failed (with the traceback) for any other exception.

    Args:
        task: the task (its name and ``max_retries``).
        exc: what the call raised (a HeadwaterSignal or an Exception).
        run_count: the try's number.
    """
    if isinstance(exc, signals.RETRY):
        if run_count > task.max_retries:
            return Failed(
                f"Task {task.name!r} raised RETRY ({exc.message}) but has no retries left "
                f"(max_retries={task.max_retries}).",
                run_count=run_count,
            )
        return Failed(exc.message or "RETRY signal raised", run_count=run_count, exception=exc)
    if isinstance(exc, signals.SKIP):
        reason = exc.state_kwargs.get("reason", "task")
        return Skipped(exc.message, exc.result, reason=reason, run_count=run_count)
    if isinstance(exc, signals.LOOP):
        return Looped(exc.message, exc.result, run_count=run_count)
    if isinstance(exc, signals.HeadwaterSignal):
        return exc.to_state(run_count=run_count)
    if isinstance(exc, TaskTimeoutError):
        return TimedOut(str(exc), exception=exc, run_count=run_count)
    _runner_logger.debug("Task %r raised %r", task.name, exc)
    return Failed(
        f"Task {task.name!r} raised {type(exc).__name__}: {exc}",
        exception=exc,
        traceback=format_exception(exc),
        run_count=run_count,
    )


_runner_logger = logging.getLogger("headwater.runner")


def format_exception(exc: BaseException) -> str:
    """An exception with its traceback, as text."""
    return "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))


def _interrupt_thread(thread: threading.Thread) -> None:
    if thread.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(TaskTimeoutInterrupt)
    )


def call_function(
    fn: Callable[..., Any], kwargs: Mapping[str, Any], timeout: float | None, name: str
) -> Any:
    """Call a task's ``fn(**kwargs)``: within ``timeout`` seconds when given, and awaiting
    the coroutine an ``async def`` returns (:func:`await_coroutine`).

    Raises:
        TaskTimeoutError: when the call did not return in time.
    """
    if timeout is not None:
        return call_with_timeout(fn, kwargs, timeout, name)
    value = fn(**kwargs)
    if type(value) is CoroutineType:
        value = await_coroutine(value, name)
    return value


def await_coroutine(coro: Any, name: str) -> Any:
    """Run a coroutine to its end in a fresh event loop and return its result.

    The loop runs in this thread unless one already runs here (a Jupyter kernel's main
    thread), and then in a helper thread in a copy of this context: ``asyncio.run`` would
    refuse, and the kernel's loop must not be blocked re-entrantly.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_in_new_loop(coro)
    return _in_helper_thread(lambda box: run_in_new_loop(coro, box), None, name)


def run_in_new_loop(coro: Any, box: dict[str, Any] | None = None) -> Any:
    """Run ``coro`` in a new event loop, closed afterwards as ``asyncio.run`` closes its own.

    With ``box``, ``box["cancel"]`` is set to a thread-safe function cancelling the run (what
    a timeout calls).
    """
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        main = loop.create_task(coro)
        if box is not None:
            with box["lock"]:
                box["cancel"] = lambda: loop.call_soon_threadsafe(main.cancel)
                if box.get("timed_out"):  # it timed out before the loop existed
                    main.cancel()
        return loop.run_until_complete(main)
    finally:
        try:
            rest = asyncio.all_tasks(loop)
            for t in rest:
                t.cancel()
            if rest:  # tasks the coroutine started and left running
                loop.run_until_complete(asyncio.wait(rest))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def call_with_timeout(
    fn: Callable[..., Any], kwargs: Mapping[str, Any], timeout: float, name: str
) -> Any:
    """Call ``fn(**kwargs)`` in a helper thread and give up after ``timeout`` seconds.

    The helper thread runs in a copy of the current context, so the run context is visible
    inside. On timeout :class:`TimeoutError` is raised at once and the call is stopped where
    possible: a coroutine (an ``async def`` task, run in a new loop in the helper thread) is
    cancelled; a plain call is interrupted at its next bytecode (a blocking C call finishes
    first).

    Raises:
        TaskTimeoutError: when the call did not return in time.
    """

    def work(box: dict[str, Any]) -> Any:
        value = fn(**kwargs)
        if type(value) is CoroutineType:
            with box["lock"]:
                if box.get("timed_out"):  # and interrupted: this call is abandoned
                    value.close()
                    return None
                box["async"] = True  # from now on a timeout cancels, never interrupts
            value = run_in_new_loop(value, box)
        return value

    return _in_helper_thread(work, timeout, name)


def _in_helper_thread(
    work: Callable[[dict[str, Any]], Any], timeout: float | None, name: str
) -> Any:
    """Run ``work(box)`` in a helper thread in a copy of this context; wait at most
    ``timeout`` seconds (None: until it ends), then stop it (``box["cancel"]`` when set,
    else an interrupt) and raise TaskTimeoutError."""
    box: dict[str, Any] = {"lock": threading.Lock()}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(work, box)
        except TaskTimeoutInterrupt:
            pass
        except BaseException as exc:  # signals included: re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"headwater-call-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        with box["lock"]:
            box["timed_out"] = True
            cancel, is_async = box.get("cancel"), box.get("async", False)
        if cancel is not None:
            cancel()
        elif not is_async:  # (async without a loop yet: it cancels itself on starting)
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
    global _forks, _RUN_ID_PREFIX
    _forks += 1  # a forked child's threads look their worker up again
    # and its task run ids are its own (processes forked from one forkserver would share
    # the prefix and the count)
    _RUN_ID_PREFIX = uuid.uuid4().hex[:20]


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
    "await_coroutine",
    "call_function",
    "call_with_timeout",
    "current_worker",
    "format_exception",
    "new_run_id",
    "route_stdout",
    "run_in_new_loop",
    "run_info",
    "state_of_error",
    "wait_for_retry",
]
