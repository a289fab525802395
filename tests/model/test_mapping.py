"""Mapping (issue 3): children, zipping, unmapped, flatten, element-wise maps, reduces, the
parent's Mapped state, per-child options and the edge cases.

Every test that runs a flow takes the ``executor`` fixture, so it runs on every executor kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from headwater import (
    Flow,
    FlowDefinitionError,
    Parameter,
    Task,
    case,
    filter_results,
    flatten,
    triggers,
    unmapped,
)
from headwater.model import states as S
from headwater.taskgraph import is_node
from tests.flows import mapping_flows as M
from tests.support.recording import RecordingExecutor

# -- helpers --------------------------------------------------------------------------------


def run(flow: Flow, executor: Any, **parameters: Any) -> Mapping[Task, S.State]:
    """Run ``flow`` and return its task states."""
    return flow.run(parameters=parameters, executor=executor).result


def reason(state: S.State) -> str | None:
    """Why a state skipped (None when it is not Skipped)."""
    return state.reason if isinstance(state, S.Skipped) else None


def children(state: S.State) -> tuple[S.State, ...]:
    assert isinstance(state, S.Mapped), f"expected Mapped, got {state!r}"
    return state.map_states


Node = tuple[Task, int | None]
"""A task's single node (index None) or one of its children."""


