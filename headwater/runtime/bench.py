"""Benchmark a flow on several executors: what ``headwater bench`` and ``headwater.bench`` do.

Design note
-----------
:func:`bench` runs one flow, with the same parameters, on each executor in turn: ``warmup``
untimed runs (imports, process pools, functions reaching Dask workers), then ``repeats``
timed runs. A run is the engine's run with the runtime's hooks, as ``flow.run()`` does it
(every task's state comes back; secrets are masked), except that it is not journaled and its
progress is the benchmark's own bar (:class:`BenchProgress`); the executors are
:mod:`headwater.runtime.bench_executors`'. Its wall time is taken in the
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
on the first executor (:mod:`headwater.runtime.bench_runs`); any difference is a mismatch, reported by name.
A task that did not succeed is compared by its state's class only. On Dask, given a
``report_dir``, the timed runs are wrapped in one Dask performance report.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from headwater.engine.hooks import RunHook
from headwater.runtime import machine
from headwater.runtime.bench_executors import Contender, contenders
from headwater.runtime.bench_runs import RunMeasure, differences, measure_run, reference_values
from headwater.runtime.progress import wants_progress

if TYPE_CHECKING:
    from headwater.executors.base import Executor
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.runtime.bench_report import BenchResult

logger = logging.getLogger("headwater.bench")

SLOWEST = 10
"""How many of the median run's slowest task runs a row keeps."""


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


def _dask_report(
    contender: Contender, folder: Path | None, what: str
) -> contextlib.AbstractContextManager[list[str]]:
    """Dask's performance report around the timed runs when there is a client and a folder;
    yields a list that holds the report's path once written."""
    if contender.client is None or folder is None:
        return contextlib.nullcontext([])
    from headwater.executors.dask_distributed import performance_report

    path = str(_report_file(folder, contender.label))
    return performance_report(contender.client, path, what)


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
        what = f"headwater bench: {self.repeats} timed run(s) of flow {self.flow.name!r} on {contender.label}"
        with _dask_report(contender, self.report_dir, what) as written:
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
    "SLOWEST",
    "Bench",
    "BenchProgress",
    "bench",
    "median_index",
    "shown_parameters",
    "summarize",
]
