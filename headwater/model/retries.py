"""Retry delays: how long a failed task waits before each retry.

Design note
-----------
A task's ``retry_delay`` is one of three shapes, checked when the task is made
(:func:`as_retry_delay`), so a bad value is refused at definition time, naming the task:

- one delay (a ``timedelta`` or a number of seconds): the same wait before every retry, as
  in Prefect 1;
- a list of delays: the wait before the first retry, the second, ...; a list shorter than
  ``max_retries`` repeats its last delay (as Prefect 2's server did), so ``[1, 10, 60]``
  reads "1 s, then 10 s, then every minute";
- :func:`exponential_backoff`: ``base * factor ** (n - 1)`` before retry ``n``, capped at
  ``max_delay``, each wait shortened at random by up to ``jitter`` of itself so that many
  tasks failing together do not all come back at the same instant.

:func:`retry_wait` turns the shape and the retry's number into the wait; the engine computes
it once per retry, when the try fails, and the Retrying state's ``start_time`` carries it
(the wait itself does not hold a worker slot: :mod:`headwater.engine.calls`). Jitter draws
from :mod:`random`; ``max_delay`` is a hard ceiling, jitter only ever shortens a wait.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

_ZERO = _dt.timedelta(0)

_LONGEST = 100 * 365.25 * 24 * 3600.0
"""The longest wait, in seconds: a delay must fit in a date (``now + delay``); a growing
backoff without ``max_delay`` stops growing here."""


def _seconds(value: Any, what: str) -> float:
    """``value`` (a timedelta or a number of seconds) in seconds, refused when negative."""
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(
            f"{what} must be a datetime.timedelta or a number of seconds, got {value!r}"
        )
    if not (0 <= seconds <= _LONGEST):
        raise ValueError(f"{what} must be a delay from 0 seconds to 100 years, got {value!r}")
    return seconds


@dataclass(frozen=True)
class ExponentialBackoff:
    """Waits that grow by ``factor`` with each retry (make one with :func:`exponential_backoff`).

    Args:
        base: seconds before the first retry.
        factor: what each wait is multiplied by for the next retry.
        max_delay: the longest wait in seconds, or None for no limit.
        jitter: the fraction (0 to 1) of each wait taken off at random.
    """

    base: float
    factor: float
    max_delay: float | None
    jitter: float

    def wait(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry).

        Args:
            retry: the retry's number, from 1.
            rng: where jitter draws from (the :mod:`random` module's generator by default).

        >>> b = exponential_backoff(1, factor=2, max_delay=5)
        >>> [b.wait(n) for n in range(1, 6)]
        [1.0, 2.0, 4.0, 5.0, 5.0]
        """
        exponent = max(retry, 1) - 1
        try:
            seconds = self.base * self.factor**exponent
        except OverflowError:
            seconds = math.inf
        seconds = min(seconds, _LONGEST if self.max_delay is None else self.max_delay)
        if self.jitter:
            seconds *= 1 - self.jitter * (rng or random).random()
        return seconds

    def __repr__(self) -> str:
        cap = "None" if self.max_delay is None else f"{self.max_delay:g}"
        return (
            f"exponential_backoff(base={self.base:g}, factor={self.factor:g}, "
            f"max_delay={cap}, jitter={self.jitter:g})"
        )


