"""Benchmark a flow on several executors: what ``headwater bench`` and ``headwater.bench`` do.

Design note
-----------
:func:`bench` runs one flow, with the same parameters, on each executor in turn: ``warmup``
untimed runs (imports, process pools, functions reaching Dask workers), then ``repeats``
timed runs. A run is the engine's run with the runtime's hooks, as ``flow.run()`` does it
(every task's state comes back; secrets are masked), except that it is not journaled and its
progress is the benchmark's own bar (:class:`BenchProgress`). Its wall time is taken in the
driver around the whole run, the executor's start included (a process pool for
``processes``); a Dask client the benchmark makes is connected once, before the warm-up.

Per run, from the task states' :class:`~headwater.model.states.RunInfo` (from the first call
of a task's function to its final state):

- **busy**: the sum of those intervals; **mean in flight** = busy / wall, the number of task
  runs in flight on average; **concurrency** = mean in flight / slots (1.0: every slot busy
  the whole time), where slots are 1 for ``local``, ``num_workers`` for ``threads`` and
  ``processes``, the workers' threads on Dask (unknown for a DaskExecutor that starts its
  own cluster per run);
- **engine overhead** = (wall - the time at least one task function was running) / task
  runs: the wall time no task function accounts for, per task run;
- **task runs**: every task run, mapped children included (a mapped task's summary is not a
  run), and how many of them were mapped children.

Per executor the row keeps the wall times (median, min, max), the figures above for the
median run, the driver's peak memory (:mod:`headwater.runtime.machine`: ``VmHWM``, reset
before the timed runs) and, on Dask, each worker process's peak measured the same way. The
results of the flow's reference tasks are compared, run by run, with those of the first run
on the first executor (:func:`same_value`); any difference is a mismatch, reported by name.
A task that did not succeed is compared by its state's class only. On Dask, given a
``report_dir``, the timed runs are wrapped in one Dask performance report.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import pickle
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from headwater.engine.flow_runner import FlowRunner
from headwater.engine.hooks import RunHook
from headwater.runtime import machine
from headwater.runtime.progress import wants_progress
from headwater.runtime.records import TaskRecord, is_flow_state, task_records
from headwater.runtime.redaction import RedactionHook

if TYPE_CHECKING:
    from headwater.executors.base import Executor
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.runtime.bench_report import BenchResult

logger = logging.getLogger("headwater.bench")

EXECUTOR_KINDS = ("local", "threads", "processes", "dask")
"""The executors named by a string: ``dask=ADDRESS`` connects to a running scheduler."""

SLOWEST = 10
"""How many of the median run's slowest task runs a row keeps."""

MAX_REPR = 120
"""Values in mismatch messages are shortened to this many characters."""


# -- the executors ---------------------------------------------------------------------------
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


# -- one run -----------------------------------------------------------------------------------
@dataclass
class RunMeasure:
    """What one flow run measured.

    Args:
        seconds: its wall time.
        state: the class name of the flow run's state.
        message: the flow run state's message.
        task_runs: task runs, mapped children included.
        mapped_children: of which mapped children.
        busy: the sum of the task runs' times inside the task runner.
        covered: the wall time during which at least one task run was inside it.
        peak_in_flight: the most task runs inside it at once.
        records: the run's task records (for its timeline and slowest tasks).
    """

    seconds: float
    state: str
    message: str | None
    task_runs: int
    mapped_children: int
    busy: float
    covered: float
    peak_in_flight: int
    records: list[TaskRecord] = field(default_factory=list, repr=False)


def _intervals(flow_state: State) -> tuple[list[tuple[float, float]], int, int]:
    """Every task run's (start, end) as timestamps, the number of task runs, and of
    mapped children."""
    from headwater.model.states import Mapped

    spans: list[tuple[float, float]] = []
    runs = children = 0
    for state in flow_state.result_object.value.values():
        group = state.map_states if isinstance(state, Mapped) else (state,)
        for s in group:
            runs += 1
            children += s.map_index is not None
            info = s.run_info
            if info is not None and info.start is not None:
                spans.append((info.start.timestamp(), info.end.timestamp()))
    return spans, runs, children


def sweep(
    spans: Sequence[tuple[float, float]], lo: float = -math.inf, hi: float = math.inf
) -> tuple[float, float, int]:
    """The summed length of ``spans`` clipped to [lo, hi], the length of their union, and
    the most that overlap at once.

    >>> sweep([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)])
    (5.0, 4.0, 2)
    """
    events: list[tuple[float, int]] = []
    total = 0.0
    for start, end in spans:
        start, end = max(start, lo), min(end, hi)
        if end > start:
            total += end - start
            events += [(start, 1), (end, -1)]
    events.sort()
    covered, depth, peak, since = 0.0, 0, 0, 0.0
    for at, step in events:
        if depth == 0 and step > 0:
            since = at
        depth += step
        peak = max(peak, depth)
        if depth == 0:
            covered += at - since
    return total, covered, peak


