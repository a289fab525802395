"""Flows for running on a schedule (``flow.run(run_on_schedule=True)``, ``headwater run
--schedule``).

``ticking`` runs every second from the moment this module is imported; ``report`` records
what it was given (its parameters and its run context's ``scheduled_start_time``) and fails
when ``fail`` is true, so a schedule can mix failing and succeeding runs through its clocks'
parameter defaults. ``soon_then_later`` runs the same task 1.5 s after import and again an hour
later (for Ctrl-C while waiting). ``unscheduled`` has no schedule. ``sleepy`` sleeps
``seconds`` in its task, for Ctrl-C during a run.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from headwater import Flow, Parameter, context, flow, task
from headwater.schedules import DatesClock, IntervalClock, Schedule

IMPORTED_AT = datetime.now(UTC)
"""When this module was imported: ``ticking``'s clock starts here."""


@task
def report(n: int, label: str, fail: bool) -> dict[str, Any]:
    """Return what the run got; fail when ``fail`` is true."""
    if fail:
        raise ValueError(f"asked to fail (n={n}, label={label!r})")
    return {"n": n, "label": label, "scheduled_start_time": context.get("scheduled_start_time")}


with Flow(
    "ticking", schedule=Schedule([IntervalClock(timedelta(seconds=1), start_date=IMPORTED_AT)])
) as ticking:
    report(
        Parameter("n", default=1, annotation=int),
        Parameter("label", default="x"),
        Parameter("fail", default=False, annotation=bool),
    )


@flow(
    schedule=Schedule(
        [DatesClock([IMPORTED_AT + timedelta(seconds=1.5), IMPORTED_AT + timedelta(hours=1)])]
    )
)
def soon_then_later(n: int = 1, label: str = "x", fail: bool = False) -> Any:
    """The same task, soon and then much later."""
    return report(n, label, fail)


@flow
def unscheduled(n: int = 1, label: str = "x", fail: bool = False) -> Any:
    """The same task, with no schedule."""
    return report(n, label, fail)


@task
def nap(seconds: float) -> float:
    """Sleep ``seconds`` (print a line first, so a test knows the run started)."""
    print("napping", flush=True)
    time.sleep(seconds)
    return seconds


@flow
def sleepy(seconds: float = 0.0) -> float:
    """One task that sleeps."""
    return nap(seconds)
