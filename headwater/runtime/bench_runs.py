"""One run of a benchmark, measured, and the check of its reference tasks' results.

Design note
-----------
:func:`measure_run` runs the flow once through the engine (with the given hooks and
redaction, not journaled) and measures it from the task states'
:class:`~headwater.model.states.RunInfo` (:func:`sweep` over the intervals from the first
call of each task's function to its final state): the busy time (their sum), the time at
least one was running (their union, clipped to the run) and the most at once. The clocks are
the machines' own (``time.time()``), so on several hosts the figures are as good as their
clocks agree.

:func:`reference_values` takes the outcome of each reference task, :func:`differences`
compares two runs' outcomes with :func:`same_value` (``==`` where it gives a truth value,
NaN equal to NaN, arrays element by element).
"""

from __future__ import annotations

import contextlib
import gc
import math
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.engine.flow_runner import FlowRunner
from headwater.engine.hooks import RunHook
from headwater.runtime.records import TaskRecord, is_flow_state, task_records
from headwater.runtime.redaction import RedactionHook

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State

MAX_REPR = 120
"""Values in mismatch messages are shortened to this many characters."""


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

    Raises:
        KeyboardInterrupt: when Ctrl-C interrupted the run (the engine ends such a run
            Cancelled; a benchmark stops instead of going on to the next run).
    """
    from headwater.model.states import Cancelled

    gc.collect()
    began = time.time()
    started = time.perf_counter()
    state = FlowRunner(flow, executor).run(parameters=parameters, hooks=[*hooks, RedactionHook()])
    seconds = time.perf_counter() - started
    if isinstance(state, Cancelled) and "KeyboardInterrupt" in (state.message or ""):
        raise KeyboardInterrupt(state.message)
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


__all__ = [
    "MAX_REPR",
    "RunMeasure",
    "differences",
    "measure_run",
    "reference_values",
    "same_value",
    "sweep",
]