def exponential_backoff(
    base: _dt.timedelta | float = 1.0,
    *,
    factor: float = 2.0,
    max_delay: _dt.timedelta | float | None = None,
    jitter: float = 0.0,
) -> ExponentialBackoff:
    """Exponential backoff with optional jitter, for a task's ``retry_delay``.

    Retry ``n`` waits ``base * factor ** (n - 1)`` seconds, at most ``max_delay``, then
    shortened at random by up to ``jitter`` of itself (``jitter=1`` draws the whole wait
    uniformly from zero to that delay, what AWS calls "full jitter").

    Args:
        base: the wait before the first retry (a timedelta or seconds), > 0.
        factor: the growth from one retry to the next, >= 1.
        max_delay: the longest wait (a timedelta or seconds), >= ``base``; None for no limit.
        jitter: the fraction of each wait that may be taken off at random, from 0 to 1.

    Returns:
        The backoff, to give as ``@task(max_retries=5, retry_delay=exponential_backoff(...))``.

    Raises:
        TypeError: a value of the wrong type.
        ValueError: a value out of its range.

    >>> exponential_backoff(2, factor=3, max_delay=60, jitter=0.1)
    exponential_backoff(base=2, factor=3, max_delay=60, jitter=0.1)
    """
    base_s = _seconds(base, "exponential_backoff: base")
    if base_s == 0:
        raise ValueError("exponential_backoff: base must be > 0 seconds (the first wait), got 0")
    if not isinstance(factor, int | float) or isinstance(factor, bool):
        raise TypeError(f"exponential_backoff: factor must be a number >= 1, got {factor!r}")
    if not (math.isfinite(factor) and factor >= 1):
        raise ValueError(
            f"exponential_backoff: factor must be a number >= 1 (1 waits the same every "
            f"time), got {factor!r}"
        )
    cap = None if max_delay is None else _seconds(max_delay, "exponential_backoff: max_delay")
    if cap is not None and cap < base_s:
        raise ValueError(
            f"exponential_backoff: max_delay ({cap:g}s) is shorter than base ({base_s:g}s); "
            "give a max_delay >= base, or None for no limit"
        )
    if not isinstance(jitter, int | float) or isinstance(jitter, bool):
        raise TypeError(f"exponential_backoff: jitter must be a number from 0 to 1, got {jitter!r}")
    if not 0 <= jitter <= 1:
        raise ValueError(
            f"exponential_backoff: jitter must be from 0 to 1 (the fraction of each wait "
            f"taken off at random), got {jitter!r}"
        )
    return ExponentialBackoff(base_s, float(factor), cap, float(jitter))


RetryDelayOption: TypeAlias = (
    _dt.timedelta | float | Sequence[_dt.timedelta | float] | ExponentialBackoff | None
)
"""What ``retry_delay=`` accepts (see :func:`as_retry_delay`)."""

RetryDelay: TypeAlias = _dt.timedelta | tuple[_dt.timedelta, ...] | ExponentialBackoff
"""A task's ``retry_delay`` once checked: one delay, one per retry, or a backoff."""


def as_retry_delay(value: Any, task_name: str) -> RetryDelay:
    """Check a task's ``retry_delay`` and return it in its checked shape.

    Args:
        value: None (no wait), a timedelta or seconds, a list (or tuple) of them, or an
            :func:`exponential_backoff`.
        task_name: the task's name, for messages.

    Raises:
        TypeError: a value of none of these shapes.
        ValueError: a negative delay, or an empty list.
    """
    what = f"Task {task_name!r}: retry_delay"
    if value is None:
        return _ZERO
    if isinstance(value, ExponentialBackoff):
        return value
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(
                f"{what} is an empty list; give one delay per retry (the last one repeats), "
                "or a single delay"
            )
        return tuple(
            _dt.timedelta(seconds=_seconds(v, f"{what}[{i}]")) for i, v in enumerate(value)
        )
    if isinstance(value, _dt.timedelta | int | float) and not isinstance(value, bool):
        return _dt.timedelta(seconds=_seconds(value, what))
    raise TypeError(
        f"{what} must be a datetime.timedelta or a number of seconds, a list of them (one per "
        f"retry), or exponential_backoff(...); got {value!r}"
    )


def retry_wait(delay: RetryDelay, retry: int) -> _dt.timedelta:
    """How long to wait before retry number ``retry`` (1 for the first).

    Args:
        delay: a task's checked ``retry_delay``.
        retry: the retry's number, from 1 (a task's ``run_count`` when its try failed).

    >>> retry_wait((_dt.timedelta(seconds=1), _dt.timedelta(seconds=5)), 3).total_seconds()
    5.0
    """
    if isinstance(delay, _dt.timedelta):
        return delay
    if isinstance(delay, ExponentialBackoff):
        return _dt.timedelta(seconds=delay.wait(retry))
    return _pick(delay, retry)


def _pick(delays: Sequence[_dt.timedelta], retry: int) -> _dt.timedelta:
    return delays[min(max(retry, 1), len(delays)) - 1]


__all__ = [
    "ExponentialBackoff",
    "RetryDelay",
    "RetryDelayOption",
    "as_retry_delay",
    "exponential_backoff",
    "retry_wait",
]