class Graph:
    """The compiled graph of one run, read back from the recorded batches, child by child:
    a batch node of children ``start .. stop - 1`` (notice 0010) stands for each of them, and
    depends on what the batch reads."""

    def __init__(self, flow: Flow, recording: RecordingExecutor) -> None:
        self.batch_of: dict[Node, int] = {}
        self.deps: dict[Node, set[Node]] = {}
        self.span: dict[Node, tuple[int, int]] = {}
        owners: dict[str, list[Node]] = {}
        patterns = [
            (t, re.compile(rf"^{re.escape(t.slug)}-[0-9a-f]{{8}}(?:-(\d+)|-batch(\d+))?$"))
            for t in flow.tasks
        ]
        for batch in recording.batches:
            for key, value in batch.items():
                for t, pattern in patterns:
                    m = pattern.match(key)
                    if m and m.group(2) is not None:  # a batch of children
                        spec = value[3] if is_node(value) else None
                        start = spec.start if spec is not None else value.start
                        stop = spec.stop if spec is not None else value.start + value.n
                        owners[key] = [(t, i) for i in range(start, stop)]
                        for node in owners[key]:
                            self.span[node] = (start, stop)
                    elif m:
                        owners[key] = [(t, int(m.group(1)) if m.group(1) else None)]
                        index = owners[key][0][1]
                        if index is not None:
                            self.span[owners[key][0]] = (index, index + 1)
        for number, batch in enumerate(recording.batches):
            for key, value in batch.items():
                if key not in owners:
                    continue  # task definitions, the flow context, shape nodes
                args = value[1:] if is_node(value) else ()
                keys = [a for a in args if type(a) is str] + [
                    k for a in args if type(a) is list for k in a
                ]
                deps = {node for k in keys if k in owners for node in owners[k]}
                for node in owners[key]:
                    self.batch_of[node] = number
                    self.deps[node] = deps

    def peers(self, task: Task, i: int) -> set[Node]:
        """Child ``i`` of ``task`` and the children sharing its graph node."""
        return {(task, j) for j in range(*self.span[(task, i)])}

    def closure(self, node: Node) -> set[Node]:
        """Everything ``node`` depends on, directly or not."""
        seen: set[Node] = set()
        todo = [node]
        while todo:
            for dep in self.deps[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen


# -- one child per element ------------------------------------------------------------------


def test_map_runs_one_child_per_element(executor: Any) -> None:
    with Flow("map") as f:
        ys = M.inc.map([1, 2, 3])
    state = run(f, executor)[ys]
    assert [type(c) for c in children(state)] == [S.Success] * 3
    assert state.result == [2, 3, 4]
    assert [c.result for c in children(state)] == [2, 3, 4]


def test_several_mapped_arguments_are_zipped(executor: Any) -> None:
    with Flow("zip") as f:
        a = M.inc.map([0, 1, 2])  # [1, 2, 3]
        positional = M.add.map(a, [10, 20, 30])
        keywords = M.add3.map(x=[1, 2, 3], y=a, z=[100, 200, 300])
    states = run(f, executor)
    assert states[positional].result == [11, 22, 33]
    assert states[keywords].result == [102, 204, 306]


def test_unmapped_passes_a_value_whole_to_every_child(executor: Any) -> None:
    with Flow("unmapped") as f:
        plus_ten = M.add.map([1, 2, 3], y=unmapped(10))
        whole_list = M.where_am_i.map(x=unmapped([7, 8]), upstream_tasks=[M.inc.map([1, 2])])
    states = run(f, executor)
    assert states[plus_ten].result == [11, 12, 13]
    assert states[whole_list].result == [([7, 8], 0), ([7, 8], 1)]


def test_unmapped_passes_a_task_result_whole_to_every_child(executor: Any) -> None:
    with Flow("unmapped-task") as f:
        ten = M.give(10)
        lists = M.count_range(3)
        mapped = M.inc.map([1, 2])  # [2, 3]
        plus = M.add.map([1, 2, 3], y=unmapped(ten))
        wholes = M.where_am_i.map(x=unmapped(lists), upstream_tasks=[mapped])
        reduced = M.add3.map([1, 2], y=mapped, z=unmapped(M.total(mapped)))
        children_whole = M.collect.map(unmapped(mapped), upstream_tasks=[mapped])
    states = run(f, executor)
    assert states[plus].result == [11, 12, 13]
    assert states[wholes].result == [([0, 1, 2], 0), ([0, 1, 2], 1)]
    assert states[reduced].result == [1 + 2 + 5, 2 + 3 + 5]
    # unmapped(a mapped task) gives every child the list of all the children's results
    assert states[children_whole].result == [[2, 3], [2, 3]]


def test_flatten_maps_over_the_concatenation_of_a_mapped_tasks_lists(executor: Any) -> None:
    with Flow("flatten") as f:
        lists = M.repeat.map([2, 0, 3, 1])  # [[2, 2], [], [3, 3, 3], [1]]
        flat = M.where_am_i.map(flatten(lists))
        reduced = M.collect(flatten(lists))
    states = run(f, executor)
    assert states[flat].result == [(2, 0), (2, 1), (3, 2), (3, 3), (3, 4), (1, 5)]
    assert [c.map_index for c in children(states[flat])] == list(range(6))
    assert states[reduced].result == [2, 2, 3, 3, 3, 1]


def test_flatten_over_a_task_result_and_over_a_constant(executor: Any) -> None:
    with Flow("flatten-plain") as f:
        from_task = M.inc.map(flatten(M.give([[1, 2], [], [3]])))
        from_constant = M.inc.map(flatten([[10], [20, 30]]))
        nothing = M.inc.map(flatten([[], []]))
    states = run(f, executor)
    assert states[from_task].result == [2, 3, 4]
    assert states[from_constant].result == [11, 21, 31]
    assert children(states[nothing]) == ()


# -- element-wise maps: the dependency structure ------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, None])
@pytest.mark.parametrize("n", [1, 4])
def test_mapping_over_a_mapped_task_is_element_wise(
    executor: Any, n: int, batch_size: int | None
) -> None:
    """Child ``i`` of a step depends only on the node of the step before that holds child
    ``i`` (itself alone when unbatched), never on the rest of the map."""
    f, steps = M.pipeline_flow(steps=3, batch_size=batch_size)
    recording = RecordingExecutor(executor)
    state = f.run(parameters={"n": n}, executor=recording)
    assert state.is_successful()
    assert state.result[steps[-1]].result == [i + 3 for i in range(n)]
    graph = Graph(f, recording)
    first, second, third = steps
    for i in range(n):
        # the steps are cut alike (their children cost alike), so child i's node in each
        # step holds the same children
        assert graph.span[(first, i)] == graph.span[(second, i)] == graph.span[(third, i)]
        if batch_size == 1:
            assert graph.peers(first, i) == {(first, i)}
        assert graph.deps[(second, i)] == graph.peers(first, i)
        assert graph.deps[(third, i)] == graph.peers(second, i)
        # element i's whole pipeline never waits for an element outside its node
        mapped_deps = {d for d in graph.closure((third, i)) if d[1] is not None}
        assert mapped_deps == graph.peers(first, i) | graph.peers(second, i)
    reduce = next(t for t in f.tasks if t.name == "total")
    assert graph.deps[(reduce, None)] == {(third, i) for i in range(n)}


def test_a_runtime_length_pipeline_is_submitted_together_after_its_shape(executor: Any) -> None:
    """Once the length is known, every step of every element is in one batch, so an
    executor is free to run element 0 to the end before element 3 starts."""
    f, steps = M.pipeline_flow(steps=3)
    recording = RecordingExecutor(executor)
    f.run(parameters={"n": 4}, executor=recording)
    graph = Graph(f, recording)
    batches = {graph.batch_of[(step, i)] for step in steps for i in range(4)}
    assert len(batches) == 1
    source = next(t for t in f.tasks if t.name == "count_range")
    assert graph.batch_of[(source, None)] < batches.pop()


def test_a_constant_length_pipeline_is_one_batch(executor: Any) -> None:
    with Flow("static") as f:
        a = M.inc.map([1, 2, 3])
        b = M.inc.map(a)
        c = M.add.map(b, y=unmapped(M.give(100)))
    recording = RecordingExecutor(executor)
    assert f.run(executor=recording).result[c].result == [103, 104, 105]
    graph = Graph(f, recording)
    assert len(recording.batches) == 1
    give = next(t for t in f.tasks if t.name == "give")
    for i in range(3):
        assert graph.deps[(b, i)] == graph.peers(a, i)
        assert graph.deps[(c, i)] == graph.peers(b, i) | {(give, None)}


# -- what is mapped over ----------------------------------------------------------------------


def test_mapping_over_a_constant_a_parameter_and_a_tasks_output(executor: Any) -> None:
    with Flow("sources") as f:
        p = Parameter("xs", default=[1, 2])
        n = Parameter("n", default=3)
        over_constant = M.inc.map([5, 6, 7])
        over_parameter = M.inc.map(p)
        over_output = M.inc.map(M.count_range(n))
    states = run(f, executor, xs=[10, 20, 30, 40], n=2)
    assert states[over_constant].result == [6, 7, 8]
    assert states[over_parameter].result == [11, 21, 31, 41]
    assert states[over_output].result == [1, 2]
    # the length is only known at run time: the same flow gives another number of children
    states = run(f, executor, xs=[], n=5)
    assert states[over_parameter].result == []
    assert states[over_output].result == [1, 2, 3, 4, 5]


def test_mapping_over_a_string_or_range_maps_over_its_items(executor: Any) -> None:
    with Flow("sequences") as f:
        letters = M.identity.map("abc")
        numbers = M.identity.map(range(3))
        tuples = M.identity.map(M.give((4, 5)))
    states = run(f, executor)
    assert states[letters].result == ["a", "b", "c"]
    assert states[numbers].result == [0, 1, 2]
    assert states[tuples].result == [4, 5]


# -- the parent's state, map_index, run names -----------------------------------------------------


def test_the_parent_is_mapped_a_success_holding_its_childrens_states(executor: Any) -> None:
    with Flow("parent") as f:
        ys = M.fail_on_one.map([0, 1, 2])
    flow_state = f.run(executor=executor)
    parent = flow_state.result[ys]
    assert type(parent) is S.Mapped and parent.is_successful() and parent.is_mapped()
    assert parent.map_index is None
    assert [type(c) for c in parent.map_states] == [S.Success, S.Failed, S.Success]
    assert parent.counts() == {"Success": 2, "Failed": 1}
    assert parent.message == "Mapped 3 children: 2 Success, 1 Failed."
    assert parent.result == [0, None, 2]
    # a failed child makes the flow fail, though the parent is a Success
    assert flow_state.is_failed()
    assert flow_state.message == "Some reference tasks failed: 'fail_on_one'."


def test_each_child_has_its_map_index_in_its_context_and_state(executor: Any) -> None:
    with Flow("index") as f:
        ys = M.where_am_i.map(["a", "b", "c"])
        zs = M.where_am_i.map(ys)
    states = run(f, executor)
    assert states[ys].result == [("a", 0), ("b", 1), ("c", 2)]
    assert [c.map_index for c in children(states[ys])] == [0, 1, 2]
    assert [r[1] for r in states[zs].result] == [0, 1, 2]
    assert [c.map_index for c in children(states[zs])] == [0, 1, 2]


def test_task_run_name_templates_use_map_index_and_inputs(executor: Any) -> None:
    urls = ["a.org", "b.org"]
    with Flow("names") as f:
        by_index = M.fetch_by_index.map(urls)
        by_url = M.fetch_by_url.map(urls)
        by_callable = M.fetch_by_callable.map(urls)
    states = run(f, executor)
    assert states[by_index].result == ["fetch-0", "fetch-1"]
    assert states[by_url].result == ["fetch-a.org", "fetch-b.org"]
    assert states[by_callable].result == ["get A.ORG", "get B.ORG"]


# -- reduces --------------------------------------------------------------------------------


def test_a_reduce_receives_the_list_of_the_childrens_results(executor: Any) -> None:
    with Flow("reduce") as f:
        ys = M.inc.map([1, 2, 3])
        whole = M.collect(ys)
        summed = M.total(ys)
        over_output = M.total(M.inc.map(M.count_range(4)))
    states = run(f, executor)
    assert states[whole].result == [2, 3, 4]
    assert states[summed].result == 9
    assert states[over_output].result == 1 + 2 + 3 + 4


def test_a_reduces_trigger_sees_every_childs_state(executor: Any) -> None:
    with Flow("reduce-trigger") as f:
        failing = M.fail_on_one.map([0, 1, 2])
        default = M.collect(failing)
        finished = M.collect_all(failing)
        skipping = M.skip_odd.map([0, 1, 2, 3])
        after_skips = M.collect(skipping)
        two_of_four = M.at_least_two(skipping)
        one_of_three = M.at_least_two(M.skip_odd.map([1, 2, 3]))
    states = run(f, executor)
    assert type(states[default]) is S.TriggerFailed
    assert states[default].message == "Trigger was all_successful but 1 of 3 upstream tasks failed."
    assert states[finished].result == [0, None, 2]
    assert type(states[after_skips]) is S.Skipped
    assert states[after_skips].message == (
        "Trigger was all_successful but 2 of 4 upstream tasks skipped."
    )
    assert states[two_of_four].result == [0, None, 2, None]
    assert type(states[one_of_three]) is S.Skipped


# -- per-child options, and failures staying local -----------------------------------------


def test_each_child_retries_on_its_own(executor: Any) -> None:
    with Flow("retries") as f:
        ys = M.flaky_on_one.map([0, 1, 2])
        zs = M.always_fails_on_one.map([0, 1, 2])
    states = run(f, executor)
    assert states[ys].result == [(0, 1), (1, 3), (2, 1)]
    assert [c.run_count for c in children(states[ys])] == [1, 3, 1]
    assert [type(c) for c in children(states[zs])] == [S.Success, S.Failed, S.Success]
    assert children(states[zs])[1].run_count == 2


def test_each_child_has_its_own_timeout(executor: Any) -> None:
    with Flow("timeouts") as f:
        ys = M.slow_on_one.map([0, 1, 2])
        zs = M.inc.map(ys)
    states = run(f, executor)
    assert [type(c) for c in children(states[ys])] == [S.Success, S.TimedOut, S.Success]
    assert children(states[ys])[1].message == "Task 'slow_on_one' timed out after 0.3 seconds"
    assert [type(c) for c in children(states[zs])] == [S.Success, S.TriggerFailed, S.Success]


def test_each_child_checks_its_own_trigger(executor: Any) -> None:
    with Flow("trigger") as f:
        ys = M.fail_on_one.map([0, 1, 2])
        fixes = M.recover.map(ys)
    states = run(f, executor)
    kids = children(states[fixes])
    assert [type(c) for c in kids] == [S.Skipped, S.Success, S.Skipped]
    assert kids[1].result == "recovered"
    assert {c.reason for c in kids if isinstance(c, S.Skipped)} == {"trigger"}


def test_each_child_calls_its_handlers(executor: Any) -> None:
    with Flow("handlers") as f:
        ys = M.handled.map([5, 6])
    kids = children(run(f, executor)[ys])
    assert [c.message for c in kids] == ["child 0 of handled done", "child 1 of handled done"]


def test_one_failing_child_fails_only_itself_and_what_depends_on_it(executor: Any) -> None:
    with Flow("local-failure") as f:
        ys = M.fail_on_one.map([0, 1, 2])
        zs = M.inc.map(ys)
        ws = M.inc.map(zs)
        reduce = M.total(ws)
        bystander = M.inc(41)
        sibling = M.inc.map([0, 1, 2])
    states = run(f, executor)
    assert [type(c) for c in children(states[ys])] == [S.Success, S.Failed, S.Success]
    assert children(states[ys])[1].message == "Task 'fail_on_one' raised ValueError: bad element 1"
    assert states[zs].result == [1, None, 3]
    assert [type(c) for c in children(states[ws])] == [S.Success, S.TriggerFailed, S.Success]
    assert states[ws].result == [2, None, 4]
    assert type(states[reduce]) is S.TriggerFailed
    assert states[bystander].result == 42
    assert states[sibling].result == [1, 2, 3]


def test_a_skipped_child_skips_only_what_depends_on_it(executor: Any) -> None:
    with Flow("local-skip") as f:
        ys = M.skip_odd.map([0, 1, 2])
        zs = M.inc.map(ys)
    kids = children(run(f, executor)[zs])
    assert [type(c) for c in kids] == [S.Success, S.Skipped, S.Success]
    assert reason(kids[1]) == "upstream"


# -- edge cases -----------------------------------------------------------------------------


def test_mapping_over_an_empty_list_gives_no_children_and_a_reduce_gets_empty(
    executor: Any,
) -> None:
    with Flow("empty") as f:
        n = Parameter("n", default=0)
        over_constant = M.inc.map([])
        downstream = M.inc.map(over_constant)
        reduce = M.collect(over_constant)
        over_output = M.inc.map(M.count_range(n))
        reduce_output = M.collect(M.inc.map(over_output))
        with_unmapped = M.add.map([], y=unmapped(M.give(1)))
    flow_state = f.run(executor=executor)
    states = flow_state.result
    for t in (over_constant, downstream, over_output, with_unmapped):
        assert type(states[t]) is S.Mapped
        assert children(states[t]) == () and states[t].result == []
        assert states[t].message == "Mapped 0 children: no children."
    assert states[reduce].result == []
    assert states[reduce_output].result == []
    assert flow_state.is_successful()


def test_an_empty_map_still_honours_its_condition_and_unmapped_inputs(executor: Any) -> None:
    """With no child to check them, the parent itself checks its gate and trigger."""
    with Flow("empty-guarded") as f:
        choice = M.give("no")
        with case(choice, "yes"):
            untaken = M.inc.map([])
        after_untaken = M.collect(untaken)
        element_wise = M.inc.map(untaken)
        failed_input = M.add.map([], y=unmapped(M.boom()))
        with case(choice, "no"):
            taken = M.inc.map([])
    states = run(f, executor)
    assert reason(states[untaken]) == "condition"
    assert type(states[after_untaken]) is S.Skipped
    assert type(states[element_wise]) is S.Skipped
    assert type(states[failed_input]) is S.TriggerFailed
    assert type(states[taken]) is S.Mapped and children(states[taken]) == ()


def test_mapped_arguments_of_different_lengths_fail_with_the_lengths(executor: Any) -> None:
    with Flow("lengths") as f:
        constant = M.add.map([1, 2, 3], [1, 2])
        runtime = M.add.map(x=M.count_range(3), y=M.inc.map([1, 2]))
        after = M.inc.map(constant)
    states = run(f, executor)
    assert type(states[constant]) is S.Failed
    assert states[constant].message == (
        "Task 'add' cannot map: its mapped arguments have different lengths (x=3, y=2); give "
        "them the same length, or wrap one in unmapped(...) to pass it whole to every child"
    )
    assert re.search(r"different lengths \(x=3, y=2\)", states[runtime].message or "")
    assert type(states[after]) is S.TriggerFailed


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (5, "int"),
        (None, "NoneType"),
        ({"a": 1}, "dict"),
        ({1, 2}, "set"),
        (iter([1]), "list_iterator"),
    ],
)
def test_mapping_over_a_non_sequence_fails_naming_the_type(
    executor: Any, value: Any, type_name: str
) -> None:
    with Flow("non-sequence") as f:
        constant = M.inc.map(value)
        runtime = M.inc.map(M.give(value))
        downstream = M.inc.map(runtime)
    states = run(f, executor)
    expected = (
        f"Task 'inc' cannot map over argument 'x': the result of 'give' is of type "
        f"{type_name!r}, which is not a sequence (map over a list or tuple; use list(...) or "
        "sorted(...) to make one)"
    )
    assert type(states[runtime]) is S.Failed and states[runtime].message == expected
    assert type(states[downstream]) is S.TriggerFailed
    assert states[constant].message == expected.replace("the result of 'give'", "the value given")


