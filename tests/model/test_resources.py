"""resource_manager (issue 13.9): setup before the tasks of its block, cleanup after them even
when they fail, on every executor; Prefect 1's wiring and flow state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater import (
    Flow,
    FlowDefinitionError,
    Parameter,
    apply_map,
    case,
    resource_manager,
    unmapped,
)
from headwater.model import states as S
from headwater.model.resources import ResourceCleanup, ResourceInit
from tests.flows import porting as P


def by_name(state: S.State) -> dict[str, S.State]:
    return {t.name: s for t, s in state.result.items()}


def test_setup_runs_before_the_block_and_cleanup_after_it(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("resource") as f:
        path = Parameter("path")
        with P.Journal(path) as resource:
            a = P.use(path, resource, "a")
            b = P.use(path, resource, "b")
        later = P.after(path, a, "later")  # made after the block: not wired to cleanup
    state = f.run(parameters={"path": log}, executor=executor)
    assert state.is_successful(), state
    states = by_name(state)
    assert states["Journal.cleanup"].is_successful()
    assert state.result[b].result == "b:r-resource"
    found = P.lines(log)
    assert found[0] == "setup r"
    block = [line for line in found if line.startswith("use")]
    assert sorted(block) == ["use a r-resource", "use b r-resource"]
    assert found.index("cleanup r-resource") > max(found.index(line) for line in block)
    assert "after later" in found and state.result[later].is_successful()


def test_cleanup_runs_when_a_block_task_fails(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("failing-block") as f:
        with P.Journal(log) as resource:
            ok = P.use(log, resource, "ok")
            bad = P.use_and_fail(log, resource)
    state = f.run(executor=executor)
    states = by_name(state)
    assert isinstance(state.result[bad], S.Failed)
    assert state.result[ok].is_successful()
    assert states["Journal.cleanup"].is_successful()
    # the failed task's only downstream task is the cleanup: it still decides the flow
    assert state.is_failed() and "use_and_fail" in (state.message or "")
    found = P.lines(log)
    assert found[-1] == "cleanup r-resource"
    assert {"use ok r-resource", "use fail"} <= set(found[1:-1])


def test_a_failed_setup_fails_the_block_and_skips_cleanup(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("broken") as f:
        with P.BrokenSetup(log) as resource:
            first = P.use(log, resource, "first")
            second = P.after(log, first, "second")
    state = f.run(executor=executor)
    states = by_name(state)
    assert isinstance(states["broken.setup"], S.Failed)
    assert "cannot connect" in (states["broken.setup"].message or "")
    assert isinstance(state.result[first], S.TriggerFailed)
    assert isinstance(state.result[second], S.TriggerFailed)
    cleanup = states["broken.cleanup"]
    assert cleanup.is_skipped() and "setup ended Failed" in (cleanup.message or "")
    assert state.is_failed()
    assert P.lines(log) == []  # nothing ran in the block, nothing was cleaned up


def test_a_resource_without_setup_cleans_up_none(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("no-setup") as f:
        with P.NoSetup(log) as resource:
            used = P.use(log, "plain", "x")
    assert resource is None
    state = f.run(executor=executor)
    assert state.is_successful(), state
    assert state.result[used].result == "x:plain"
    assert P.lines(log) == ["use x plain", "cleanup None"]


def test_cleanup_waits_for_every_child_of_a_mapped_block_task(
    executor: Any, tmp_path: Path
) -> None:
    log = str(tmp_path / "log")
    with Flow("mapped-block") as f:
        with P.Journal(log, "m") as resource:
            P.use.map(unmapped(log), unmapped(resource), ["a", "b", "c"])
    state = f.run(executor=executor)
    assert state.is_successful(), state
    found = P.lines(log)
    assert found[0] == "setup m" and found[-1] == "cleanup m-resource"
    assert sorted(found[1:-1]) == ["use a m-resource", "use b m-resource", "use c m-resource"]


def test_nested_resources_clean_up_inside_out(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("nested") as f:
        with P.Journal(log, "outer") as outer:
            with P.Journal(log, "inner") as inner:
                P.use(log, inner, "in")
            P.use(log, outer, "out")
    state = f.run(executor=executor)
    assert state.is_successful(), state
    found = P.lines(log)
    assert found[0] == "setup outer" and found[-1] == "cleanup outer-resource"
    for before, after in [
        ("setup inner", "use in inner-resource"),
        ("use in inner-resource", "cleanup inner-resource"),
    ]:
        assert found.index(before) < found.index(after)


def test_a_resource_per_element_of_apply_map(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("per-element") as f:
        out = apply_map(P.journal_per_element, ["a", "b", "c"], unmapped(log))
    state = f.run(executor=executor)
    assert state.is_successful(), state
    assert state.result[out].result == ["u:a-resource", "u:b-resource", "u:c-resource"]
    found = P.lines(log)
    for tag in "abc":
        steps = [f"setup {tag}", f"use u {tag}-resource", f"cleanup {tag}-resource"]
        assert [found.index(step) for step in steps] == sorted(found.index(s) for s in steps)


def test_a_resource_in_a_case_not_taken_is_skipped_whole(executor: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with Flow("in-case") as f:
        go = Parameter("go", default=False)
        with case(go, True), P.Journal(log) as resource:
            P.use(log, resource, "a")
    state = f.run(executor=executor)
    assert state.is_successful()
    assert all(s.is_skipped() for t, s in state.result.items() if t.name != "go")
    assert P.lines(log) == []


def test_the_wiring_and_the_reference_tasks() -> None:
    with Flow("wiring") as f:
        n = Parameter("n", default=1)
        with P.Journal("unused", tag=n) as resource:
            first = P.use("unused", resource, "first")
            leaf = P.after("unused", first, "leaf")
            free = P.after("unused", 1, "free")  # nothing from the block: waits for setup
            inner_parameter = Parameter("inner", default=0)
        outside = P.after("unused", leaf, "outside")
    init = next(t for t in f.tasks if isinstance(t, ResourceInit))
    setup = next(t for t in f.tasks if t.name == "Journal.setup")
    cleanup = next(t for t in f.tasks if isinstance(t, ResourceCleanup))
    assert f.upstream_tasks(init) == [n]
    assert setup in f.upstream_tasks(free) and setup in f.upstream_tasks(first)
    assert setup not in f.upstream_tasks(leaf)  # it has an upstream task in the block
    assert set(f.upstream_tasks(cleanup)) == {init, setup, leaf, free}
    assert f.upstream_tasks(inner_parameter) == []  # parameters are never wired
    assert cleanup not in f.downstream_tasks(outside)
    # the block's leaves decide the flow's state though the cleanup follows them; the
    # init and cleanup tasks never do
    assert set(f.reference_tasks()) == {free, outside, inner_parameter}


def test_mistakes_are_refused() -> None:
    class NoCleanup:
        def setup(self) -> None: ...

    with pytest.raises(TypeError, match="cleanup"):
        resource_manager(NoCleanup)
    with pytest.raises(FlowDefinitionError, match="only be used while defining a flow"):
        P.Journal("x")
    with Flow("twice"):
        block = P.Journal("x")
        with block, pytest.raises(FlowDefinitionError, match="already open"):
            block.__enter__()
