"""Logging setup: one handler on the ``headwater`` logger, its level from code or environment.

Design note
-----------
headwater logs through the standard :mod:`logging` tree under ``headwater`` (task loggers
are ``headwater.task.<name>``, see :func:`~headwater.model.context.get_logger`) and installs
no handler on import: a library must not decide where its logs go. :func:`configure_logging`
is the one opt-in switch (the command line calls it): it installs a single stream handler on
the ``headwater`` logger whose format names the flow and task of each record, and sets the
level from its argument, else ``HEADWATER_LOG_LEVEL``, else ``INFO``. Calling it again changes
the level and keeps the one handler (it is found again by a marker attribute).

Records keep propagating to the root logger, so the user's own handlers (and pytest's
caplog) still see them; a program that configures the root logger itself does not need
this function.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Any

from headwater.model.context import current

LEVEL_ENV = "HEADWATER_LOG_LEVEL"
"""The environment variable that sets the level when :func:`configure_logging` is given none."""

DEFAULT_FORMAT = "%(asctime)s | %(levelname)-7s | %(headwater_where)s | %(message)s"
"""The handler's format; ``headwater_where`` is ``flow/task[map_index]`` (or the logger's
name outside a task run)."""

_MARKER = "_headwater_handler"


class ContextFilter(logging.Filter):
    """Give every record ``flow_name``, ``task_name``, ``map_index`` and a short
    ``headwater_where`` (``flow/task[3]``), from the record or else the current run context."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields; always keep the record."""
        ctx = current()
        for key in ("flow_name", "task_name", "map_index", "flow_run_id", "task_run_name"):
            if getattr(record, key, None) is None:
                setattr(record, key, ctx.get(key))
        flow_name: Any = getattr(record, "flow_name", None)
        task_name: Any = getattr(record, "task_run_name", None) or getattr(
            record, "task_name", None
        )
        index: Any = getattr(record, "map_index", None)
        if flow_name or task_name:
            where = f"{flow_name or '-'}/{task_name or '-'}"
            if index is not None:
                where += f"[{index}]"
        else:
            where = record.name
        record.headwater_where = where
        return True


def _level(level: int | str | None) -> int:
    if level is None:
        level = os.environ.get(LEVEL_ENV, "").strip() or "INFO"
    if isinstance(level, str):
        name = level.strip().upper()
        if name.isdigit():
            return int(name)
        value = logging.getLevelName(name)
        if not isinstance(value, int):
            raise ValueError(
                f"Unknown log level {level!r} (from the argument or {LEVEL_ENV}); use one of "
                "DEBUG, INFO, WARNING, ERROR, CRITICAL"
            )
        return value
    return int(level)


def configure_logging(
    level: int | str | None = None, *, stream: IO[str] | None = None, fmt: str | None = None
) -> logging.Logger:
    """Send headwater's logs to a stream, with the flow and task names on every line.

    Idempotent: a second call changes the level (and stream or format, when given) of the
    same single handler.

    Args:
        level: a level name or number; ``HEADWATER_LOG_LEVEL`` when None, else ``INFO``.
        stream: where lines go (stderr by default).
        fmt: a :mod:`logging` format string (:data:`DEFAULT_FORMAT` by default).

    Returns:
        The ``headwater`` logger.

    Raises:
        ValueError: when the level is not a known level name.
    """
    value = _level(level)
    logger = logging.getLogger("headwater")
    handler = next((h for h in logger.handlers if getattr(h, _MARKER, False)), None)
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stderr)
        setattr(handler, _MARKER, True)
        handler.addFilter(ContextFilter())
        from headwater.model.secrets import RedactingFilter

        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter(fmt or DEFAULT_FORMAT))
        logger.addHandler(handler)
    else:
        if stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)
        if fmt is not None:
            handler.setFormatter(logging.Formatter(fmt))
    handler.setLevel(value)
    logger.setLevel(value)
    return logger


__all__ = ["DEFAULT_FORMAT", "LEVEL_ENV", "ContextFilter", "configure_logging"]
