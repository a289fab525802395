"""States: predicates, immutability, pickling, equality and hashing."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.model import states as S
from headwater.results import MemoryResult

PREDICATES = {
    "is_pending": S.Pending,
    "is_scheduled": S.Scheduled,
    "is_retrying": S.Retrying,
    "is_paused": S.Paused,
    "is_resume": S.Resume,
    "is_running": S.Running,
    "is_looped": S.Looped,
    "is_finished": S.Finished,
    "is_successful": S.Success,
    "is_cached": S.Cached,
    "is_mapped": S.Mapped,
    "is_failed": S.Failed,
    "is_timed_out": S.TimedOut,
    "is_trigger_failed": S.TriggerFailed,
    "is_crashed": S.Crashed,
    "is_skipped": S.Skipped,
    "is_cancelled": S.Cancelled,
}


@pytest.mark.parametrize("cls", S.ALL_STATES, ids=lambda c: c.__name__)
def test_predicates_follow_the_state_tree(cls: type[S.State]) -> None:
    state = cls()
    for predicate, owner in PREDICATES.items():
        assert getattr(state, predicate)() == issubclass(cls, owner), (cls, predicate)


def test_skipped_is_finished_but_neither_success_nor_failure() -> None:
    s = S.Skipped("nope", reason="condition")
    assert s.is_finished() and not s.is_successful() and not s.is_failed()
    assert s.result is None and s.reason == "condition"


def test_skipped_refuses_unknown_reasons() -> None:
    with pytest.raises(ValueError, match="reason must be one of"):
        S.Skipped(reason="bored")


def test_states_are_immutable() -> None:
    s = S.Success("ok", result=1)
    with pytest.raises(AttributeError, match=r"immutable; use state.with_\(message=...\)"):
        s.message = "changed"  # type: ignore[misc]
    assert s.with_(message="changed").message == "changed" and s.message == "ok"


def test_result_is_the_value_and_the_result_object_is_kept() -> None:
    s = S.Success(result=[1, 2])
    assert s.result == [1, 2] and isinstance(s.result_object, MemoryResult)
    r = MemoryResult(value=5)
    assert S.Success(result=r).result_object is r and S.Success(result=r).result == 5


def test_failed_carries_exception_and_traceback() -> None:
    exc = ValueError("bad")
    s = S.Failed("x", exception=exc, traceback="Traceback ...")
    assert s.exception is exc and s.traceback == "Traceback ..."


def test_subclass_fields() -> None:
    import datetime as dt

    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert S.Retrying(start_time=t, run_count=2).start_time == t
    assert S.Looped(loop_count=3).loop_count == 3
    m = S.Mapped(map_states=[S.Success(result=1), S.Failed()])
    assert m.result == [1, None] and m.counts() == {"Success": 1, "Failed": 1}


@pytest.mark.parametrize("cls", S.ALL_STATES, ids=lambda c: c.__name__)
def test_states_pickle(cls: type[S.State]) -> None:
    s = cls("message", result={"a": 1}, run_count=2, map_index=4)
    back = pickle.loads(pickle.dumps(s))
    assert type(back) is cls and back == s and back.run_count == 2 and back.timestamp == s.timestamp


values = st.one_of(
    st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)
)
# Mapped derives its result from its children, so it is left out here.
state_classes = st.sampled_from([c for c in S.ALL_STATES if c not in (S.Skipped, S.Mapped)])


@given(state_classes, state_classes, st.text(max_size=3), st.text(max_size=3), values, values)
def test_equal_states_hash_alike(c1, c2, m1, m2, v1, v2) -> None:  # type: ignore[no-untyped-def]
    a, b = c1(m1, v1), c2(m2, v2)
    assert (a == b) == (c1 is c2 and m1 == m2 and v1 == v2)
    if a == b:
        assert hash(a) == hash(b)
    assert a == c1(m1, v1) and hash(a) == hash(c1(m1, v1))


def test_repr_names_class_index_and_message() -> None:
    assert repr(S.Failed("bad", map_index=2)) == "<Failed[2]: 'bad'>"
