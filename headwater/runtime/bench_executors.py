"""The executors of a benchmark: names (``threads``, ``dask=ADDRESS``) or objects, made ready.

Design note
-----------
A :class:`Contender` is one executor of a benchmark: its label, how to get the executor for
one run, its slots (task runs at once, for the concurrency figure), and a dask.distributed
Client when its workers can be reached (to measure their memory and write Dask's performance
report). A name makes a new executor per run, as ``flow.run`` with that name would: ``local``
(1 slot), ``threads`` and ``processes`` (``num_workers`` slots, the CPUs), ``dask`` (a
LocalCluster on 127.0.0.1 sized to the machine, its dashboard on 127.0.0.1 only, started once
for the benchmark) and ``dask=ADDRESS`` (a Client connected once): both reuse their Client,
so connecting is not timed. An executor object is used as it is for every run. Every name is
checked before any cluster starts; what was started closes with the benchmark's ExitStack.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.executors.base import Executor

EXECUTOR_KINDS = ("local", "threads", "processes", "dask")
"""The executors named by a string: ``dask=ADDRESS`` connects to a running scheduler."""


@dataclass
class Contender:
    """One executor of a benchmark, ready to run.

    Args:
        label: its name in tables (``threads``, ``dask=tcp://...``).
        make: returns the executor for one run.
        slots: how many task runs it can run at once (None when unknown).
        client: a dask.distributed Client reaching its workers, to measure their memory
            and write Dask's performance report (None elsewhere).
    """

    label: str
    make: Callable[[], Any]
    slots: int | None = None
    client: Any = None


def parse_executor(text: str) -> tuple[str, str | None]:
    """Split an executor's name into its kind and, for ``dask=ADDRESS``, the address.

    >>> parse_executor("dask=tcp://127.0.0.1:8786")
    ('dask', 'tcp://127.0.0.1:8786')
    >>> parse_executor("threads")
    ('threads', None)

    Raises:
        ValueError: for a name that is not one of :data:`EXECUTOR_KINDS`, or an address given
            to one that takes none.
    """
    kind, sep, address = text.partition("=")
    kind = kind.strip().lower()
    if kind not in EXECUTOR_KINDS:
        raise ValueError(
            f"Unknown executor {text!r}: use local, threads, processes, dask or dask=ADDRESS"
        )
    if sep and kind != "dask":
        raise ValueError(f"Executor {text!r}: only dask takes an address (dask=tcp://host:8786)")
    if sep and not address.strip():
        raise ValueError(f"Executor {text!r} has no address: write dask=tcp://host:8786")
    return kind, address.strip() if sep else None


def _local_cluster(stack: contextlib.ExitStack) -> Any:
    """A LocalCluster sized to the machine on 127.0.0.1 (dashboard on 127.0.0.1 only), and
    its Client; both closed with ``stack``."""
    from distributed import Client, LocalCluster

    cluster = stack.enter_context(
        LocalCluster(host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    )
    return stack.enter_context(Client(cluster, set_as_default=False))


def _connect(address: str, stack: contextlib.ExitStack) -> Any:
    from distributed import Client

    from headwater.errors import SchedulerConnectionError

    try:
        client = Client(address, set_as_default=False, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise SchedulerConnectionError(
            f"Could not connect to the Dask scheduler at {address!r} "
            f"({type(exc).__name__}: {exc}); check the address and that the scheduler runs"
        ) from exc
    return stack.enter_context(client)


def _threads_of(client: Any) -> int | None:
    try:
        return max(1, sum(int(n) for n in client.nthreads().values()))
    except Exception:  # the scheduler cannot say
        return None


def contender_from_name(text: str, stack: contextlib.ExitStack) -> Contender:
    """The contender for an executor's name (see :func:`parse_executor`); a Dask cluster or
    client it needs is started or connected now and closed with ``stack``.

    Raises:
        ValueError: for a name :func:`parse_executor` refuses.
        SchedulerConnectionError: when ``dask=ADDRESS`` cannot be reached.
    """
    from headwater import executors

    kind, address = parse_executor(text)
    if kind == "local":
        return Contender(text, executors.LocalExecutor, 1)
    if kind in ("threads", "processes"):
        slots = executors.LocalDaskExecutor(kind).num_workers
        return Contender(text, lambda: executors.LocalDaskExecutor(kind, slots), slots)
    client = _connect(address, stack) if address else _local_cluster(stack)
    return Contender(
        text, lambda: executors.DaskExecutor(client=client), _threads_of(client), client
    )


def contender_from_executor(executor: Executor, stack: contextlib.ExitStack) -> Contender:
    """The contender for an executor object, used as it is for every run.

    Args:
        executor: the executor.
        stack: closes a client connected here to measure a ``DaskExecutor(address=...)``.
    """
    from headwater import executors

    label, slots, client = type(executor).__name__, None, None
    if isinstance(executor, executors.LocalExecutor):
        label, slots = "local", 1
    elif isinstance(executor, executors.LocalDaskExecutor):
        label, slots = executor.scheduler, executor.num_workers
    elif isinstance(executor, executors.DaskExecutor):
        label = "dask"
        if executor.client is not None:
            client = executor.client
        elif executor.address is not None:
            client = _connect(executor.address, stack)
        if client is not None:
            slots = _threads_of(client)
    return Contender(label, lambda: executor, slots, client)


def contenders(
    executors: Sequence[str | Executor] | None, stack: contextlib.ExitStack
) -> list[Contender]:
    """The contenders for ``executors`` (names or objects; every local one and a local Dask
    cluster when None), each label unique.

    Raises:
        ValueError: for an unknown name, a name given twice, or an empty list.
    """
    chosen: Sequence[str | Executor] = list(executors) if executors is not None else EXECUTOR_KINDS
    if not chosen:
        raise ValueError("No executor to benchmark: name at least one (local, threads, ...)")
    names = [e for e in chosen if isinstance(e, str)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"Executor {twice[0]!r} is given twice; name each executor once")
    for name in names:
        parse_executor(name)  # every name is checked before any cluster starts
    out: list[Contender] = []
    for e in chosen:
        c = (
            contender_from_name(e, stack)
            if isinstance(e, str)
            else contender_from_executor(e, stack)
        )
        taken = {o.label for o in out}
        if c.label in taken:
            c.label = next(
                f"{c.label}#{i}" for i in range(2, len(out) + 3) if f"{c.label}#{i}" not in taken
            )
        out.append(c)
    return out


__all__ = [
    "EXECUTOR_KINDS",
    "Contender",
    "contender_from_executor",
    "contender_from_name",
    "contenders",
    "parse_executor",
]