def test_flattening_a_list_of_non_lists_fails_naming_the_element(executor: Any) -> None:
    with Flow("flatten-bad") as f:
        ys = M.inc.map(flatten(M.give([[1], 2])))
    state = run(f, executor)[ys]
    assert type(state) is S.Failed
    assert state.message is not None
    assert re.search(r"'give' \(flattened; element 1\) is of type 'int'", state.message)


def test_mapping_over_a_failed_or_skipped_task(executor: Any) -> None:
    with Flow("bad-upstream") as f:
        over_failed = M.inc.map(M.boom())
        over_skipped = M.inc.map(M.skipper())
        failed_ok = M.collect_all.map(M.boom())  # the trigger lets it run; the map cannot
        flatten_failed_child = M.inc.map(flatten(M.fail_on_one.map([0, 1])))
    states = run(f, executor)
    assert type(states[over_failed]) is S.TriggerFailed
    assert reason(states[over_skipped]) == "upstream"
    assert type(states[failed_ok]) is S.Failed
    assert states[failed_ok].message == (
        "Task 'collect_all' cannot map over argument 'xs': the result of 'boom' ended Failed"
    )
    assert type(states[flatten_failed_child]) is S.TriggerFailed


def test_nested_maps(executor: Any) -> None:
    """A map over a map's output takes each child's whole result (a list here); flatten
    maps one level deeper; maps of maps of maps stay element-wise."""
    f = M.nested_flow()
    states = run(f, executor)
    lists, whole, flat = f.tasks[0], f.tasks[2], f.tasks[3]
    assert states[lists].result == [[1, 10], [2, 20], [3, 30]]
    assert states[whole].result == [[1, 10], [2, 20], [3, 30]]
    assert states[flat].result == [1, 10, 2, 20, 3, 30]
    with Flow("deep") as g:
        a = M.pair.map([1, 2])
        b = M.total.map(a)
        c = M.inc.map(b)
        d = M.where_am_i.map(c)
        e = M.identity.map(flatten(M.repeat.map(c)))
    states = run(g, executor)
    assert states[d].result == [(12, 0), (23, 1)]
    assert len(states[e].result) == 12 + 23


