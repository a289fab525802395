"""Conditional control flow (PIN-15, issue 3): case, switch, ifelse, merge, filter_results,
conditional, any_condition, all_conditions, and conditions back to back.

Every test that runs a flow takes the ``executor`` fixture, so it runs on every executor kind.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from headwater import (
    Flow,
    FlowDefinitionError,
    Parameter,
    Task,
    all_conditions,
    any_condition,
    case,
    conditional,
    filter_results,
    flow,
    ifelse,
    merge,
    switch,
)
from headwater.model import states as S
from tests.flows import control_flows as C


def run(f: Flow, executor: Any, **parameters: Any) -> Mapping[Task, S.State]:
    return f.run(parameters=parameters, executor=executor).result


def skipped(state: S.State, reason: str) -> bool:
    return type(state) is S.Skipped and state.reason == reason


# -- case -----------------------------------------------------------------------------------


def test_tasks_inside_a_case_run_only_when_the_condition_matches(executor: Any) -> None:
    with Flow("case") as f:
        cond = C.give("a")
        with case(cond, "a"):
            yes = C.label("yes")
            yes_after = C.inc(C.give(1))
        with case(cond, "b"):
            no = C.label("no")
            no_after = C.inc(C.give(1))
            no_always = C.always()  # the condition is checked before any trigger
    states = run(f, executor)
    assert states[yes].result == "yes" and states[yes_after].result == 2
    for t in (no, no_after, no_always):
        assert skipped(states[t], "condition"), states[t]
    assert states[no].message == "Condition \"case(give == 'b')\" was 'a', not 'b'."
    assert states[no].result is None


def test_case_compares_with_equality(executor: Any) -> None:
    with Flow("equality") as f:
        cond = C.give([1, 2])
        with case(cond, [1, 2]):
            equal_list = C.label("list")
        with case(C.give(0), False):
            zero_is_false = C.label("0 == False")
        with case(C.give(None), None):
            none = C.label("None")
        with case(cond, (1, 2)):
            tuple_is_not_list = C.label("tuple")
    states = run(f, executor)
    assert states[equal_list].result == "list"
    assert states[zero_is_false].result == "0 == False"
    assert states[none].result == "None"
    assert skipped(states[tuple_is_not_list], "condition")


def test_cases_nest(executor: Any) -> None:
    with Flow("nested") as f:
        outer = C.give("x")
        inner = C.give(2)
        with case(outer, "x"):
            a = C.label("outer")
            with case(inner, 2):
                b = C.label("both")
                with case(inner, 3):
                    c = C.label("never")
            with case(inner, 1):
                d = C.label("outer only")
        with case(outer, "y"):
            with case(inner, 2):
                e = C.label("inner only")
                inside = C.inc(C.give(1))
    states = run(f, executor)
    assert states[a].result == "outer" and states[b].result == "both"
    assert skipped(states[c], "condition") and skipped(states[d], "condition")
    # an outer branch not taken skips everything inside it, even a matching inner case
    assert skipped(states[e], "condition") and skipped(states[inside], "condition")


def test_a_case_inside_a_case_on_a_condition_computed_inside(executor: Any) -> None:
    with Flow("inner-condition") as f:
        route = Parameter("route", default="go")
        with case(route, "go"):
            level = C.inc(C.give(1))  # 2, computed only on this branch
            with case(level, 2):
                deep = C.label("deep")
    states = run(f, executor, route="go")
    assert states[deep].result == "deep"
    states = run(f, executor, route="stop")
    assert skipped(states[level], "condition") and skipped(states[deep], "condition")


def test_case_after_case(executor: Any) -> None:
    with Flow("case-after-case") as f:
        cond = Parameter("n", default=1)
        with case(cond, 1):
            first = C.give(10)
        with case(cond, 2):
            second = C.give(20)
        after = merge(first, second)
        with case(cond, 1):
            third = C.inc(after)
        with case(cond, 2):
            fourth = C.inc(after)
        last = merge(third, fourth)
    assert run(f, executor, n=1)[last].result == 11
    assert run(f, executor, n=2)[last].result == 21
    states = run(f, executor, n=3)
    assert skipped(states[after], "upstream") and skipped(states[last], "upstream")
    assert skipped(states[third], "condition")


def test_case_works_in_a_flow_function(executor: Any) -> None:
    @flow
    def pick(route: str = "a") -> Any:
        with case(route, "a"):
            a = C.label("A")
        with case(route, "b"):
            b = C.label("B")
        return merge(a, b)

    assert pick(route="a", executor=executor) == "A"
    assert pick(route="b", executor=executor) == "B"


# -- back to back (the problem PIN-15 was written to solve) -------------------------------------


@pytest.mark.parametrize(
    ("route", "first", "second", "taken", "not_taken"),
    [("a", 1, "after one", "one", "two"), ("b", 2, "after two", "two", "one")],
)
def test_a_case_after_a_merge_takes_its_branch(
    executor: Any, route: str, first: int, second: str, taken: str, not_taken: str
) -> None:
    f, t = C.back_to_back_flow()
    flow_state = f.run(parameters={"route": route}, executor=executor)
    states = flow_state.result
    assert states[t["first"]].result == first
    assert states[t[taken]].result == second
    assert skipped(states[t[not_taken]], "condition")
    assert states[t["second"]].result == second
    assert flow_state.is_successful()


def test_a_switch_after_a_merge(executor: Any) -> None:
    with Flow("switch-after-merge") as f:
        route = Parameter("route", default="a")
        with case(route, "a"):
            a = C.give("x")
        with case(route, "b"):
            b = C.give("y")
        picked = merge(a, b)
        branches = {v: C.label(f"{v}!", task_args={"name": f"on_{v}"}) for v in "xyz"}
        switch(picked, branches)
        final = merge(*branches.values())
    assert run(f, executor, route="a")[final].result == "x!"
    states = run(f, executor, route="b")
    assert states[final].result == "y!"
    assert skipped(states[branches["x"]], "condition")
    assert skipped(states[branches["z"]], "condition")


def test_an_ifelse_after_an_ifelse(executor: Any) -> None:
    with Flow("ifelse-after-ifelse") as f:
        flag = Parameter("flag", default=True)
        yes, no = C.give(0), C.give(5)
        ifelse(flag, yes, no)
        number = merge(yes, no)
        big, small = C.label("big"), C.label("small")
        ifelse(number, big, small)
        size = merge(big, small)
    assert run(f, executor, flag=True)[size].result == "small"
    assert run(f, executor, flag=False)[size].result == "big"


def test_a_condition_that_was_skipped_skips_the_branch(executor: Any) -> None:
    with Flow("skipped-condition") as f:
        cond = C.skipper()
        with case(cond, 1):
            a = C.label("a")
            a_always = C.always()
        with case(cond, 2):
            b = C.label("b")
        m = merge(a, b)
        joined = C.join(a=a, b=b)
    flow_state = f.run(executor=executor)
    states = flow_state.result
    for t in (a, a_always, b):
        assert skipped(states[t], "upstream"), states[t]
    assert skipped(states[m], "upstream")
    assert states[joined].result == "joined"
    assert flow_state.is_successful()


def test_a_condition_that_failed_gives_the_branch_trigger_failed(executor: Any) -> None:
    with Flow("failed-condition") as f:
        cond = C.boom()
        with case(cond, 1):
            a = C.label("a")
            a_always = C.always()  # even always_run: the branch cannot know it should run
        with case(cond, 2):
            b = C.label("b")
        yes, no = C.label("yes"), C.label("no")
        ifelse(cond, yes, no)
        m = merge(a, b)
        joined = C.join(a=a, b=b)
    flow_state = f.run(executor=executor)
    states = flow_state.result
    for t in (a, a_always, b, yes, no):
        assert type(states[t]) is S.TriggerFailed, states[t]
    assert states[a].message == (
        "The condition of task 'label' failed: Trigger was all_successful but 1 of 1 upstream "
        "tasks failed."
    )
    assert type(states[m]) is S.TriggerFailed and type(states[joined]) is S.TriggerFailed
    assert flow_state.is_failed()


def test_a_condition_skipped_by_an_outer_case_skips_the_inner_branch(executor: Any) -> None:
    with Flow("outer-skips-condition") as f:
        route = Parameter("route", default="no")
        with case(route, "yes"):
            cond = C.give(1)
        with case(cond, 1):
            a = C.label("a")
    states = run(f, executor)
    assert skipped(states[cond], "condition")
    assert skipped(states[a], "upstream")


# -- switch, ifelse -------------------------------------------------------------------------


def test_switch_runs_only_the_matching_branch(executor: Any) -> None:
    with Flow("switch") as f:
        cond = Parameter("n", default=0)
        branches = {i: C.label(f"task_{i}", task_args={"name": f"task_{i}"}) for i in range(12)}
        switch(cond, branches)
        m = merge(*branches.values())
    for n in (0, 2, 10, 11):
        states = run(f, executor, n=n)
        assert states[m].result == f"task_{n}"
        assert [type(states[t]) is S.Success for t in branches.values()] == [
            i == n for i in range(12)
        ]
    states = run(f, executor, n=99)
    assert all(skipped(states[t], "condition") for t in branches.values())
    assert skipped(states[m], "upstream")


def test_ifelse_picks_by_truth(executor: Any) -> None:
    with Flow("ifelse") as f:
        cond = Parameter("cond", default=None)
        yes, no = C.label("yes"), C.label("no")
        ifelse(cond, yes, no)
        m = merge(yes, no)
    for value, expected in [(1, "yes"), ([0], "yes"), (0, "no"), ([], "no"), (None, "no")]:
        states = run(f, executor, cond=value)
        assert states[m].result == expected, value
    states = run(f, executor, cond=0)
    assert skipped(states[yes], "condition")
    assert states[yes].message == "Condition 'if(cond)' was 0, not truthy."


def test_conditional_runs_a_task_when_the_condition_is_truthy(executor: Any) -> None:
    with Flow("conditional") as f:
        flag = Parameter("flag", default=True)
        guarded = C.label("guarded")
        same = conditional(flag, guarded)
        after = C.inc(C.give(1), upstream_tasks=[guarded])
    assert same is guarded
    states = run(f, executor, flag=True)
    assert states[guarded].result == "guarded" and states[after].result == 2
    states = run(f, executor, flag=False)
    assert skipped(states[guarded], "condition") and skipped(states[after], "upstream")


def test_switch_and_ifelse_gate_mapped_branches(executor: Any) -> None:
    with Flow("mapped-switch") as f:
        cond = Parameter("n", default=1)
        one = C.inc.map([1, 2])
        two = C.inc.map([10, 20])
        switch(cond, {1: one, 2: two})
        m = merge(one, two)
    states = run(f, executor, n=2)
    assert states[m].result == [11, 21]
    assert skipped(states[one], "condition"), states[one]  # not Mapped: issue 12, item 3
    assert type(states[two]) is S.Mapped


def test_a_map_in_a_branch_not_taken_is_skipped_like_the_rest_of_the_branch(
    executor: Any,
) -> None:
    f, t = C.skipped_maps_flow()
    flow_state = f.run(executor=executor)
    states = flow_state.result
    for name in ("plain", "batched", "empty"):
        assert skipped(states[t[name]], "condition"), (name, states[t[name]])
        assert not states[t[name]].is_successful()
    message = states[t["plain"]].message
    assert message.startswith("Skipped all 3 children (condition): Condition "), message
    assert message.endswith("was 'b', not 'a'."), message
    for name in ("after", "reduced", "after_self_skipped"):
        assert skipped(states[t[name]], "upstream"), (name, states[t[name]])
    # every child raised SKIP itself: skipped too (nothing succeeded), for that reason
    assert skipped(states[t["self_skipped"]], "task")
    assert states[t["self_skipped"]].message == "Skipped all 2 children (task): not today"
    # some children skipped, some did not: the map is Mapped
    assert type(states[t["mixed"]]) is S.Mapped and states[t["mixed"]].result == [0, None, 2]
    assert flow_state.is_successful()
    # the branch taken: Mapped, and an empty map is Mapped with no children
    taken = f.run(parameters={"route": "a"}, executor=executor).result
    assert taken[t["plain"]].result == [2, 3, 4] and taken[t["after"]].result == [3, 4, 5]
    assert taken[t["batched"]].result == list(range(1, 8))
    assert type(taken[t["empty"]]) is S.Mapped and taken[t["empty"]].result == []


# -- merge ----------------------------------------------------------------------------------


def test_merge_takes_the_first_non_skipped_branch_in_argument_order(executor: Any) -> None:
    """With more than ten branches, string order ('branch_10' < 'branch_2') would differ."""
    with Flow("merge-order") as f:
        branches = []
        for i in range(12):
            t = C.label(f"task_{i}", task_args={"name": f"task_{i}"})
            conditional(C.give(i in (2, 10, 11)), t)  # only branches 2, 10 and 11 run
            branches.append(t)
        m = merge(*branches)
        backwards = merge(*reversed(branches))
    states = run(f, executor)
    assert states[m].result == "task_2"
    assert states[backwards].result == "task_11"


def test_merge_ignores_a_skipped_tasks_result(executor: Any) -> None:
    with Flow("merge-skip-result") as f:
        a = C.skip_with_result()
        b = C.give("value")
        m = merge(a, b)
    states = run(f, executor)
    assert states[a].result == "not a value"
    assert states[m].result == "value"


def test_merge_when_every_branch_skipped_or_one_failed(executor: Any) -> None:
    with Flow("merge-ends") as f:
        all_skip = merge(C.skipper(), C.skipper())
        one_failed = merge(C.give(1), C.boom())
        none_result = merge(C.skipper(), C.give(None), C.give(3))
    states = run(f, executor)
    assert skipped(states[all_skip], "upstream")
    assert type(states[one_failed]) is S.TriggerFailed
    assert states[none_result].is_successful() and states[none_result].result is None


def test_merge_of_mapped_branches(executor: Any) -> None:
    with Flow("merge-mapped") as f:
        route = Parameter("route", default="b")
        with case(route, "a"):
            a = C.inc.map([1, 2])
        with case(route, "b"):
            b = C.give("b")
        m = merge(a, b)
        partly = merge(C.skip_odd.map([0, 1, 2]), C.give("never"))
    states = run(f, executor)
    assert states[m].result == "b"  # every child of the mapped branch skipped: next branch
    assert run(f, executor, route="a")[m].result == [2, 3]
    assert states[partly].result == [0, None, 2]


# -- joins ----------------------------------------------------------------------------------


def test_a_no_failed_task_after_a_branch_that_skipped_still_runs(executor: Any) -> None:
    with Flow("join") as f:
        cond = Parameter("cond", default="a")
        with case(cond, "a"):
            a = C.label("a")
        with case(cond, "b"):
            b = C.label("b")
        joined = C.join(a=a, b=b)
        strict = C.join_default(a=a, b=b)
        chained = C.label("after join", joined)
    states = run(f, executor)
    assert states[joined].result == "joined"
    assert states[chained].result == "after join"
    assert skipped(states[strict], "upstream")
    assert states[strict].message == "Trigger was all_successful but 1 of 2 upstream tasks skipped."


def test_a_no_failed_join_after_a_failed_branch_is_trigger_failed(executor: Any) -> None:
    with Flow("join-failed") as f:
        cond = C.give(True)
        with case(cond, True):
            a = C.boom()
        with case(cond, False):
            b = C.label("b")
        joined = C.join(a=a, b=b)
    states = run(f, executor)
    assert type(states[joined]) is S.TriggerFailed


# -- filter_results -------------------------------------------------------------------------


def test_filter_results_drops_skipped_and_failed_children(executor: Any) -> None:
    with Flow("filter") as f:
        values = C.skip_odd.map([0, 1, 2, 3, 4])
        kept = filter_results(values)
        total = C.collect(kept)
        failing = C.fail_on_one.map([0, 1, 2])
        downstream = C.inc.map(failing)
        kept_failing = filter_results(downstream)
        only_skips_dropped = filter_results(values, drop=(S.Skipped,))
        fail_kept = filter_results(failing, drop=(S.Skipped,))
    flow_state = f.run(executor=executor)
    states = flow_state.result
    assert states[kept].result == [0, 2, 4] and states[total].result == [0, 2, 4]
    assert states[kept_failing].result == [1, 3]  # TriggerFailed is a Failed
    assert states[only_skips_dropped].result == [0, 2, 4]
    assert states[fail_kept].result == [0, None, 2]
    # the plain reduce would have skipped; the filtered one did not
    assert flow_state.result[total].is_successful()


def test_filter_results_of_empty_and_untaken_maps(executor: Any) -> None:
    with Flow("filter-edges") as f:
        empty = filter_results(C.inc.map([]))
        route = C.give("no")
        with case(route, "yes"):
            not_taken = C.inc.map([1, 2])
            empty_not_taken = C.inc.map([])
        of_untaken = filter_results(not_taken)
        of_empty_untaken = filter_results(empty_not_taken)
    states = run(f, executor)
    assert states[empty].result == []
    assert states[of_untaken].result == []
    assert states[of_empty_untaken].result == []


# -- any_condition, all_conditions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "any_expected", "all_expected"),
    [
        (True, True, True, True),
        (True, False, True, False),
        (0, "", False, False),
        ([1], 2, True, True),
    ],
)
def test_any_and_all_conditions(
    executor: Any, first: Any, second: Any, any_expected: bool, all_expected: bool
) -> None:
    with Flow("conditions") as f:
        c1, c2 = C.give(first), C.give(second)
        anyc, allc = any_condition(c1, c2), all_conditions(c1, c2)
        on_any = conditional(anyc, C.label("any"))
        on_all = conditional(allc, C.label("all"))
    states = run(f, executor)
    assert states[anyc].result is any_expected and states[allc].result is all_expected
    assert states[on_any].is_successful() is any_expected
    assert states[on_all].is_successful() is all_expected


def test_skipped_conditions_count_as_false_and_failed_ones_fail(executor: Any) -> None:
    with Flow("conditions-edge") as f:
        yes, skip, bad = C.give(True), C.skipper(), C.boom()
        any_with_skip = any_condition(yes, skip)
        all_with_skip = all_conditions(yes, skip)
        any_with_failure = any_condition(yes, bad)
        guarded = conditional(any_with_failure, C.label("guarded"))
        mapped = any_condition(C.skip_odd.map([1, 3, 4]))
    states = run(f, executor)
    assert states[any_with_skip].result is True
    assert states[all_with_skip].result is False
    assert type(states[any_with_failure]) is S.TriggerFailed
    assert type(states[guarded]) is S.TriggerFailed
    assert states[mapped].result is True  # each child of a mapped condition counts


# -- the flow's state -----------------------------------------------------------------------


def test_a_flow_whose_terminal_branch_skipped_succeeds(executor: Any) -> None:
    with Flow("skipped-terminal") as f:
        with case(C.give(1), 2):
            C.label("not needed")
    state = f.run(executor=executor)
    assert state.is_successful()
    assert state.message == "All reference tasks succeeded or skipped (skipped: 'label')."


# -- definition errors ----------------------------------------------------------------------


def test_control_flow_outside_a_flow_is_refused() -> None:
    with pytest.raises(
        FlowDefinitionError, match=r"case\(\.\.\.\) can only be used while defining"
    ):
        with case(1, 1):
            pass
    for call in (
        lambda: merge(C.give),
        lambda: switch(C.give, {1: C.give}),
        lambda: ifelse(C.give, C.give, C.give),
        lambda: conditional(C.give, C.give),
        lambda: filter_results(C.give),
        lambda: any_condition(C.give),
        lambda: all_conditions(C.give),
    ):
        with pytest.raises(FlowDefinitionError, match=r"can only be used while defining a flow"):
            call()


def test_bad_arguments_are_refused_with_clear_messages() -> None:
    with Flow("bad"):
        t = C.give(1)
        with pytest.raises(FlowDefinitionError, match=r"switch\(\.\.\.\) needs a non-empty dict"):
            switch(t, {})
        with pytest.raises(FlowDefinitionError, match=r"branch for 1 must be a task, got 'x'"):
            switch(t, {1: "x"})  # type: ignore[dict-item]
        with pytest.raises(FlowDefinitionError, match=r"merge\(\.\.\.\) needs at least one task"):
            merge()
        with pytest.raises(FlowDefinitionError, match=r"merge\(\.\.\.\) takes tasks, got 3"):
            merge(t, 3)  # type: ignore[arg-type]
        with pytest.raises(FlowDefinitionError, match=r"any_condition\(\.\.\.\) needs at least"):
            any_condition()
        with pytest.raises(FlowDefinitionError, match=r"all_conditions\(\.\.\.\) takes tasks"):
            all_conditions(t, True)  # type: ignore[arg-type]
        with pytest.raises(FlowDefinitionError, match=r"ifelse\(\.\.\.\) takes tasks"):
            ifelse(t, t, "no")  # type: ignore[arg-type]
        with pytest.raises(FlowDefinitionError, match=r"conditional\(\.\.\.\) takes tasks"):
            conditional(t, None)  # type: ignore[arg-type]
        with pytest.raises(FlowDefinitionError, match=r"filter_results\(\.\.\.\) takes tasks"):
            filter_results([1, 2])  # type: ignore[arg-type]
        with pytest.raises(FlowDefinitionError, match=r"compares the condition with a plain value"):
            with case(t, C.give(2)):
                pass
        with pytest.raises(FlowDefinitionError, match=r"Use `with case\(task, value\):`"):
            if t:
                pass


# -- the example ----------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "map_and_case.py"


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("map_and_case_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not in sys.modules: workers get its tasks by value
    return module


@pytest.mark.parametrize(
    ("minimum", "report"),
    [(3, "5 values, total 14"), (6, "only 5 values: not enough to summarize")],
)
def test_the_map_and_case_example(executor: Any, minimum: int, report: str) -> None:
    example = _load_example()
    f, tasks = example.build()
    state = f.run(parameters={"minimum": minimum}, executor=executor)
    assert state.is_successful()
    assert state.result[tasks["good"]].result == [3, 1, 4, 1, 5]
    assert state.result[tasks["report"]].result == report


def test_the_map_and_case_example_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "report: 5 values, total 14" in done.stdout
