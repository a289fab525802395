"""LocalDaskExecutor("processes"): the worker processes, what they run, and how literals and
values reach them.

Design note
-----------
A run has ``num_workers`` worker processes (forked from a forkserver where there is one, else
spawned), each with a pipe of its own to the driver: the driver knows which process runs
which call, which is what lets it tell a node that killed its process from the nodes that
merely shared the process (:mod:`headwater.executors._dispatch`, whose note says how the
calls are made and what happens when a process dies). :class:`WorkerProcess` is the driver's
handle on one of them; :func:`serve` is what the process runs: it reads a call, runs its
nodes in order (:func:`run_nodes`) and sends each value back as its node ends, until the driver closes the
pipe or dies (a killed driver leaves no worker behind: the pipe's end is its EOF).

- Each process notes in a shared cell the position, in its current call, of the node it is
  running (``progress``), and the length of the call once every node ran: when it dies, the
  driver reads which node it was running.
- A literal (a task's definition, the run's context) is pickled once in the driver
  (:class:`Packed`) and sent to each worker process with the first call that needs it, then
  named by its token only (the driver keeps, per process, the tokens it sent:
  :attr:`WorkerProcess.has`). Literals never touch the disk: they hold the run's parameters,
  secrets included, and a killed driver must not leave them behind (issue 12). Each process
  unpickles a literal once and keeps the value by token (``_received`` counts the loads).
- What crosses is pickled by :func:`ship`: the standard pickler, taught the read-only
  mappings of task definitions and contexts, which would otherwise send every node through
  cloudpickle.

Each worker process is made ready by :func:`init_process`: the driver's environment of this
run, the run's setup, and its logs sent back through a queue to the driver's loggers
(:class:`Redispatch`). The forkserver preloads this module, with the modules of the first
graph's node functions (:func:`preload`).
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
import signal
import threading
import uuid
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from headwater.executors._store import Errored, first_error
from headwater.pickling import dumps
from headwater.taskgraph import Graph, is_node, resolve


def _mappingproxy(d: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(d)


def _reduce_mappingproxy(m: MappingProxyType[Any, Any]) -> tuple[Any, ...]:
    return (_mappingproxy, (dict(m),))


_DISPATCH = {**copyreg.dispatch_table, MappingProxyType: _reduce_mappingproxy}


def ship(obj: Any) -> bytes:
    """Pickle what crosses to or from a worker process: the standard pickler, which also
    takes the read-only mappings of task definitions and run contexts (the plain pickler
    refuses them, and cloudpickle costs several times more), else
    :func:`~headwater.pickling.dumps`.

    Args:
        obj: what to send.

    Returns:
        Its pickle.
    """
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
    """A literal pickled once in the driver; what a worker process is sent for it is the
    pickle itself the first time (:meth:`first`), its token after that (:meth:`again`).

    Args:
        value: the literal.
    """

    __slots__ = ("blob", "token")

    def __init__(self, value: Any) -> None:
        self.token = uuid.uuid4().hex
        self.blob = ship(value)

    def first(self) -> _Load:
        """What to send a process that does not hold the literal yet.

        Returns:
            An object that unpickles, in the worker process, into the literal.
        """
        return _Load(self.token, self.blob)

    def again(self) -> _Held:
        """What to send a process that holds the literal.

        Returns:
            An object that unpickles, in the worker process, into the literal.
        """
        return _Held(self.token)


class _Load:
    __slots__ = ("blob", "token")

    def __init__(self, token: str, blob: bytes) -> None:
        self.token, self.blob = token, blob

    def __reduce__(self) -> tuple[Any, ...]:
        return (_load, (self.token, self.blob))


class _Held:
    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __reduce__(self) -> tuple[Any, ...]:
        return (_held, (self.token,))


_unpacked: dict[str, Any] = {}
"""This process's literals by token (a worker process lives for one run)."""

_received: dict[str, int] = {}
"""How many times this process unpickled each literal: at most once per token."""

_calls = [0, 0]
"""Calls and nodes this worker process has run (tests read them from a task)."""

_progress: Any = None
"""This worker process's shared progress cell (see the module's note)."""


def _load(token: str, blob: bytes) -> Any:
    if token in _unpacked:
        return _unpacked[token]
    _received[token] = _received.get(token, 0) + 1
    value = _unpacked[token] = pickle.loads(blob)
    return value


def _held(token: str) -> Any:
    return _unpacked[token]


def run_nodes(payload: bytes, send: Callable[[bytes], Any]) -> None:
    """Run one call's nodes in order in this worker process, each taking its inputs from the
    values sent along or from the nodes before it in the call, and send each node's value
    back as soon as it is made: the driver hears of a node when it finishes, not when its
    call does (a quick node followed by a slow one in the same call is not held back by it,
    and is not lost or run again if the process dies after it).

    Args:
        payload: the pickled ``(nodes, values)``: ``(key, function, args)`` triples and the
            values of the keys they read that are not computed in the call.
        send: sends one message to the driver: the pickled ``(key, value, last)`` of a node
            (``last`` for the call's last node); an exception, or a value that cannot
            travel back, is sent as ``Errored``.
    """
    nodes, values = pickle.loads(payload)
    _calls[0] += 1
    _calls[1] += len(nodes)
    progress = _progress
    last = len(nodes) - 1
    for i, (key, fn, args) in enumerate(nodes):
        if progress is not None:
            progress.value = i
        value = values[key] = _call_in_process(fn, *(resolve(a, values) for a in args))
        try:
            message = ship((key, value, i == last))
        except Exception as exc:
            message = ship((key, Errored(exc), i == last))
        if progress is not None and i == last:
            progress.value = len(nodes)  # (a death from here on: while sending values back)
        send(message)


