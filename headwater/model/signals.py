"""Signals: raised inside a task (or a trigger) to choose the state it ends in.

Design note
-----------
Signals derive from ``BaseException``, not ``Exception``, so a user's ``except Exception``
cannot swallow them. Each signal names the State it turns into (``signal.state``) and carries
the keyword arguments for it, so the runner turns any signal into its state in one place
(:meth:`HeadwaterSignal.to_state`)::

    HeadwaterSignal (BaseException)
    ├── SUCCESS          -> Success
    ├── FAIL             -> Failed
    │   ├── TRIGGERFAIL  -> TriggerFailed
    │   └── VALIDATIONFAIL -> ValidationFailed
    ├── SKIP             -> Skipped (reason "task" unless given)
    ├── RETRY            -> Retrying (counts against max_retries)
    ├── LOOP             -> Looped (the task runs again with the loop result)
    ├── PAUSE            -> Paused
    └── ENDRUN           -> the State it carries
"""

from __future__ import annotations

from typing import Any

from headwater.model import states


class HeadwaterSignal(BaseException):
    """Base of every signal.

    Args:
        message: the message of the resulting state.
        result: the result of the resulting state.
        **state_kwargs: other fields of the resulting state.
    """

    state: type[states.State] = states.State

    def __init__(self, message: str | None = None, *, result: Any = None, **state_kwargs: Any):
        super().__init__(message)
        self.message = message
        self.result = result
        self.state_kwargs = state_kwargs

    def to_state(self, **fields: Any) -> states.State:
        """Return the state this signal stands for, with extra ``fields`` added."""
        return self.state(self.message, self.result, **{**fields, **self.state_kwargs})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_signal, (type(self), self.message, self.result, self.state_kwargs))


def _rebuild_signal(
    cls: type[HeadwaterSignal], message: str | None, result: Any, kwargs: dict[str, Any]
) -> HeadwaterSignal:
    return cls(message, result=result, **kwargs)


class SUCCESS(HeadwaterSignal):
    """End the task as a Success, with ``result``."""

    state = states.Success


class FAIL(HeadwaterSignal):
    """End the task as Failed."""

    state = states.Failed


class TRIGGERFAIL(FAIL):
    """End the task as TriggerFailed (raised by triggers when upstream failures break them)."""

    state = states.TriggerFailed


class VALIDATIONFAIL(FAIL):
    """End the task as ValidationFailed."""

    state = states.ValidationFailed


class SKIP(HeadwaterSignal):
    """End the task as Skipped; ``reason`` says why (``"task"`` by default)."""

    state = states.Skipped


class RETRY(HeadwaterSignal):
    """Ask for another try; it counts against the task's ``max_retries``."""

    state = states.Retrying


class LOOP(HeadwaterSignal):
    """Run the task again; ``result`` is passed on as ``context["task_loop_result"]``."""

    state = states.Looped


class PAUSE(HeadwaterSignal):
    """Pause the task until it is resumed with ``flow.run(task_states={task: Resume()})``."""

    state = states.Paused


class ENDRUN(HeadwaterSignal):
    """End the task run with exactly the given ``state``.

    Args:
        state: the state to end with.
    """

    def __init__(self, state: states.State) -> None:
        super().__init__(state.message)
        self.end_state = state

    def to_state(self, **fields: Any) -> states.State:
        """Return the carried state."""
        return self.end_state

    def __reduce__(self) -> tuple[Any, ...]:
        return (ENDRUN, (self.end_state,))


__all__ = [
    "ENDRUN",
    "FAIL",
    "LOOP",
    "PAUSE",
    "RETRY",
    "SKIP",
    "SUCCESS",
    "TRIGGERFAIL",
    "VALIDATIONFAIL",
    "HeadwaterSignal",
]