def test_mapped_upstream_tasks_are_element_wise_and_unmapped_ones_wait_whole(
    executor: Any,
) -> None:
    with Flow("upstream-tasks") as f:
        ys = M.fail_on_one.map([0, 1, 2])
        element_wise = M.inc.map([10, 20, 30], upstream_tasks=[ys])
        whole = M.inc.map([10, 20, 30], upstream_tasks=[unmapped(ys)])
        whole_finished = M.inc.map(
            [10, 20, 30],
            upstream_tasks=[unmapped(ys)],
            task_args={"trigger": triggers.all_finished},
        )
    states = run(f, executor)
    assert [type(c) for c in children(states[element_wise])] == [
        S.Success,
        S.TriggerFailed,
        S.Success,
    ]
    assert {type(c) for c in children(states[whole])} == {S.TriggerFailed}
    assert states[whole_finished].result == [11, 21, 31]


def test_a_mapped_task_inside_a_case(executor: Any) -> None:
    with Flow("mapped-branch") as f:
        choice = M.give("b")
        with case(choice, "a"):
            not_taken = M.inc.map([1, 2])
            reduce_not_taken = M.total(not_taken)
        with case(choice, "b"):
            taken = M.inc.map(M.count_range(2))
            reduce_taken = M.total(taken)
    states = run(f, executor)
    # every child skipped by the condition: the map is Skipped too (issue 12, item 3)
    assert type(states[not_taken]) is S.Skipped and states[not_taken].reason == "condition"
    assert states[not_taken].message.startswith("Skipped all 2 children (condition)")
    assert type(states[reduce_not_taken]) is S.Skipped
    assert states[taken].result == [1, 2] and states[reduce_taken].result == 3