def measure_run(
    flow: Flow, executor: Any, parameters: Mapping[str, Any], hooks: Sequence[RunHook]
) -> tuple[RunMeasure, State]:
    """Run ``flow`` once on ``executor`` and measure it (see the module's note).

    Returns:
        The measure and the flow run's State.
    """
    gc.collect()
    began = time.time()
    started = time.perf_counter()
    state = FlowRunner(flow, executor).run(parameters=parameters, hooks=[*hooks, RedactionHook()])
    seconds = time.perf_counter() - started
    if not is_flow_state(state):
        return RunMeasure(seconds, type(state).__name__, state.message, 0, 0, 0.0, 0.0, 0), state
    spans, runs, children = _intervals(state)
    busy, covered, peak = sweep(spans, began, began + seconds)
    measure = RunMeasure(
        seconds,
        type(state).__name__,
        state.message,
        runs,
        children,
        busy,
        covered,
        peak,
        task_records(state),
    )
    return measure, state


# -- the reference tasks' results ------------------------------------------------------------
def same_value(a: Any, b: Any) -> bool:
    """Whether two task results are equal, for a benchmark's check: ``==`` where it gives a
    truth value, element-wise for arrays (NaN equal to NaN), else the same pickled bytes.

    >>> same_value([1, float("nan")], [1, float("nan")])
    True
    >>> same_value(1, 1.0)
    False
    """
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if getattr(a, "shape", None) != getattr(b, "shape", None):
        return False
    if type(a).__module__.split(".")[0] == "numpy":
        import numpy

        try:
            return bool(numpy.array_equal(a, b, equal_nan=True))
        except TypeError:
            return bool(numpy.array_equal(a, b))
    equals = getattr(a, "equals", None)  # pandas
    if callable(equals):
        with contextlib.suppress(Exception):
            return bool(equals(b))
    try:
        return bool(a == b)
    except Exception:
        try:
            return pickle.dumps(a) == pickle.dumps(b)
        except Exception:
            return False


def reference_values(flow: Flow, state: State) -> dict[str, tuple[str, Any]]:
    """The reference tasks' outcomes by task name: ``("Success", result)`` for one that
    succeeded (cached and mapped too), else ``(state class, None)``."""
    held = state.result_object.value if is_flow_state(state) else {}
    out: dict[str, tuple[str, Any]] = {}
    for task in flow.reference_tasks():
        s = held.get(task)
        if s is None:
            out[task.name] = ("no state", None)
        elif s.is_successful():
            out[task.name] = ("Success", s.result)
        else:
            out[task.name] = (type(s).__name__, None)
    return out


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__}: repr failed: {exc}>"
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."


def _outcome(kind: str, value: Any) -> str:
    return _short(value) if kind == "Success" else kind


def differences(
    expected: Mapping[str, tuple[str, Any]], got: Mapping[str, tuple[str, Any]]
) -> list[tuple[str, str, str]]:
    """The reference tasks whose outcomes differ: (task, expected, got), shortened."""
    out = []
    for name, (kind, value) in expected.items():
        other_kind, other = got.get(name, ("no state", None))
        if kind != other_kind or (kind == "Success" and not same_value(value, other)):
            out.append((name, _outcome(kind, value), _outcome(other_kind, other)))
    return out


# -- progress -------------------------------------------------------------------------------
class BenchProgress(RunHook):
    """A tqdm bar over all the runs of a benchmark, saying which executor and run is on, and
    how many of its task runs finished: a run hook.

    Args:
        total: runs in the benchmark (warm-ups included).
        file: where a text bar goes (stderr by default).
    """

    def __init__(self, total: int, file: IO[str] | None = None) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total, unit="run", desc="bench", file=file or sys.stderr, dynamic_ncols=True
        )
        self._lock = threading.Lock()
        self._planned = self._done = 0
        self._shown = 0.0

    def begin(self, text: str) -> None:
        """A run starts: ``text`` says which."""
        with self._lock:
            self._planned = self._done = 0
            self._bar.set_description_str(text, refresh=False)
            self._bar.set_postfix_str("", refresh=True)

    def on_tasks_planned(self, *, total: int) -> None:
        """Task runs planned so far in this run."""
        with self._lock:
            self._planned = total
            self._show()

    def on_tasks_finished(self, *, counts: Mapping[str, int]) -> None:
        """Task runs finished in this run."""
        with self._lock:
            self._done += sum(counts.values())
            self._show()

    def on_run_finished(self, *, flow: Flow, state: State, counts: Mapping[str, int]) -> State:
        """One more run done; ``state`` passes on as it is."""
        with self._lock:
            self._done = sum(counts.values())
            self._show(force=True)
            self._bar.update(1)
        return state

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._shown > 0.2:
            self._shown = now
            self._bar.set_postfix_str(f"{self._done}/{self._planned} task runs")

    def close(self) -> None:
        """Close the bar."""
        self._bar.close()


