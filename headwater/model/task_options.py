"""The options of a task that are checked, in one place for ``Task(...)`` and ``task.copy(...)``.

Design note
-----------
A task's retry, timeout, trigger, handler and output options are checked, and kept in one
form (``retry_delay`` as :func:`~headwater.model.retries.as_retry_delay` makes it, seconds as a float for ``timeout``, a tuple for
``retry_on``, a list for ``state_handlers``), whether they come from the constructor or from
:meth:`~headwater.model.task.Task.copy` (``task_args=`` too), so a copy can never hold an
option the runner does not expect. Each refusal names the task, the option and the value.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

CHECKED_OPTIONS = frozenset(
    {"max_retries", "retry_delay", "retry_on", "timeout", "trigger", "state_handlers", "nout"}
)
"""The options of :class:`~headwater.model.task.Task` that :func:`checked_options` checks."""


def as_timedelta(value: _dt.timedelta | float | None, option: str) -> _dt.timedelta | None:
    """A duration given as a timedelta or a number of seconds, as a timedelta.

    Args:
        value: the duration (None stays None).
        option: the option's name, for the message.

    Raises:
        TypeError: ``value`` is neither a timedelta nor a number.

    >>> as_timedelta(1.5, "retry_delay")
    datetime.timedelta(seconds=1, microseconds=500000)
    """
    if value is None or isinstance(value, _dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _dt.timedelta(seconds=value)
    raise TypeError(f"{option} must be a datetime.timedelta or a number of seconds, got {value!r}")


def checked_options(name: str, **options: Any) -> dict[str, Any]:
    """Check the options among :data:`CHECKED_OPTIONS` that are given.

    Args:
        name: the task's name, for messages.
        **options: option name -> value.

    Returns:
        The given options in the form a task keeps them.

    Raises:
        ValueError, TypeError: an option is refused (the message names the task and value).
    """
    from headwater.model import triggers  # triggers import the task module
    from headwater.model.retries import as_retry_delay

    out: dict[str, Any] = {}
    if "max_retries" in options:
        max_retries = options["max_retries"]
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ValueError(f"Task {name!r}: max_retries must be an int >= 0, got {max_retries!r}")
        out["max_retries"] = max_retries
    if "retry_delay" in options:
        out["retry_delay"] = as_retry_delay(options["retry_delay"], name)
    if "retry_on" in options:
        retry_on = options["retry_on"]
        if retry_on is not None and not isinstance(retry_on, tuple):
            retry_on = (retry_on,)
        for exc_type in retry_on or ():
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise TypeError(f"Task {name!r}: retry_on takes exception types, got {exc_type!r}")
        out["retry_on"] = retry_on
    if "timeout" in options:
        delta = as_timedelta(options["timeout"], "timeout")
        if delta is not None and delta.total_seconds() <= 0:
            raise ValueError(
                f"Task {name!r}: timeout must be > 0 seconds, got {options['timeout']!r}"
            )
        out["timeout"] = delta.total_seconds() if delta is not None else None
    if "trigger" in options:
        trigger = options["trigger"] or triggers.all_successful
        if not callable(trigger):
            raise TypeError(f"Task {name!r}: trigger must be callable, got {trigger!r}")
        out["trigger"] = trigger
    if "state_handlers" in options:
        out["state_handlers"] = list(options["state_handlers"] or ())
    if "nout" in options:
        nout = options["nout"]
        if nout is not None and (not isinstance(nout, int) or nout < 1):
            raise ValueError(f"Task {name!r}: nout must be an int >= 1, got {nout!r}")
        out["nout"] = nout
    return out


__all__ = ["CHECKED_OPTIONS", "as_timedelta", "checked_options"]