def test_mapping_inside_a_flow_function(executor: Any) -> None:
    from headwater import flow

    @flow
    def squares(n: int = 3) -> Any:
        return M.total(M.inc.map(M.count_range(n)))

    assert squares(n=4, executor=executor) == 10
    assert squares(n=0, executor=executor) == 0


def test_map_needs_something_to_map_over() -> None:
    with Flow("nothing"):
        for call in (lambda: M.inc.map(), lambda: M.inc.map(x=unmapped([1, 2]))):
            with pytest.raises(
                FlowDefinitionError,
                match=r"inc\.map\(\.\.\.\) has nothing to map over: give it at least one "
                r"argument that is not unmapped\(\.\.\.\), or call inc\(\.\.\.\) to run it once",
            ):
                call()


def test_flatten_in_a_plain_call_and_after_filter_results(executor: Any) -> None:
    with Flow("flatten-reduce") as f:
        of_constant = M.collect(flatten([[1], [2, 3]]))
        of_task = M.collect(flatten(M.give([[1], [], [4]])))
        lists = M.pair.map(M.skip_odd.map([2, 3, 4]))  # child 1 skipped
        one_skip_skips_all = M.identity.map(flatten(lists))
        kept = M.identity.map(flatten(filter_results(lists)))
    states = run(f, executor)
    assert states[of_constant].result == [1, 2, 3]
    assert states[of_task].result == [1, 4]
    assert type(states[one_skip_skips_all]) is S.Skipped
    assert states[kept].result == [2, 20, 4, 40]
