"""DaskExecutor: run the compiled graph on a dask.distributed cluster.

Design note
-----------
A thin adapter. Each batch becomes one ``update-graph`` message: nodes become Dask
``Task`` specs whose key arguments are ``TaskRef``s (to keys of the same batch, or to keys
of earlier batches that the futures held here keep alive on the scheduler), literals become
``DataNode``s (:func:`~headwater.executors._dask_spec.to_dask`), so a task's definition is
sent once per run and then moves between workers like any other data (a worker fetches it
once). Annotations (priority, resources) travel as
layers of a HighLevelGraph, one layer per distinct annotation. No tokenizing of the graph
happens on the driver.

Results stay on the workers: this side holds one future per key and gathers only what the
flow runner asks for. ``gather`` never raises for a key: an erred key (``KilledWorker``
when Dask gave up on a task whose workers kept dying, or an error raised outside the task
runner) or a cancelled one gives its exception object back, which the flow runner turns
into a Crashed or Cancelled state.

The client comes from one of three places: ``client=`` (reused, never closed),
``address=`` (connected for the run, closed after; every way a connection fails is a
SchedulerConnectionError naming the address and the fix, :mod:`._dask_connect`), or a
cluster started from ``cluster_class`` (LocalCluster by
default, or an import path such as ``"dask_jobqueue.SLURMCluster"``), closed after the run.
Connecting and starting run in a thread of their own (:func:`headwater.executors._dask_connect.started_apart`): Ctrl-C while
a cluster starts lets it finish starting, closes it, and ends the run Cancelled, instead of
leaving a half-started cluster nobody can close.
Logs of the ``headwater`` loggers on workers are forwarded to the driver's loggers
(``Client.forward_logging``, once per client; workers log at the driver's level, set by a
WorkerPlugin registered once per client and level, so no run pays a round trip for it and
workers that join later get it too), through a
thread of the run's own so that Jupyter shows them under the cell that runs the flow
(:class:`LogRelay`). ``watch`` tells the driver of keys finishing with the type the worker
reported, so the progress bar needs no value; one thread of the run looks at all the
watched futures (:mod:`._dask_watch`), no done callback per future. What a run needs on every worker (its signing
key: ``start(setup=...)``) is a WorkerPlugin registered for the run under the run's own name
(workers that join later get it too) and removed when the run ends; it never enters the
task graph. ``distributed`` is imported only here.

``performance_report_path`` (as in Prefect 1): the run is wrapped in Dask's
``distributed.performance_report``, so that when the executor stops, Dask's own static HTML
report of the run (task stream, worker profiles, bandwidth) is written there; the scheduler
renders it with bokeh. :attr:`DaskExecutor.performance_report` reads it back as text. A
report that cannot be made (bokeh missing on the scheduler, a folder not writable) is logged
as a warning and never fails the flow run it describes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import logging
import pickle
import uuid
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError
from typing import Any

from headwater.errors import HeadwaterError
from headwater.executors._dask_connect import close_opened, connect, started_apart
from headwater.executors._dask_spec import to_dask
from headwater.executors._dask_watch import KeyWatcher, LogRelay, inbox_of, release_all
from headwater.executors.base import Executor, RunSetup
from headwater.taskgraph import Graph, is_node

logger = logging.getLogger("headwater.executors")

LOCAL_DASHBOARD = "127.0.0.1:8787"
"""Where the dashboard of a LocalCluster started here listens (another port when taken)."""

_forwarding: weakref.WeakKeyDictionary[Any, LogRelay] = weakref.WeakKeyDictionary()
"""Clients whose workers already forward their ``headwater`` logs, and their relays."""

_memories: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()  # by client

_levels: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
"""The log level each client's workers were given (by a WorkerPlugin, so workers that join
later get it too): given again only when the driver's level changes."""


def _import_class(path: str) -> Any:
    module, _, name = path.rpartition(".")
    if not module:
        raise ValueError(
            f"cluster_class {path!r} is not an import path; give one such as "
            "'dask_jobqueue.SLURMCluster', or the class itself"
        )
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cluster_class {path!r} cannot be imported: {exc}") from exc


