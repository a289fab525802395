"""The run context: what a running task can know about its run.

Design note
-----------
The context lives in one :class:`contextvars.ContextVar` holding an immutable mapping. The
flow runner fills the flow-level keys (flow_name, flow_run_id, flow_run_name, parameters, date
and the day keys derived from it, scheduled_start_time); the task runner layers the task-level
keys on top (task_name, task_full_name, task_slug, task_tags, task_run_id, task_run_count,
task_run_name, map_index, task_loop_count, task_loop_result from the second LOOP iteration,
resume); :mod:`headwater.engine.context` builds them. docs/engine.md lists them for users.
Because it is a ContextVar, every thread and every Dask worker sees only its own task's
context, and a timed-out call running on in a helper thread keeps the context it started with.

Users read it through :data:`context`, a read-only mapping::

    from headwater import context
    context["task_name"], context.get("map_index")

Inside a task run it also has ``logger`` (Prefect Core 1's ``context.get("logger")``): the
task's logger, :func:`get_logger`, made when it is read rather than stored, so a map of a
million children does not make a million adapters nobody reads.

:func:`get_logger` returns a logger whose records carry ``flow_name``, ``task_name``,
``map_index`` and ``task_run_name`` attributes taken from the context when the record is made.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_current: ContextVar[Mapping[str, Any]] = ContextVar("headwater_run_context", default=_EMPTY)


class RunContext(Mapping[str, Any]):
    """A read-only view of the current run's context; empty outside a run. Inside a task run
    ``logger`` is the task's logger (:func:`get_logger`). Keys read as items or, as in
    Prefect 1, as attributes: ``context["today"]`` or ``context.today``."""

    def __getitem__(self, key: str) -> Any:
        values = _current.get()
        try:
            return values[key]
        except KeyError:
            if key == _LOGGER and _in_task(values):
                return get_logger()
            known = ", ".join(sorted(self)) or "none (not inside a task run)"
            raise KeyError(f"{key!r} is not in the run context; keys: {known}") from None

    def __iter__(self) -> Iterator[str]:
        values = _current.get()
        yield from values
        if _LOGGER not in values and _in_task(values):
            yield _LOGGER

    def __len__(self) -> int:
        values = _current.get()
        return len(values) + (_LOGGER not in values and _in_task(values))

    def __getattr__(self, key: str) -> Any:
        """``context.today`` is ``context["today"]`` (Prefect 1's context allows both)."""
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None

    def __repr__(self) -> str:
        return f"<RunContext {dict(_current.get())!r}>"


_LOGGER = "logger"


def _in_task(values: Mapping[str, Any]) -> bool:
    return "task_name" in values


context = RunContext()
"""The current run's context (read-only)."""


def current() -> Mapping[str, Any]:
    """Return the current context mapping itself (cheap; no copy)."""
    return _current.get()


@contextlib.contextmanager
def run_context(values: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Layer ``values`` over the current context for the duration of the block."""
    merged = MappingProxyType({**_current.get(), **values})
    token = _current.set(merged)
    try:
        yield merged
    finally:
        _current.reset(token)


_RECORD_KEYS = ("flow_name", "flow_run_id", "task_name", "task_run_name", "map_index")


class _ContextAdapter(logging.LoggerAdapter):
    """Adds the run context's names to every record made through it."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        ctx = _current.get()
        extra = {key: ctx.get(key) for key in _RECORD_KEYS}
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def get_logger(name: str | None = None) -> logging.LoggerAdapter:
    """Return a logger whose records carry the flow and task names of the current run.

    Args:
        name: a name under ``headwater.task``; the current task's name when omitted.

    Returns:
        A :class:`logging.LoggerAdapter`; records have ``flow_name``, ``flow_run_id``,
        ``task_name``, ``task_run_name`` and ``map_index`` attributes.
    """
    if name is None:
        name = _current.get().get("task_name") or "task"
    logger = logging.getLogger(f"headwater.task.{name}")
    secrets = sys.modules.get("headwater.model.secrets")  # not imported: no secret exists
    if secrets is not None and secrets.has_secrets():
        secrets.protect_logger(logger)
    return _ContextAdapter(logger, {})


__all__ = ["RunContext", "context", "current", "get_logger", "run_context"]
