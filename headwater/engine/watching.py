"""Telling the run hooks which task runs are planned and which finished, as the run goes.

Design note
-----------
Each batch the planner submits is watched (:meth:`RunWatch.watch`): the hooks hear how many
task runs are planned, and the executor's ``watch`` calls back as each output key finishes,
with the *type* of its value (docs/notices/0009-observability.md). A plain task's type is its
state's class; a batch of children is a :class:`~headwater.engine.children.SucceededBatch`
when they all succeeded, else a StateBatch. Of such a batch the hooks learn its children's
counts and those that did not succeed (:class:`~headwater.engine.hooks.FinishedRuns`) where
that costs nothing: a literal (a state given to the run, a kept one, a repair's Crashed), or
a value in the driver's own process (``Executor.holds_values``: the local executors pass it
to the watcher). On dask.distributed such a batch only says that its children finished; the
run's end says more.

A hook that raises while being told is logged and the run goes on: the executor's threads
tell it, and an exception there would kill a dispatcher thread and hang the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from headwater.engine.children import StateBatch
from headwater.engine.hooks import UNKNOWN, FinishedRuns, RunHook
from headwater.engine.plan import Plan, runs_of, state_name
from headwater.model.task import Task
from headwater.taskgraph import is_node

_NONE = object()

logger = logging.getLogger("headwater.flow_runner")


def _tell(hook: RunHook, what: str, call: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Call one hook; a hook that raises is logged and the run goes on (the executor's
    threads call this: an exception there would kill a dispatcher and hang the run)."""
    try:
        call(*args, **kwargs)
    except Exception:
        logger.exception("Run hook %r failed when told %s; the run goes on", hook, what)


def batch_summary(value: StateBatch) -> tuple[dict[str, int], tuple[tuple[int, str], ...]]:
    """A batch's children by state name, and those that did not succeed (index, state).

    Args:
        value: a batch of children's states.
    """
    others = tuple(
        (value.start + pos, type(s).__name__)
        for pos, s in sorted(value.others.items())
        if not s.is_successful()
    )
    return value.counts(), others


class RunWatch:
    """Tells the run hooks of a run's task runs (see the module's note).

    Args:
        plan: the run's bookkeeping.
        executor: the run's executor.
        hooks: the run hooks.
    """

    def __init__(self, plan: Plan, executor: Any, hooks: Sequence[RunHook]) -> None:
        self.plan = plan
        self.executor = executor
        self.hooks = tuple(hooks)
        self._following: bool | None = None

    def watch(self, batch: Mapping[str, Any]) -> None:
        """Tell the hooks how many task runs are planned, and watch this batch's; nothing
        when no hook follows task runs (``RunHook.follows_task_runs``, asked once)."""
        if self._following is None:
            self.hooks = tuple(h for h in self.hooks if _follows(h))
            self._following = bool(self.hooks)
        if not self._following:
            return
        runs: list[tuple[str, int]] = []
        owners: dict[str, tuple[Task, int | None]] = {}
        plan = self.plan
        sizing = [(t, out) for t, out in plan.pilots.items() if t not in plan.outputs]
        for task, out in [*plan.outputs.items(), *sizing]:  # a map being sized: its pilots
            for j, (k, n) in enumerate(runs_of(out)):
                runs.append((k, n))
                first = out.starts[j] if out.starts is not None else j
                owners[k] = (task, first if out.mapped else None)
        total = sum(n for _, n in runs)
        for hook in self.hooks:
            _tell(hook, "of task runs planned", hook.on_tasks_planned, total=total)
        self.plan.weights = {k: n for k, n in runs if n != 1}
        self.plan.owners = owners
        nodes = []
        for k, _ in runs:
            if k not in batch:
                continue
            if is_node(batch[k]):
                nodes.append(k)
            else:  # a state given or kept, or a repair's Crashed: finished already
                self.key_done(k, type(batch[k]), batch[k])
        watch = getattr(self.executor, "watch", None)
        if watch is not None and nodes:
            watch(nodes, self.key_done)

    def key_done(self, key: str, value_type: Any, value: Any = _NONE) -> None:
        """Tell the hooks that the task runs of ``key`` finished (``value``: when known)."""
        name, n = state_name(value_type), self.plan.weights.get(key, 1)
        counts: Mapping[str, int] = {name: n}
        summary: tuple[dict[str, int], tuple[tuple[int, str], ...]] | None = None
        if n != 1 and name == UNKNOWN and isinstance(value, StateBatch):
            summary = batch_summary(value)
            counts = summary[0]
        owner = self.plan.owners.get(key)
        runs = []
        if owner is not None:
            known, others = summary if summary is not None else (None, ())
            runs = [FinishedRuns(owner[0], owner[1], n, name, known, others)]
        for hook in self.hooks:
            _tell(hook, f"that {key!r} finished", _finished, hook, counts, runs)


def _follows(hook: RunHook) -> bool:
    """Whether a hook follows task runs; a hook that cannot say is taken as following."""
    ask = getattr(hook, "follows_task_runs", None)
    try:
        return bool(ask()) if callable(ask) else True
    except Exception:  # a listener's error is its own: it is told, as before
        logger.exception("Asking run hook %r whether it follows task runs failed", hook)
        return True


def _finished(hook: RunHook, counts: Mapping[str, int], runs: list[FinishedRuns]) -> None:
    hook.on_tasks_finished(counts=counts)
    if runs:
        hook.on_task_runs_finished(runs=runs)


__all__ = ["RunWatch", "batch_summary"]
