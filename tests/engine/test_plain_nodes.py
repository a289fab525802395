"""Unmapped plain nodes (issue 14): a task the runner's pipeline decides nothing for runs
without it, and ends in the state the runner would give; a task that needs the pipeline
(handlers, retries, checkpoint, cache, signals, failed upstream) keeps it.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from types import MappingProxyType
from typing import Any

from headwater import Flow
from headwater.engine.flow_runner import FlowRunner
from headwater.engine.identity import ResumeFrom
from headwater.engine.nodes import FlowContext, InputSpec, NodeSpec, TaskDef
from headwater.engine.plain import PLAIN_MESSAGE
from headwater.model import states as S
from headwater.model.builtin_tasks import Constant
from headwater.model.task import task
from headwater.results import LocalResult
from tests.flows import plain_nodes as P
from tests.support.hooks import CountingHook


def test_a_plain_unmapped_task_ends_as_the_runner_would_end_it(executor: Any) -> None:
    flow, tasks = P.plain_flow()
    state = flow.run(executor=executor)
    assert state.is_successful()
    plain, handled = state.result[tasks["plain"]], state.result[tasks["handled"]]
    for s in (plain, handled):
        assert type(s) is S.Success and s.run_count == 1 and s.map_index is None
        assert s.run_info is not None and s.run_info.start <= s.run_info.end
    assert plain.message == handled.message
    (pv, pctx), (hv, hctx) = plain.result, handled.result
    assert pv == hv == 4
    assert pctx[:4] == ("double", "double", None, 1)
    assert hctx[:4] == ("double_handled", "double_handled", None, 1)
    assert pctx[4] == tasks["plain"].slug and pctx[5] == hctx[5] == "plain-nodes"
    assert pctx[6] and hctx[6] and pctx[6] != hctx[6]  # a task run id each
    assert type(plain.result_object) is type(handled.result_object)


def test_tasks_that_need_the_pipeline_keep_it(executor: Any, tmp_path: Path) -> None:
    flow, tasks = P.pipeline_flow(str(tmp_path))
    states = flow.run(executor=executor).result
    assert states[tasks["handled"]].message.startswith("handled: ")
    flaky = states[tasks["flaky"]]
    assert type(flaky) is S.Success and flaky.result == 3 and flaky.run_count == 2
    broken = states[tasks["broken"]]
    assert type(broken) is S.Failed and "bad 2" in str(broken.message)
    assert type(states[tasks["after_broken"]]) is S.TriggerFailed
    assert type(states[tasks["skipper"]]) is S.Skipped
    assert type(states[tasks["after_skip"]]) is S.Skipped
    kept = states[tasks["kept"]]
    assert kept.result == 3 and kept.result_object.location == "kept.bin"
    assert LocalResult(dir=str(tmp_path)).read("kept.bin").value == 3
    assert type(states[tasks["cached"]]) is S.Success
    again = flow.run(executor=executor).result
    assert type(again[tasks["cached"]]) is S.Cached and again[tasks["cached"]].result == 3


def test_batched_children_that_need_the_pipeline_keep_it(executor: Any, tmp_path: Path) -> None:
    flow, tasks = P.mapped_pipeline_flow(str(tmp_path))
    states = flow.run(executor=executor).result
    children = {name: list(states[t].map_states) for name, t in tasks.items()}
    want = [x + 1 for x in range(6)]
    for name, kids in children.items():
        assert [c.result for c in kids] == want, name
        assert [c.map_index for c in kids] == list(range(6)), name
    assert all(type(c) is S.Success and c.run_count == 1 for c in children["plain"])
    assert not any(c.message.startswith("handled: ") for c in children["plain"])
    assert all(c.message.startswith("handled: ") for c in children["handled"])
    assert [c.run_count for c in children["flaky"]] == [2] * 6
    stored = LocalResult(dir=str(tmp_path))
    assert [stored.read(f"kept-{i}.bin").value for i in range(6)] == want
    again = flow.run(executor=executor).result
    assert [type(c) for c in again[tasks["cached"]].map_states] == [S.Cached] * 6


def triple(x: int) -> int:
    """A function its module names, so the standard pickler refers to it."""
    return 3 * x


def test_a_task_definition_pickles_with_the_standard_pickler_and_comes_back_whole() -> None:
    # dask.distributed pickles with the standard pickler first: a definition it refused (its
    # constants are a mappingproxy) went through a failed try and cloudpickle at every transfer
    for handlers in ([], [P.keep]):
        work = task(triple, state_handlers=handlers)
        definition = TaskDef(work, MappingProxyType({"x": 2}), None, False, False, "folder")
        back = pickle.loads(pickle.dumps(definition, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(back) is TaskDef and type(back.constants) is MappingProxyType
        assert dict(back.constants) == {"x": 2}
        assert back.task.slug == work.slug and back.task.run(**back.constants) == 6
        assert (back.result, back.checkpoint, back.readback, back.cache_folder) == (
            None,
            False,
            False,
            "folder",
        )
        assert back.plain is definition.plain is (not handlers)


def test_every_field_of_a_node_s_definition_and_specs_survives_pickling(tmp_path: Path) -> None:
    # each field set away from its default, so a field added to these classes and left out
    # of their pickles fails here (a resumed run's ``resume`` and ``fresh`` once were)
    work = task(triple)
    definition = TaskDef(
        work,
        MappingProxyType({"x": 2}),
        LocalResult(str(tmp_path)),
        True,
        True,
        "folder",
        ResumeFrom((("run-1", "token", "name", "triple-1"),)),
    )
    element = InputSpec("x", 3, 1, True, True, 2, True)
    spec = NodeSpec((element,), 4, S.Pending(), "why", True)
    context = FlowContext(MappingProxyType({"flow_name": "f"}), True, "token")
    for value in (definition, element, spec, context):
        back = pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        for f in dataclasses.fields(value):
            here, there = getattr(value, f.name), getattr(back, f.name)
            if f.name not in ("task", "result", "initial_state", "values"):
                assert f.default is dataclasses.MISSING or here != f.default, f.name
                assert there == here, f.name
            else:
                assert type(there) is type(here), f.name


def test_a_flow_context_pickles_with_the_standard_pickler_and_comes_back_read_only() -> None:
    # It rides inside every node (issue 14); a mappingproxy in it (its values, the parameters
    # in them) made the standard pickler fail, and dask.distributed then pickled every graph
    # holding it whole with cloudpickle.
    parameters = MappingProxyType({"n": 3})
    values = MappingProxyType({"parameters": parameters, "flow_name": "f", "today": "2026-12-02"})
    back = pickle.loads(pickle.dumps(FlowContext(values, True, "tok"), pickle.HIGHEST_PROTOCOL))
    assert type(back.values) is MappingProxyType
    assert type(back.values["parameters"]) is MappingProxyType
    assert dict(back.values["parameters"]) == {"n": 3}
    assert {k: v for k, v in back.values.items() if k != "parameters"} == {
        "flow_name": "f",
        "today": "2026-12-02",
    }
    assert (back.ships_values, back.run_token) == (True, "tok")


def _mapped_constant() -> tuple[Flow, Any, Constant]:
    """A map over a list, and the Constant made for the list."""
    with Flow("constants") as f:
        ys = P.double.map([1, 2, 3])
    (constant,) = [t for t in f.tasks if type(t) is Constant]
    return f, ys, constant


def test_a_plain_constant_ends_as_a_task_run_wherever_it_runs(executor: Any) -> None:
    # On DaskExecutor the planner runs a plain Constant as it plans (its state becomes a
    # literal the map's nodes read: notice 0017); elsewhere it is a node. Either way the run
    # ends the same, and the hooks hear of it like any task run.
    f, ys, constant = _mapped_constant()
    hook = CountingHook()
    state = FlowRunner(f, executor).run(hooks=[hook])
    assert state.is_successful(), state
    assert [value for value, _ in state.result[ys].result] == [2, 4, 6]
    given = state.result[constant]
    assert type(given) is S.Success and given.result == [1, 2, 3]
    assert given.message == PLAIN_MESSAGE and given.run_count == 1
    assert hook.planned == hook.finished == hook.at_end == 4  # the constant and 3 children


def test_a_constant_with_a_state_handler_is_run_by_the_runner_handler_and_all(
    executor: Any,
) -> None:
    f, ys, constant = _mapped_constant()
    constant.state_handlers = [P.mark]
    state = f.run(executor=executor)
    assert [value for value, _ in state.result[ys].result] == [2, 4, 6]
    assert (state.result[constant].message or "").startswith("handled: ")