# -- the benchmark ------------------------------------------------------------------------
def _report_file(folder: Path, label: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label).strip("-")
    return folder / f"dask-report-{safe or 'dask'}.html"


@contextlib.contextmanager
def _dask_report(contender: Contender, folder: Path | None) -> Iterator[list[str]]:
    """Wrap the timed runs in Dask's performance report when there is a client and a
    folder; yields a list that holds the report's path once written."""
    written: list[str] = []
    if contender.client is None or folder is None:
        yield written
        return
    from distributed import performance_report

    path = _report_file(folder, contender.label)
    report = performance_report(filename=str(path))
    with contender.client.as_current():
        report.__enter__()
        try:
            yield written
        finally:
            try:
                report.__exit__(None, None, None)
                written.append(str(path))
            except Exception as exc:
                logger.warning(
                    "No Dask performance report for %s: %s: %s (the scheduler needs bokeh: "
                    "pip install 'headwater[diagnostics]')",
                    contender.label, type(exc).__name__, exc,
                )  # fmt: skip


def _worker_memory(client: Any, reset: bool) -> dict[str, float | None] | None:
    """Each worker's peak memory (MiB), after resetting it first when ``reset``; None when
    the workers cannot be asked."""
    try:
        if reset:
            client.run(machine.reset_peak_memory)
        return dict(client.run(machine.peak_memory_mib))
    except Exception as exc:
        logger.warning("Cannot measure the Dask workers' memory: %s", exc)
        return None


class Bench:
    """One benchmark in progress: the flow, its parameters, and what the runs gave so far.

    Args:
        flow: the flow.
        parameters: its parameter values.
        repeats: timed runs per executor.
        warmup: untimed runs per executor, before the timed ones.
        progress: the bar, or None.
        report_dir: where Dask performance reports go (None: none).
    """

    def __init__(
        self,
        flow: Flow,
        parameters: Mapping[str, Any],
        repeats: int,
        warmup: int,
        progress: BenchProgress | None,
        report_dir: Path | None,
    ) -> None:
        self.flow, self.parameters = flow, dict(parameters)
        self.repeats, self.warmup = repeats, warmup
        self.progress, self.report_dir = progress, report_dir
        self.reference: tuple[str, dict[str, tuple[str, Any]]] | None = None

    def _run(self, contender: Contender, text: str) -> tuple[RunMeasure, list[str]]:
        if self.progress is not None:
            self.progress.begin(f"{contender.label}: {text}")
        hooks = [self.progress] if self.progress is not None else []
        measure, state = measure_run(self.flow, contender.make(), self.parameters, hooks)
        values = reference_values(self.flow, state)
        if self.reference is None:
            self.reference = (contender.label, values)
            return measure, []
        first, expected = self.reference
        return measure, [
            f"{contender.label} ({text}): task {name!r} gave {got} where {first} gave {want}"
            for name, want, got in differences(expected, values)
        ]

    def measure(self, contender: Contender) -> dict[str, Any]:
        """Run the warm-ups and the timed runs on ``contender``; return its row."""
        mismatches: list[str] = []
        for i in range(self.warmup):
            mismatches += self._run(contender, f"warm-up {i + 1}/{self.warmup}")[1]
        before = machine.resident_memory_mib()
        reset = machine.reset_peak_memory()
        client = contender.client
        workers = _worker_memory(client, reset=True) if client is not None else None
        runs: list[RunMeasure] = []
        with _dask_report(contender, self.report_dir) as written:
            for i in range(self.repeats):
                measure, found = self._run(contender, f"run {i + 1}/{self.repeats}")
                runs.append(measure)
                mismatches += found
        row = summarize(contender, runs, mismatches)
        row["driver_before_mib"] = before if reset else None
        row["driver_peak_mib"] = machine.peak_memory_mib()
        row["driver_peak_since"] = "the timed runs" if reset else "the process started"
        if workers is not None:
            row["worker_peak_mib"] = _worker_memory(client, reset=False)
        else:
            row["worker_peak_mib"] = None
        row["performance_report"] = written[0] if written else None
        row["warmup"] = self.warmup
        return row


