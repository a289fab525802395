"""What DaskExecutor runs on dask.distributed workers outside the task graph.

Design note
-----------
Imported only by :mod:`headwater.executors.dask_distributed` when a run starts (this module
imports distributed at once): a WorkerPlugin that sets the ``headwater`` loggers' level on
every worker, present and future, one that runs a flow run's setup on every worker (the
run's signing key), and the function that summarizes values where they are
held (:func:`summarize_held`), so that the driver receives what it needs of a result without
the result itself, and without a graph node per key.

A node whose summary the driver waits for (a map's pilot: its pace sizes the rest) is called
through :class:`SummaryPush`, which sends the summary to the driver as a Dask event the
moment the value is made: the scheduler relays it on the same stream, and before, the message
that the key finished, so the driver has it when it sees the key done, instead of asking the
worker with ``Client.run`` (a round trip of 2-4 ms on 2 local workers, in every run of a
sized map).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection
from typing import Any

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from headwater import pickling

logger = logging.getLogger("headwater.executors")


class LogLevelPlugin(WorkerPlugin):
    """Sets the level of the ``headwater`` loggers on each worker (and on workers that join
    later); registering another under the same name replaces it.

    A worker in the driver's own process (``LocalCluster(processes=False)``) is left alone:
    it shares the driver's loggers, and pinning their level there would hide later changes
    the user makes to the driver's logging.

    Args:
        level: the driver's effective level.
    """

    name = "headwater-log-level"

    def __init__(self, level: int) -> None:
        self.level = level
        self.driver_pid = os.getpid()

    def setup(self, worker: Any) -> None:
        """Set the level, unless this worker runs in the driver's process."""
        if os.getpid() != self.driver_pid:
            logging.getLogger("headwater").setLevel(self.level)


class RunSetupPlugin(WorkerPlugin):
    """Runs a flow run's setup (:class:`~headwater.executors.base.RunSetup`) on each worker,
    present and future, and its teardown when the plugin is removed at the end of the run.
    Its name is the setup's, so concurrent runs on one cluster each keep their own.

    Args:
        setup: what the run needs on every worker.
    """

    def __init__(self, setup: Any) -> None:
        self.setup_ = setup
        self.name = setup.name

    def setup(self, worker: Any) -> None:
        """Run the run's setup in this worker's process.

        Args:
            worker: the worker.
        """
        self.setup_.setup()

    def teardown(self, worker: Any) -> None:
        """Undo it.

        Args:
            worker: the worker.
        """
        self.setup_.teardown()

    def __repr__(self) -> str:
        return f"RunSetupPlugin({self.name!r})"


def summarize_held(
    fn: Callable[[Any], Any], keys: Collection[str], dask_worker: Any = None
) -> bytes:
    """``fn(value)`` of each of ``keys`` this worker holds in memory (or has spilled), by key,
    pickled as one message; keys it does not hold are left out. Run by ``Client.run`` in the
    worker's event loop, so the worker's data does not change under it.

    One pickle for all the summaries: returned as a dict of objects, distributed serializes
    each one apart, which made the summaries of 1,000 states cost ~60 ms instead of ~30 ms
    (issue 14).

    Args:
        fn: makes the small thing the driver wants of a value.
        keys: the keys wanted.
        dask_worker: the worker (given by ``Client.run``).
    """
    data = dask_worker.data
    out: dict[str, Any] = {}
    for key in keys:
        try:
            value = data[key]
        except KeyError:
            continue
        out[key] = fn(value)
    return pickling.dumps(out)


class SummaryPush:
    """A node's call, followed by sending ``summarize(value)`` to the driver as the event
    ``[key, summary]`` under ``topic`` (see the module's note). A summary that is not
    plain data (msgpack), or a summary that fails, is not sent: the driver asks for it.

    Args:
        call: the node's own callable.
        summarize: makes the summary of the node's value.
        topic: the event topic the driver's client listens to.
        key: the node's key.
    """

    def __init__(
        self, call: Callable[..., Any], summarize: Callable[[Any], Any], topic: str, key: str
    ) -> None:
        self.call, self.summarize, self.topic, self.key = call, summarize, topic, key

    def __call__(self, *args: Any) -> Any:
        """Run the node, then send its summary."""
        value = self.call(*args)
        try:
            get_worker().log_event(self.topic, [self.key, self.summarize(value)])
        except Exception:  # not sent: the driver asks the worker (Client.run)
            logger.debug("summary of %s not sent", self.key, exc_info=True)
        return value

    def __repr__(self) -> str:
        return f"SummaryPush({self.call!r})"


__all__ = ["LogLevelPlugin", "RunSetupPlugin", "SummaryPush", "summarize_held"]
