"""Caches reuse a value only for the task and inputs it was computed for (issue 12.1), keep
several candidates per task as Prefect 1 does (issue 13.14), and never store a secret
(issue 12.7). Real flows, real Results on disk, every executor where it concerns running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.results import LocalResult
from tests.flows import trust as T


def run(flow: Any, executor: object, **parameters: Any) -> Any:
    state = flow.run(parameters=parameters, executor=executor)
    assert state.is_successful(), state.result
    (only,) = [s for t, s in state.result.items() if t.name not in flow_parameters(flow)]
    return only


def flow_parameters(flow: Any) -> set[str]:
    return {p.name for p in flow.parameters()}


def test_two_calls_of_one_cached_task_with_different_arguments_do_not_share(
    tmp_path: Path, executor: object
) -> None:
    calls = tmp_path / "calls.txt"
    flow = T.two_calls_flow(LocalResult(dir=str(tmp_path / "r")))
    state = flow.run(parameters={"calls": str(calls)}, executor=executor)
    first, second = flow.get_tasks("cached_double")
    assert state.result[first].result == 2 and state.result[second].result == 4
    assert not state.result[second].is_cached()
    assert len(T.calls_in(calls)) == 2
    again = flow.run(parameters={"calls": str(calls)}, executor=executor)
    assert [again.result[t].result for t in (first, second)] == [2, 4]
    assert all(again.result[t].is_cached() for t in (first, second))


def test_only_an_explicit_cache_key_shares_between_flows_and_tasks(tmp_path: Path) -> None:
    from headwater import Flow, Parameter

    calls, result = tmp_path / "calls.txt", LocalResult(dir=str(tmp_path / "r"))
    one = run(T.named_flow("a/b", "c", 1, result), None, calls=str(calls))
    other = run(T.named_flow("a", "b/c", 2, result), None, calls=str(calls))
    assert (one.result, other.result) == (2, 4) and not other.is_cached()
    shared = []
    for name in ("first-flow", "second-flow"):
        with Flow(name, result=result) as flow:
            T.shared_double(3, Parameter("calls"))
        shared.append(run(flow, None, calls=str(calls)))
    assert [s.result for s in shared] == [6, 6] and shared[1].is_cached()
    assert len(T.calls_in(calls)) == 3


def test_n_2_then_3_then_2_hits_the_cache_the_third_time(
    tmp_path: Path, executor: object
) -> None:
    for which in (T.cached_double, T.cached_by_parameters, T.shared_double):
        calls = tmp_path / f"calls-{which.name}.txt"
        flow = T.parameter_flow(LocalResult(dir=str(tmp_path / "r")), which)
        first = run(flow, executor, n=2, calls=str(calls))
        second = run(flow, executor, n=3, calls=str(calls))
        third = run(flow, executor, n=2, calls=str(calls))
        factor = 10 if which is T.cached_by_parameters else 2
        assert [s.result for s in (first, second, third)] == [2 * factor, 3 * factor, 2 * factor]
        assert [s.is_cached() for s in (first, second, third)] == [False, False, True], which
        assert len(T.calls_in(calls)) == 2, which


def test_partial_inputs_only_compares_the_named_inputs_over_every_candidate(
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls.txt"
    flow = T.partial_flow(LocalResult(dir=str(tmp_path / "r")))
    got = [
        run(flow, None, x=x, y=y, calls=str(calls))
        for x, y in [(1, 1), (1, 2), (2, 1), (1, 3), (2, 9)]
    ]
    # (1, 2) and (1, 3) reuse (1, 1)'s value, (2, 9) reuses (2, 1)'s: y is not compared
    assert [s.result for s in got] == [101, 101, 201, 101, 201]
    assert [s.is_cached() for s in got] == [False, True, False, True, True]
    assert len(T.calls_in(calls)) == 2


def test_a_secret_parameter_is_never_written_into_a_cache_record(
    tmp_path: Path, executor: object
) -> None:
    secret = "hunter2-Zq8-do-not-store"
    calls, root = tmp_path / "calls.txt", tmp_path / "r"
    flow = T.secret_flow(LocalResult(dir=str(root)))
    for x in (1, 1, 2):
        state = flow.run(parameters={"token": secret, "x": x, "calls": str(calls)}, executor=executor)
        assert state.is_successful(), state.result
    records = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".cache") for p in records)
    for path in records:
        data = path.read_bytes()
        for form in (secret.encode(), secret.encode("utf-16-le"), secret[::-1].encode()):
            assert form not in data, path
    assert len(T.calls_in(calls)) == 2
