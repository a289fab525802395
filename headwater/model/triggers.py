"""Triggers: pure functions of the upstream states that decide whether a task runs.

Design note
-----------
A trigger takes the finished states of a task's upstream tasks (downstream of a mapped task,
one state per child) and returns True when the task should run. When it should not, a
built-in trigger raises :class:`~headwater.model.signals.TRIGGERFAIL` if an upstream failure is
the reason, and :class:`~headwater.model.signals.SKIP` otherwise, exactly as the table in
docs/notices/0002-skip-as-finished.md says. "Failed" includes every Failed
subclass, TriggerFailed too; Skipped is never a success (PIN-15).

A custom trigger is any callable taking the upstream states. If it returns False the runner
applies the same rule: TriggerFailed when some upstream failed, Skipped otherwise.

The runner never calls a trigger for a task without upstream states (such a task runs), except
for :func:`manual_only`, which always pauses.

>>> from headwater.model.states import Success, Skipped, Failed
>>> no_failed([Success(), Skipped()])
True
>>> any_failed([Failed(), Success()])
True
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from headwater.model.signals import PAUSE, SKIP, TRIGGERFAIL
from headwater.model.states import Failed, State, Success

Trigger = Callable[[Collection[State]], bool]
"""The type of a trigger."""


def _counts(upstream_states: Collection[State]) -> tuple[int, int, int]:
    classes = getattr(upstream_states, "classes", None)
    if classes is not None:  # a compact view of a batched map's children: no States built
        kinds = classes()
        successes = sum(n for k, n in kinds.items() if issubclass(k, Success))
        failures = sum(n for k, n in kinds.items() if issubclass(k, Failed))
        return successes, failures, sum(kinds.values())
    successes = sum(1 for s in upstream_states if s.is_successful())
    failures = sum(1 for s in upstream_states if s.is_failed())
    return successes, failures, len(upstream_states)


def all_successful(upstream_states: Collection[State]) -> bool:
    """Run when every upstream task succeeded (the default trigger).

    >>> from headwater.model.states import Success
    >>> all_successful([Success(), Success()])
    True
    """
    successes, failures, n = _counts(upstream_states)
    if successes == n:
        return True
    if failures:
        raise TRIGGERFAIL(
            f"Trigger was all_successful but {failures} of {n} upstream tasks failed."
        )
    raise SKIP(
        f"Trigger was all_successful but {n - successes} of {n} upstream tasks skipped.",
        reason="upstream",
    )


def all_finished(upstream_states: Collection[State]) -> bool:
    """Run always, once every upstream task finished, whatever its state.

    >>> from headwater.model.states import Failed
    >>> all_finished([Failed()])
    True
    """
    return True


always_run = all_finished
"""Another name for :func:`all_finished`."""


def any_successful(upstream_states: Collection[State]) -> bool:
    """Run when at least one upstream task succeeded.

    >>> from headwater.model.states import Success, Skipped
    >>> any_successful([Skipped(), Success()])
    True
    """
    successes, failures, n = _counts(upstream_states)
    if successes:
        return True
    if failures:
        raise TRIGGERFAIL(
            f"Trigger was any_successful but no upstream task succeeded and {failures} failed."
        )
    raise SKIP("Trigger was any_successful but every upstream task skipped.", reason="upstream")


def no_failed(upstream_states: Collection[State]) -> bool:
    """Run when no upstream task failed; skips are fine (PIN-15: joins branches).

    >>> from headwater.model.states import Skipped
    >>> no_failed([Skipped(), Skipped()])
    True
    """
    _, failures, n = _counts(upstream_states)
    if failures:
        raise TRIGGERFAIL(f"Trigger was no_failed but {failures} of {n} upstream tasks failed.")
    return True


def not_all_skipped(upstream_states: Collection[State]) -> bool:
    """Run when some upstream task did not skip and none failed.

    >>> from headwater.model.states import Skipped, Success
    >>> not_all_skipped([Skipped(), Success()])
    True
    """
    _, failures, n = _counts(upstream_states)
    if failures:
        raise TRIGGERFAIL(
            f"Trigger was not_all_skipped but {failures} of {n} upstream tasks failed."
        )
    if all(s.is_skipped() for s in upstream_states):
        raise SKIP(
            "Trigger was not_all_skipped but every upstream task skipped.", reason="upstream"
        )
    return True


def any_failed(upstream_states: Collection[State]) -> bool:
    """Run when at least one upstream task failed (for example, a failure handler).

    When nothing failed the task skips: it is not needed, and the flow does not fail for it.

    >>> from headwater.model.states import Failed, Success
    >>> any_failed([Success(), Failed()])
    True
    """
    _, failures, _ = _counts(upstream_states)
    if failures:
        return True
    raise SKIP("Trigger was any_failed but no upstream task failed.", reason="trigger")


def all_failed(upstream_states: Collection[State]) -> bool:
    """Run when every upstream task failed.

    >>> from headwater.model.states import Failed, TriggerFailed
    >>> all_failed([Failed(), TriggerFailed()])
    True
    """
    _, failures, n = _counts(upstream_states)
    if failures == n:
        return True
    raise SKIP(
        f"Trigger was all_failed but {n - failures} of {n} upstream tasks did not fail.",
        reason="trigger",
    )


def _check_range(name: str, at_least: int | None, at_most: int | None) -> None:
    if at_least is None and at_most is None:
        raise ValueError(f"{name} needs at_least, at_most or both, e.g. {name}(at_least=1)")
    for label, value in (("at_least", at_least), ("at_most", at_most)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"{name}: {label} must be a whole number >= 0, got {value!r}")
    if at_least is not None and at_most is not None and at_least > at_most:
        raise ValueError(f"{name}: at_least ({at_least}) is greater than at_most ({at_most})")


def _in_range(count: int, at_least: int | None, at_most: int | None) -> bool:
    return (at_least is None or count >= at_least) and (at_most is None or count <= at_most)


def _describe(at_least: int | None, at_most: int | None) -> str:
    parts = [
        f"at_least={at_least}" if at_least is not None else "",
        f"at_most={at_most}" if at_most is not None else "",
    ]
    return ", ".join(p for p in parts if p)


def some_successful(at_least: int | None = None, at_most: int | None = None) -> Trigger:
    """Return a trigger that runs when the number of upstream successes is in a range.

    Args:
        at_least: the fewest successes allowed (inclusive).
        at_most: the most successes allowed (inclusive).

    >>> from headwater.model.states import Success, Skipped
    >>> some_successful(at_least=1, at_most=2)([Success(), Skipped()])
    True
    """
    _check_range("some_successful", at_least, at_most)
    wanted = _describe(at_least, at_most)

    def trigger(upstream_states: Collection[State]) -> bool:
        successes, failures, n = _counts(upstream_states)
        if _in_range(successes, at_least, at_most):
            return True
        message = (
            f"Trigger was some_successful({wanted}) but {successes} of {n} upstream tasks succeeded"
        )
        if failures:
            raise TRIGGERFAIL(f"{message} and {failures} failed.")
        raise SKIP(f"{message}.", reason="trigger")

    trigger.__name__ = trigger.__qualname__ = f"some_successful({wanted})"
    return trigger


def some_failed(at_least: int | None = None, at_most: int | None = None) -> Trigger:
    """Return a trigger that runs when the number of upstream failures is in a range.

    Args:
        at_least: the fewest failures allowed (inclusive).
        at_most: the most failures allowed (inclusive).

    >>> from headwater.model.states import Failed, Success
    >>> some_failed(at_least=1)([Failed(), Success()])
    True
    """
    _check_range("some_failed", at_least, at_most)
    wanted = _describe(at_least, at_most)

    def trigger(upstream_states: Collection[State]) -> bool:
        _, failures, n = _counts(upstream_states)
        if _in_range(failures, at_least, at_most):
            return True
        raise SKIP(
            f"Trigger was some_failed({wanted}) but {failures} of {n} upstream tasks failed.",
            reason="trigger",
        )

    trigger.__name__ = trigger.__qualname__ = f"some_failed({wanted})"
    return trigger


def manual_only(upstream_states: Collection[State]) -> bool:
    """Never run on its own: the task pauses until resumed with a Resume state.

    >>> manual_only([])
    Traceback (most recent call last):
    ...
    headwater.model.signals.PAUSE: Trigger was manual_only: resume with flow.run(task_states={task: Resume()}).
    """
    raise PAUSE("Trigger was manual_only: resume with flow.run(task_states={task: Resume()}).")


__all__ = [
    "Trigger",
    "all_failed",
    "all_finished",
    "all_successful",
    "always_run",
    "any_failed",
    "any_successful",
    "manual_only",
    "no_failed",
    "not_all_skipped",
    "some_failed",
    "some_successful",
]