def median_index(seconds: Sequence[float]) -> int:
    """The index of the median run (the lower middle one for an even count).

    >>> median_index([3.0, 1.0, 2.0, 5.0])
    2
    """
    order = sorted(range(len(seconds)), key=lambda i: seconds[i])
    return order[(len(order) - 1) // 2]


def summarize(
    contender: Contender, runs: Sequence[RunMeasure], mismatches: list[str]
) -> dict[str, Any]:
    """The row of one executor: its timed runs summarized (see the module's note), the
    median run's records under ``"records"`` (not JSON; the HTML draws them)."""
    seconds = [r.seconds for r in runs]
    mid = runs[median_index(seconds)]
    wall = mid.seconds
    in_flight = mid.busy / wall if wall > 0 else 0.0
    ran = [t for t in mid.records if not t.mapped and t.duration is not None]
    slowest = sorted(ran, key=lambda t: t.duration or 0.0, reverse=True)[:SLOWEST]
    return {
        "executor": contender.label,
        "slots": contender.slots,
        "repeats": len(runs),
        "runs_s": seconds,
        "wall_median_s": statistics.median(seconds),
        "wall_min_s": min(seconds),
        "wall_max_s": max(seconds),
        "median_run": runs.index(mid),
        "task_runs": mid.task_runs,
        "mapped_children": mid.mapped_children,
        "tasks_per_s": mid.task_runs / wall if wall > 0 else None,
        "busy_s": mid.busy,
        "mean_in_flight": in_flight,
        "peak_in_flight": mid.peak_in_flight,
        "concurrency": in_flight / contender.slots if contender.slots else None,
        "overhead_per_task_s": (wall - mid.covered) / mid.task_runs if mid.task_runs else None,
        "states": [r.state for r in runs],
        "not_successful": next((r.message for r in runs if r.state != "Success"), None),
        "results_match": not mismatches,
        "mismatches": mismatches,
        "slowest": [
            {
                "task": t.label,
                "state": t.state,
                "seconds": t.duration,
                "worker": t.worker,
                "thread": t.thread,
            }
            for t in slowest
        ],
        "records": mid.records,
    }


def shown_parameters(flow: Flow, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameter values as a report shows them: JSON values, secrets masked."""
    from headwater.model.secrets import MASK, Secret
    from headwater.runtime.records import json_default

    secret = {p.name for p in flow.parameters() if isinstance(p, Secret)}
    masked = {k: MASK if k in secret else v for k, v in parameters.items()}
    return dict(json.loads(json.dumps(masked, default=json_default)))


def bench(
    flow: Flow,
    executors: Sequence[str | Executor] | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    repeats: int = 3,
    warmup: int = 1,
    progress: bool | None = None,
    report_dir: str | Path | None = None,
) -> BenchResult:
    """Run ``flow`` on each executor and measure it: wall times, task runs per second,
    concurrency, engine overhead, memory, and whether every executor gives the reference
    tasks' results of the first one (docs/benchmarks.md, "Benchmark your own flow").

    Args:
        flow: the flow to measure.
        executors: names (``"local"``, ``"threads"``, ``"processes"``, ``"dask"`` for a local
            Dask cluster started for the benchmark, ``"dask=ADDRESS"``) or executor objects;
            by default every local one and a local Dask cluster.
        parameters: the flow's parameter values, the same for every run.
        repeats: timed runs per executor.
        warmup: untimed runs per executor before them.
        progress: a progress bar (None: as for ``flow.run``).
        report_dir: write Dask's performance report of the timed runs of each Dask
            executor (with a client) into this folder.

    Returns:
        A :class:`~headwater.runtime.bench_report.BenchResult`: its ``table()``, ``ok``,
        ``mismatches``, ``write_json()``, ``write_html()``; Jupyter shows the table and the
        median run's timeline.

    Raises:
        ValueError: for an unknown executor name, a name given twice, or ``repeats`` < 1 or
            ``warmup`` < 0.
    """
    from headwater.runtime.bench_report import BenchResult

    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"repeats must be at least 1 and warmup at least 0, got repeats={repeats}, "
            f"warmup={warmup}"
        )
    flow.validate()
    folder = Path(report_dir) if report_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    facts = machine.machine_facts()
    with contextlib.ExitStack() as stack:
        chosen = contenders(executors, stack)
        bar = None
        if wants_progress(progress):
            bar = BenchProgress(len(chosen) * (repeats + warmup))
            stack.callback(bar.close)
        run = Bench(flow, parameters or {}, repeats, warmup, bar, folder)
        rows = [run.measure(c) for c in chosen]
    facts["load_after"] = machine.load_average()
    return BenchResult(
        flow_name=flow.name,
        parameters=shown_parameters(flow, parameters or {}),
        reference_tasks=[t.name for t in flow.reference_tasks()],
        repeats=repeats,
        warmup=warmup,
        machine=facts,
        rows=rows,
    )


__all__ = [
    "EXECUTOR_KINDS",
    "Bench",
    "BenchProgress",
    "Contender",
    "RunMeasure",
    "bench",
    "contender_from_executor",
    "contender_from_name",
    "contenders",
    "differences",
    "measure_run",
    "median_index",
    "parse_executor",
    "reference_values",
    "same_value",
    "shown_parameters",
    "summarize",
    "sweep",
]