def _call_in_process(fn: Callable[..., Any], *args: Any) -> Any:
    """Run one node in a worker process; an exception becomes the key's value."""
    err = first_error(args)
    if err is not None:
        return err
    try:
        return fn(*args)
    except BaseException as exc:
        return Errored(exc)


def serve(
    conn: Any,
    progress: Any,
    log_queue: Any,
    level: int,
    environ: dict[str, str] | None = None,
    setup: Any = None,
) -> None:
    """A worker process's life: run the calls read from ``conn`` until the driver closes it
    (or dies), sending each node's value back as the node ends.

    Args:
        conn: this process's end of its pipe to the driver.
        progress: the shared cell where it notes which node of its call runs.
        log_queue: the queue the driver's log listener reads.
        level: the driver's effective log level.
        environ: the driver's environment of this run.
        setup: what the run needs in each process, or None.
    """
    global _progress
    _progress = progress
    init_process(log_queue, level, environ, setup)
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):  # the driver closed the pipe, or died
            return
        if not payload:
            return
        try:
            run_nodes(payload, conn.send_bytes)
        except OSError:  # the driver died while this call ran
            return


class WorkerProcess:
    """The driver's handle on one worker process: its pipe, its progress cell, the literals
    it holds, the call it runs; a thread reads its values (or its death) into ``inbox``.

    Args:
        ctx: the multiprocessing context.
        inbox: where ``(self, message)`` arrives per node of a call (:func:`run_nodes`), and
            ``(self, None)`` when the process dies.
        log_queue: the queue the driver's log listener reads.
        level: the driver's effective log level.
        environ: the driver's environment of this run (the process starts with it).
        setup: what the run needs in the process, or None.
    """

    def __init__(
        self,
        ctx: Any,
        inbox: queue.SimpleQueue[Any],
        log_queue: Any,
        level: int,
        environ: dict[str, str] | None = None,
        setup: Any = None,
    ) -> None:
        conn, child = ctx.Pipe()
        self.progress = ctx.RawValue("i", -1)
        self.process = ctx.Process(
            target=serve,
            args=(child, self.progress, log_queue, level, environ, setup),
            name="headwater-worker",
        )
        self.process.start()
        child.close()  # so the pipe reports this process's death as EOF
        self.conn = conn
        self.has: set[str] = set()
        """Tokens of the literals sent to this process."""
        self.call: Any = None
        """The call this process runs (set by the dispatcher), or None."""
        self.sent = 0
        """How many of its call's nodes sent their value back so far."""
        self.reader = threading.Thread(
            target=self._read, args=(inbox,), daemon=True, name="headwater-worker-reader"
        )
        self.reader.start()

    def _read(self, inbox: queue.SimpleQueue[Any]) -> None:
        while True:
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError):
                self.process.join(5)  # its exit code, for the message
                inbox.put((self, None))
                return
            inbox.put((self, data))

    def send(self, payload: bytes) -> None:
        """Send a call (``progress`` is reset first, so it tells only about this call).

        Args:
            payload: the pickled call.
        """
        self.progress.value = -1
        self.conn.send_bytes(payload)

    def how_it_died(self) -> str:
        """Its exit, in words (for the message of the node it was running).

        Returns:
            ``"killed by signal SIGKILL, pid 123"``, ``"exit code 1, pid 123"``...
        """
        code = self.process.exitcode
        if code is None:
            how = "its pipe to the driver broke"
        elif code < 0:
            try:
                how = f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        return f"{how}, pid {self.process.pid}"

    def stop(self, wait: bool) -> None:
        """Ask the process to exit (wait for it when ``wait``), terminating it if it does not.

        Args:
            wait: give it a few seconds to finish what it runs.
        """
        try:
            self.conn.send_bytes(b"")
        except OSError:
            pass
        self.process.join(5 if wait else 0.1)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()

    def terminate(self) -> None:
        """Stop the process now (cancelling: what it runs is abandoned)."""
        if self.process.is_alive():
            self.process.terminate()


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
        The multiprocessing context for a run's worker processes.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def preload(graph: Graph) -> None:
    """Have the forkserver import the modules of ``graph``'s node functions (and this one)
    when it starts, so that every worker process of every run starts with them imported
    instead of importing them on its first node. Call it before the first process starts;
    once the server runs, it keeps what it imported.

    Args:
        graph: the run's first batch.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    modules = {getattr(node[0], "__module__", None) for node in graph.values() if is_node(node)}
    modules.discard(None)
    modules.discard("__main__")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, *sorted(m for m in modules if m)])


__all__ = [
    "Packed",
    "Redispatch",
    "WorkerProcess",
    "init_process",
    "preload",
    "process_context",
    "run_nodes",
    "serve",
    "ship",
]
