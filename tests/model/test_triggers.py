"""Every row of the trigger table (docs/notices/0002-skip-as-finished.md), checked against
random upstream states."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater import signals, triggers
from headwater.engine.runner import TaskRunner, Upstream
from headwater.model import states as S
from headwater.model.task import task

FINISHED = [S.Success, S.Cached, S.Failed, S.TriggerFailed, S.TimedOut, S.Crashed, S.Skipped]
upstream_lists = st.lists(st.sampled_from(FINISHED), min_size=1, max_size=6)


def table(
    trigger: str, ups: list[type[S.State]], at_least: int | None = None, at_most: int | None = None
) -> str:
    """The table of notice 0002, written out independently of the implementation."""
    successes = sum(issubclass(c, S.Success) for c in ups)
    failures = sum(issubclass(c, S.Failed) for c in ups)
    skips = sum(issubclass(c, S.Skipped) for c in ups)
    n = len(ups)

    def in_range(k: int) -> bool:
        return (at_least is None or k >= at_least) and (at_most is None or k <= at_most)

    rows: dict[str, tuple[bool, bool]] = {
        # trigger: (runs?, a failure makes "not met" TriggerFailed?)
        "all_successful": (successes == n, True),
        "all_finished": (True, False),
        "any_successful": (successes > 0, True),
        "no_failed": (failures == 0, True),
        "not_all_skipped": (failures == 0 and skips < n, True),
        "any_failed": (failures > 0, False),
        "all_failed": (failures == n, False),
        "some_successful": (in_range(successes), True),
        "some_failed": (in_range(failures), False),
    }
    runs, failure_fails = rows[trigger]
    if runs:
        return "run"
    return "TriggerFailed" if failure_fails and failures else "Skipped"


def outcome(trigger: Callable[..., bool], ups: list[type[S.State]]) -> str:
    """Run the trigger step of the task runner and name what happened."""
    runner = TaskRunner(task(lambda: None, trigger=trigger))
    try:
        runner.check_trigger(S.Pending(), [c() for c in ups])
    except signals.ENDRUN as end:
        return type(end.end_state).__name__
    return "run"


SIMPLE = [
    "all_successful",
    "all_finished",
    "any_successful",
    "no_failed",
    "not_all_skipped",
    "any_failed",
    "all_failed",
]


@pytest.mark.parametrize("name", SIMPLE)
@given(ups=upstream_lists)
def test_simple_triggers_follow_the_table(name: str, ups: list[type[S.State]]) -> None:
    assert outcome(getattr(triggers, name), ups) == table(name, ups)


@given(
    ups=upstream_lists,
    at_least=st.none() | st.integers(0, 4),
    at_most=st.none() | st.integers(0, 6),
)
def test_some_successful_and_some_failed_follow_the_table(ups, at_least, at_most) -> None:  # type: ignore[no-untyped-def]
    if (
        at_least is None
        and at_most is None
        or (at_least is not None and at_most is not None and at_least > at_most)
    ):
        return
    for name in ("some_successful", "some_failed"):
        trig = getattr(triggers, name)(at_least=at_least, at_most=at_most)
        assert outcome(trig, ups) == table(name, ups, at_least, at_most), name


def test_always_run_is_all_finished() -> None:
    assert triggers.always_run is triggers.all_finished


def test_skip_reasons() -> None:
    def reason(trigger: Callable[..., bool], ups: list[S.State]) -> str:
        try:
            TaskRunner(task(lambda: None, trigger=trigger)).check_trigger(S.Pending(), ups)
        except signals.ENDRUN as end:
            return end.end_state.reason  # type: ignore[attr-defined,no-any-return]
        raise AssertionError("the trigger was met")

    assert reason(triggers.all_successful, [S.Skipped()]) == "upstream"
    assert reason(triggers.any_failed, [S.Success()]) == "trigger"


def test_messages_say_what_the_trigger_wanted() -> None:
    runner = TaskRunner(task(lambda: None))
    with pytest.raises(signals.ENDRUN) as info:
        runner.check_trigger(S.Pending(), [S.Success(), S.Failed()])
    assert (
        info.value.end_state.message
        == "Trigger was all_successful but 1 of 2 upstream tasks failed."
    )


def test_a_task_without_upstream_runs_whatever_its_trigger_except_manual_only() -> None:
    for trig in (triggers.all_failed, triggers.any_successful, triggers.any_failed):
        assert outcome(trig, []) == "run"
    assert outcome(triggers.manual_only, []) == "Paused"
    assert outcome(triggers.manual_only, [S.Success]) == "Paused"


def test_custom_trigger_false_follows_the_generic_rule() -> None:
    def never(upstream_states: object) -> bool:
        return False

    assert outcome(never, [S.Success, S.Failed]) == "TriggerFailed"
    assert outcome(never, [S.Success, S.Skipped]) == "Skipped"


def test_custom_trigger_that_raises_is_trigger_failed_naming_it() -> None:
    def broken(upstream_states: object) -> bool:
        raise KeyError("oops")

    runner = TaskRunner(task(lambda: None, trigger=broken, name="t"))
    with pytest.raises(signals.ENDRUN) as info:
        runner.check_trigger(S.Pending(), [S.Success()])
    assert isinstance(info.value.end_state, S.TriggerFailed)
    assert "Trigger 'broken' of task 't' raised KeyError" in (info.value.end_state.message or "")


def test_custom_trigger_sees_every_state_of_a_reduce() -> None:
    seen: list[int] = []

    def count(upstream_states: list[S.State]) -> bool:
        seen.append(len(upstream_states))
        return True

    runner = TaskRunner(task(lambda x: x, trigger=count))
    children = (S.Success(result=1), S.Success(result=2), S.Skipped())
    state = runner.run([Upstream("x", children)])
    assert seen == [3] and state.result == [1, 2, None]


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (triggers.some_successful, {}, "needs at_least, at_most or both"),
        (triggers.some_failed, {"at_least": -1}, "at_least must be a whole number >= 0"),
        (
            triggers.some_failed,
            {"at_least": 3, "at_most": 1},
            r"at_least \(3\) is greater than at_most \(1\)",
        ),
    ],
)
def test_range_triggers_refuse_bad_ranges(factory, kwargs, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)