class DaskExecutor(Executor):
    """Run tasks on a dask.distributed cluster: an existing one, a new one, or a Client's.

    With no arguments a LocalCluster sized to the machine is started for the run and closed
    afterwards.

    Args:
        address: the address of a running scheduler (``tcp://host:8786``).
        cluster_class: the cluster to start when no address is given: a class, or its import
            path as a string (``"dask_jobqueue.SLURMCluster"``); ``distributed.LocalCluster``
            by default.
        cluster_kwargs: keyword arguments for ``cluster_class``.
        adapt_kwargs: when given, the cluster scales adaptively: ``cluster.adapt(**adapt_kwargs)``.
        client_kwargs: keyword arguments for ``distributed.Client`` (``security=`` for TLS,
            ``timeout=`` for the connect timeout).
        client: a Client to reuse (from Jupyter, or shared between runs); it is not closed.
        debug: keep the logs of a LocalCluster this executor starts (silenced otherwise).
        performance_report_path: write Dask's performance report of each run to this file
            (HTML; any fsspec URL). Needs bokeh where the scheduler runs.
        on_start: called on the driver before a flow run's tasks (see :class:`Executor`).
        on_exit: called on the driver after a flow run's tasks (see :class:`Executor`).
    """

    ships_values = True
    loses_results = True
    inlines_literals = True

    def __init__(
        self,
        address: str | None = None,
        cluster_class: type | str | None = None,
        cluster_kwargs: Mapping[str, Any] | None = None,
        adapt_kwargs: Mapping[str, Any] | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
        client: Any = None,
        debug: bool = False,
        performance_report_path: str | None = None,
        *,
        on_start: Callable[[], Any] | None = None,
        on_exit: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(on_start=on_start, on_exit=on_exit)
        if client is not None and (address is not None or cluster_class is not None):
            raise ValueError("DaskExecutor takes client= or address= or cluster_class=, not two")
        if address is not None and (cluster_class is not None or cluster_kwargs or adapt_kwargs):
            raise ValueError(
                "DaskExecutor(address=...) connects to a running scheduler; cluster_class, "
                "cluster_kwargs and adapt_kwargs are for starting a cluster"
            )
        self.address = address
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.adapt_kwargs = dict(adapt_kwargs) if adapt_kwargs is not None else None
        self.client_kwargs = dict(client_kwargs or {})
        self.client = client
        self.debug = debug
        self.performance_report_path = (
            str(performance_report_path) if performance_report_path is not None else None
        )
        self._client: Any = None
        self._futures: dict[str, Any] = {}
        self._watchers: dict[str, Callable[[str, Any], None]] = {}
        self._watcher: KeyWatcher | None = None
        self._slots: list[str] = []
        self._early: dict[str, Callable[[Any], Any]] = {}

    # -- lifecycle -----------------------------------------------------------------------
    @contextlib.contextmanager
    def start(self, setup: RunSetup | None = None) -> Iterator[DaskExecutor]:
        """Connect (or start a cluster), run, then cancel what is left and close what was
        started here.

        Args:
            setup: what the run needs on every worker: registered as a WorkerPlugin for the
                run (so workers that join later get it too), removed when the run ends.

        Raises:
            SchedulerConnectionError: when the scheduler at ``address`` cannot be reached.
        """
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            raise HeadwaterError(
                "DaskExecutor needs the 'distributed' package: pip install 'headwater[dask]'"
            ) from exc
        with contextlib.ExitStack() as stack:
            if self.client is not None:
                client = self.client
            else:
                client, cluster = started_apart(lambda: self._open(distributed), close_opened)
                if cluster is not None:
                    stack.callback(cluster.close)
                stack.callback(client.close)
            self._client = client
            self._watcher = KeyWatcher()
            try:
                if setup is not None:
                    _register_setup(client, setup)
                    stack.callback(_unregister_setup, client, setup.name)
                relay = self._forward_logs(client)
                with (
                    relay.relaying() if relay is not None else contextlib.nullcontext(),
                    self._reporting(client),
                ):
                    yield self
            finally:
                futures = list(self._futures.values())
                self._futures.clear()
                self._watchers.clear()
                self._client = None
                pending = [f for f in futures if not f.done()]
                if pending:
                    with contextlib.suppress(Exception):
                        client.cancel(pending, force=True)
                watcher, self._watcher = self._watcher, None
                if watcher is not None:  # what finished or was cancelled is told by now
                    watcher.close()
                release_all(client, futures)
                if self._early:
                    inbox_of(client).forget(self._early)
                    self._early.clear()

    def _reporting(self, client: Any) -> contextlib.AbstractContextManager[Any]:
        """Dask's performance report around the run when ``performance_report_path`` is set."""
        path = self.performance_report_path
        if path is None:
            return contextlib.nullcontext()
        return performance_report(client, path, f"a headwater flow run on {self!r}")

    @property
    def performance_report(self) -> str:
        """Dask's performance report of the last run (HTML text), read from
        ``performance_report_path``; an empty string when none was asked for or it cannot be
        read (with a warning saying why)."""
        path = self.performance_report_path
        if path is None:
            logger.warning(
                "DaskExecutor was not given a performance_report_path: there is no report"
            )
            return ""
        try:
            import fsspec

            with fsspec.open(path, mode="r", encoding="utf-8", compression="infer") as f:
                return str(f.read())
        except Exception as exc:
            logger.warning("Cannot read Dask's performance report at %r: %s", path, exc)
            return ""

    def _open(self, distributed: Any) -> tuple[Any, Any]:
        """A Client connected to ``address``, or to a cluster started here: (client, cluster
        or None)."""
        if self.address is not None:
            return connect(self.address, self.client_kwargs), None
        cluster = self._start_cluster(distributed)
        try:
            return distributed.Client(cluster, **self.client_kwargs), cluster
        except BaseException:
            cluster.close()
            raise

    def _start_cluster(self, distributed: Any) -> Any:
        cls = self.cluster_class or distributed.LocalCluster
        if isinstance(cls, str):
            cls = _import_class(cls)
        kwargs = dict(self.cluster_kwargs)
        if cls is distributed.LocalCluster:
            # Dask's default dashboard listens on every interface; this one only here
            kwargs.setdefault("dashboard_address", LOCAL_DASHBOARD)
            if not self.debug:
                kwargs.setdefault("silence_logs", logging.CRITICAL)
        cluster = cls(**kwargs)
        try:
            if self.adapt_kwargs is not None:
                cluster.adapt(**self.adapt_kwargs)
        except BaseException:
            cluster.close()
            raise
        link = ""
        with contextlib.suppress(Exception):
            link = str(cluster.dashboard_link or "")
        if link:
            logger.info("Dask dashboard of the cluster started for this run: %s", link)
        else:
            logger.info(
                "The Dask cluster started for this run has no dashboard (it needs bokeh: "
                "pip install 'headwater[dashboard]')"
            )
        return cluster

    def _forward_logs(self, client: Any) -> LogRelay | None:
        address = str(getattr(getattr(client, "scheduler", None), "address", "") or "")
        if address.startswith("inproc://"):
            return None  # workers in this process log here already
        level = logging.getLogger("headwater").getEffectiveLevel()
        relay = _forwarding.get(client)
        if relay is None:
            from distributed.client import TOPIC_PREFIX_FORWARDED_LOG_RECORD

            client.forward_logging("headwater")
            relay = _forwarding[client] = LogRelay()
            # the same topic forward_logging subscribed to, now handled by the relay
            topic = f"{TOPIC_PREFIX_FORWARDED_LOG_RECORD}-forward-logging-headwater"
            client.subscribe_topic(topic, relay)
        if _levels.get(client) != level:  # workers log at the driver's level, new ones too
            from headwater.executors._dask_worker import LogLevelPlugin

            client.register_plugin(LogLevelPlugin(level))
            _levels[client] = level
        return relay

    # -- the graph -----------------------------------------------------------------------
    def submit(
        self, graph: Graph, annotations: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        """Send the batch to the scheduler in one message."""
        from dask._expr import HLGExpr, LLGExpr
        from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

        client = self._client
        if client is None:
            raise RuntimeError("DaskExecutor.submit called outside executor.start()")
        dsk = to_dask(self._pushing(graph, client) if self._early else graph)
        if not dsk:
            return
        keys = list(dsk)
        token = uuid.uuid4().hex
        expr: Any
        if annotations:
            layers: dict[str, Any] = {}
            groups: dict[tuple[Any, ...], dict[str, Any]] = {}
            for key, task in dsk.items():
                ann = annotations.get(key) or {}
                sig = tuple(sorted((k, repr(v)) for k, v in ann.items()))
                group = groups.get(sig)
                if group is None:
                    group = groups[sig] = {}
                    name = f"headwater-{token}-{len(groups)}"
                    layers[name] = MaterializedLayer(group, annotations=dict(ann) or None)
                group[key] = task
            hlg = HighLevelGraph(layers, {name: set() for name in layers})
            expr = HLGExpr(dsk=hlg, output_keys=keys, _determ_token=token)
        else:
            expr = LLGExpr(dsk, _determ_token=token)
        futures = client.get(expr, keys, sync=False)
        self._futures.update(zip(keys, futures, strict=True))
        if self._watchers and self._watcher is not None:
            for k, f in zip(keys, futures, strict=True):
                on_done = self._watchers.pop(k, None)
                if on_done is not None:
                    self._watcher.add(f, on_done)

    def cluster_memory(self) -> dict[str, Any] | None:
        """Kept per client (so per cluster), as long as the client lives; None outside a run."""
        return None if self._client is None else _memories.setdefault(self._client, {})

    def summarize_early(self, keys: Collection[str], summarize: Callable[[Any], Any]) -> None:
        """The nodes of ``keys`` (submitted next) send ``summarize(value)`` to the driver as
        they finish, so :meth:`gather_summaries` needs no ``Client.run`` for them
        (:class:`~headwater.executors._dask_worker.SummaryPush`)."""
        self._early.update(dict.fromkeys(keys, summarize))

    def _pushing(self, graph: Graph, client: Any) -> Graph:
        """``graph`` with the nodes asked to summarize early called through SummaryPush."""
        from headwater.executors._dask_worker import SummaryPush

        early = [k for k in graph if k in self._early and is_node(graph[k])]
        if not early:
            return graph
        topic, graph = inbox_of(client).topic, dict(graph)
        for k in early:
            node = graph[k]
            graph[k] = (SummaryPush(node[0], self._early[k], topic, k), *node[1:])
        return graph

    def parallelism(self) -> int:
        """How many tasks the cluster runs at once: its workers' threads (at least 1, e.g.
        for an adaptive cluster with no worker yet). Sizes the batches of large maps."""
        if self._client is None:
            return 1
        try:
            threads = _threads_of(self._client)
        except Exception:  # the scheduler cannot say: batches sized for one thread
            return 1
        # the slots, one worker after the other: the first keys spread go to other workers
        self._slots = [
            w
            for i in range(max(threads.values(), default=0))
            for w, n in sorted(threads.items())
            if i < n
        ]
        return max(1, len(self._slots))

    def spread(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Start each of ``keys`` on another thread of the workers counted by the last
        :meth:`parallelism`, taking the workers in turn (``workers=`` with
        ``allow_other_workers``: Dask moves a node elsewhere if its worker leaves, and may
        steal it). Dask would otherwise start them all on the worker holding their one
        shared input."""
        slots = self._slots
        if len(set(slots)) < 2:
            return {}
        return {
            k: {"workers": [slots[i % len(slots)]], "allow_other_workers": True}
            for i, k in enumerate(keys)
        }

    # -- values --------------------------------------------------------------------------
    def wait_any(self, keys: Collection[str]) -> set[str]:
        """Block until one of ``keys`` is done (finished, erred or cancelled)."""
        futures = [self._futures[k] for k in keys]
        if not futures:
            return set()
        return {f.key for f in self._wait(futures, "FIRST_COMPLETED")}

    def _wait(self, futures: list[Any], return_when: str) -> set[Any]:
        from distributed.client import _wait  # distributed.wait would use the default client

        done = {f for f in futures if f.done()}  # no trip to the loop when they are done
        if done and (return_when == "FIRST_COMPLETED" or len(done) == len(futures)):
            return done
        try:
            return set(self._client.sync(_wait, futures, return_when=return_when).done)
        except Exception:  # some were cancelled: they are done too
            return {f for f in futures if f.done()}

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        """Return the values of ``keys``; the exception for a key that erred or was
        cancelled."""
        futures, good = self._settle(keys)
        out: dict[str, Any] = {}
        if good:
            try:
                values = self._client.gather([futures[k] for k in good])
                out.update(zip(good, values, strict=True))
            except Exception:  # a value lost meanwhile: one by one, errors as values
                for k in good:
                    out[k] = self._one(futures[k])
        return self._errors_as_values(futures, out)

    def gather_summaries(
        self, keys: Collection[str], summarize: Callable[[Any], Any]
    ) -> dict[str, Any]:
        """Return ``summarize(value)`` of each of ``keys``, made on the workers holding the
        values (one ``Client.run`` for all keys, no graph node per key); the exception for a
        key that erred or was cancelled. A value no worker holds any more (lost meanwhile)
        is summarized by a node submitted for it, which Dask computes again if needed."""
        futures, good = self._settle(keys)
        early = [k for k in good if self._early.get(k) is summarize]
        out = inbox_of(self._client).take(early) if early else {}
        good = [k for k in good if k not in out]
        if good:
            from headwater.executors._dask_worker import summarize_held

            held = self._client.run(summarize_held, summarize, good, on_error="return")
            for got in held.values():
                if isinstance(got, bytes):  # our own workers' answer (else a worker's error)
                    out.update(pickle.loads(got))
        missing = [k for k in good if k not in out]
        if missing:
            nodes = {f"summary-{k}": (summarize, k) for k in missing}
            self.submit(nodes)
            got = self.gather(list(nodes))
            self.release(list(nodes))
            out.update({k: got[f"summary-{k}"] for k in missing})
        return self._errors_as_values(futures, out)

    def gather_with_summaries(
        self, whole: Collection[str], summarized: Collection[str], summarize: Callable[[Any], Any]
    ) -> dict[str, Any]:
        """:meth:`gather` and :meth:`gather_summaries` at once: the summaries are read in a
        thread of their own while the values are gathered (two trips to the cluster that
        overlap, instead of one after the other)."""
        if not (whole and summarized):
            return super().gather_with_summaries(whole, summarized, summarize)
        with concurrent.futures.ThreadPoolExecutor(1, "headwater-summaries") as pool:
            summaries = pool.submit(self.gather_summaries, summarized, summarize)
            values = self.gather(whole)
            out = dict(summaries.result())
        out.update(values)
        return out

    def _settle(self, keys: Collection[str]) -> tuple[dict[str, Any], list[str]]:
        """Wait until every key's future is done; its futures, and the keys that finished."""
        futures = {k: self._futures[k] for k in keys}
        if futures:
            self._wait(list(futures.values()), "ALL_COMPLETED")
        return futures, [k for k, f in futures.items() if f.status == "finished"]

    def _errors_as_values(self, futures: Mapping[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        """``out`` completed with the exception (or CancelledError) of every other key."""
        for k, f in futures.items():
            if k not in out:
                out[k] = self._one(f)
        return out

    @staticmethod
    def _one(future: Any) -> Any:
        if future.status == "cancelled":
            return CancelledError(f"Dask task {future.key!r} was cancelled")
        try:
            return future.result()
        except BaseException as exc:
            return exc

    def watch(self, keys: Collection[str], on_done: Callable[[str, Any], None]) -> None:
        """Call ``on_done`` as each key's future completes (from the run's watching thread,
        :mod:`._dask_watch`), with the type the worker reported: no value is fetched."""
        for k in keys:
            f = self._futures.get(k)
            if f is None:
                self._watchers[k] = on_done
            elif self._watcher is not None:
                self._watcher.add(f, on_done)

    def release(self, keys: Collection[str]) -> None:
        """Drop the futures of ``keys``; Dask frees a value once nothing needs it."""
        futures = [f for k in keys if (f := self._futures.pop(k, None)) is not None]
        if futures and self._client is not None:
            release_all(self._client, futures)

    def cancel(self, keys: Collection[str]) -> None:
        """Cancel the futures of ``keys`` that are not done (running tasks run to their end
        on the workers, but nothing waits for them)."""
        pending = [f for k in keys if (f := self._futures.get(k)) is not None and not f.done()]
        if pending and self._client is not None:
            self._client.cancel(pending, force=True)

    def __repr__(self) -> str:
        where = (
            f"address={self.address!r}"
            if self.address
            else "client=..."
            if self.client is not None
            else f"cluster_class={getattr(self.cluster_class, '__name__', self.cluster_class)!r}"
        )
        return f"DaskExecutor({where})"


@contextlib.contextmanager
def performance_report(client: Any, path: str, code: str) -> Iterator[list[str]]:
    """Wrap a block in Dask's performance report of what ``client``'s cluster does meanwhile,
    written to ``path`` when the block ends (the scheduler renders it with bokeh). A report
    that cannot be made is a warning, never the block's failure.

    Args:
        client: a dask.distributed Client.
        path: the report's file (any fsspec URL).
        code: what the report's "code" section says ran.

    Returns:
        A context manager yielding a list that holds ``path`` once the report is written.
    """
    from distributed import performance_report as report_of

    written: list[str] = []
    report = report_of(filename=path)
    with client.as_current():  # the report asks for the current client
        try:
            client.sync(report.__aenter__)
        except Exception as exc:
            logger.warning("Dask's performance report could not start: %s", exc)
            yield written
            return
        try:
            yield written
        finally:
            try:
                client.sync(report.__aexit__, None, None, None, code=code)
                written.append(path)
            except Exception as exc:
                logger.warning(
                    "Dask's performance report could not be written to %r: %s: %s (the "
                    "scheduler needs bokeh: pip install 'headwater[dashboard]')",
                    path,
                    type(exc).__name__,
                    exc,
                )


def _threads_of(client: Any) -> dict[str, int]:
    """Threads per worker: read from the cluster object the client was made with when it has
    workers (the scheduler pushes it every worker joining and leaving: no trip, 1-1.5 ms a
    run on 2 local workers), asked of the scheduler otherwise."""
    info = getattr(getattr(client, "cluster", None), "scheduler_info", None)
    workers = info.get("workers") if isinstance(info, Mapping) else None
    if workers and all(isinstance(w, Mapping) and "nthreads" in w for w in workers.values()):
        return {addr: int(w["nthreads"]) for addr, w in workers.items()}
    return {w: int(n) for w, n in client.nthreads().items()}


def _register_setup(client: Any, setup: RunSetup) -> None:
    """Run ``setup`` on every worker of the client's cluster, present and future."""
    from headwater.executors._dask_worker import RunSetupPlugin

    client.register_plugin(RunSetupPlugin(setup))


def _unregister_setup(client: Any, name: str) -> None:
    """Remove the run's setup from the workers (they run its teardown)."""
    with contextlib.suppress(Exception):  # a cluster going away takes it with it
        client.unregister_worker_plugin(name)


__all__ = ["DaskExecutor", "performance_report"]
