"""Flow definition, validation, parameters, the @flow decorator and the flow's state."""

from __future__ import annotations

import pytest

from headwater import (
    Edge,
    Flow,
    FlowDefinitionError,
    FlowRunError,
    FlowValidationError,
    Parameter,
    ParameterError,
    Task,
    flow,
    task,
    triggers,
)
from tests.flows.basic import add, double, etl_flow, fail, identity, one, skip

# -- building -------------------------------------------------------------------------------


def test_calling_a_task_in_a_flow_adds_a_copy_with_edges() -> None:
    with Flow("f") as f:
        a = one()
        b = one()
        c = add(a, y=b)
    assert a is not one and a is not b and len(f.tasks) == 3
    assert {(e.upstream_task, e.key) for e in f.upstream_edges(c)} == {(a, "x"), (b, "y")}
    assert f.constants == {}


def test_constants_become_constant_inputs() -> None:
    with Flow("f") as f:
        c = add(1, 2)
    assert f.tasks == [c] and f.constants[c] == {"x": 1, "y": 2}
    assert f.run().result[c].result == 3


def test_upstream_tasks_make_state_only_edges() -> None:
    with Flow("f") as f:
        a = one()
        b = add(1, 2, upstream_tasks=[a])
    assert f.upstream_edges(b) == [Edge(a, b, None)]


def test_collections_of_tasks_are_assembled() -> None:
    @task
    def total(xs: list[int], m: dict[str, int]) -> int:
        return sum(xs) + sum(m.values())

    with Flow("f") as f:
        a = one()
        t = total([a, 2, a], {"k": a})
    assert f.run().result[t].result == 5


def test_getitem_and_unpacking_with_nout() -> None:
    @task(nout=2)
    def pair() -> tuple[int, str]:
        return 1, "b"

    with Flow("f") as f:
        p = pair()
        x, y = p
        z = identity({"k": 3})["k"]
    state = f.run()
    assert (state.result[x].result, state.result[y].result, state.result[z].result) == (1, "b", 3)


def test_unpacking_without_nout_is_refused() -> None:
    with pytest.raises(FlowDefinitionError, match=r"cannot be unpacked.*Give it nout=N"):
        with Flow("f"):
            x, y = one()


def test_binding_an_argument_twice_is_refused() -> None:
    with pytest.raises(FlowDefinitionError, match="multiple values for argument 'x'"):
        with Flow("f"):
            add(1, 2, x=3)
    with Flow("f") as f:
        c = add(1, 2)
    with pytest.raises(FlowDefinitionError, match="Argument 'x' of task 'add' is already bound"):
        f.set_dependencies(c, keyword_tasks={"x": 5})
    with pytest.raises(FlowDefinitionError, match="Argument 'y' of task 'add' is already bound"):
        f.add_edge(one, c, key="y")


def test_an_unknown_argument_is_refused_naming_task_and_argument() -> None:
    with pytest.raises(
        FlowDefinitionError, match=r"Task 'add' cannot be called.*'z'\. It takes add\(x, y\)\."
    ):
        with Flow("f"):
            add(1, z=2)


def test_a_placeholder_in_an_if_points_to_case() -> None:
    with pytest.raises(
        FlowDefinitionError, match=r"cannot be used in a Python `if`.*case\(task, value\)"
    ):
        with Flow("f"):
            if one():
                pass
    assert bool(one)  # outside a flow a task is just an object


def test_calling_a_task_outside_a_flow_says_how_to_run_it() -> None:
    with pytest.raises(FlowDefinitionError, match=r"outside a flow.*add\.run\(\.\.\.\)"):
        add(1, 2)
    assert add.run(1, 2) == 3


def test_task_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_retries must be an int >= 0"):
        task(lambda: 1, max_retries=-1)
    with pytest.raises(ValueError, match="timeout must be > 0 seconds"):
        task(lambda: 1, timeout=0)
    with pytest.raises(TypeError, match="retry_on takes exception types"):
        task(lambda: 1, retry_on=("ValueError",))
    with pytest.raises(FlowDefinitionError, match=r"cannot take \*args"):
        task(lambda *xs: 1)
    with pytest.raises(FlowDefinitionError, match="'flow', which headwater keeps for itself"):
        task(lambda flow: 1)


def test_task_subclass_with_run_method() -> None:
    class Multiply(Task):
        def __init__(self, factor: int, **options: object) -> None:
            self.factor = factor
            super().__init__(**options)  # type: ignore[arg-type]

        def run(self, x: int) -> int:  # type: ignore[override]
            return x * self.factor

    with Flow("f") as f:
        m = Multiply(3, name="triple")(4)
    assert m.name == "triple" and f.run().result[m].result == 12


def test_imperative_api() -> None:
    f = Flow("imperative")
    a, b = one.copy(), add.copy()
    f.add_task(a)
    f.add_edge(a, b, key="x")
    f.set_dependencies(b, keyword_tasks={"y": 10})
    assert f.run().result[b].result == 11


# -- introspection --------------------------------------------------------------------------------


def test_introspection() -> None:
    with Flow("f") as f:
        a = one()
        b = double(a)
        c = add(a, b)
        d = double(a)
    assert f.root_tasks() == [a]
    assert f.terminal_tasks() == [c, d]
    assert f.reference_tasks() == [c, d]
    assert f.sorted_tasks() == [a, b, c, d]
    assert f.upstream_tasks(c) == [a, b] and f.downstream_tasks(a) == [b, c, d]
    f.set_reference_tasks([b])
    assert f.reference_tasks() == [b]
    g = f.copy()
    g.add_task(one.copy())
    assert len(g.tasks) == 5 and len(f.tasks) == 4 and g.reference_tasks() == [b]


def test_sorted_tasks_handles_a_deep_chain() -> None:
    with Flow("chain") as f:
        x = one()
        for _ in range(3000):
            x = double(x)
    assert len(f.sorted_tasks()) == 3001
    f.validate()


# -- validation -----------------------------------------------------------------------------------


def test_validate_reports_every_problem_at_once() -> None:
    a, b, c = one.copy(), double.copy(), double.copy()
    outsider = one.copy(name="outsider")
    f = Flow("bad", tasks=[a, b, c], edges=[Edge(outsider, b, "x")])
    f.add_edge(b, c, key="x")
    f.add_edge(c, b)  # b -> c -> b
    f.add_task(Parameter("n"))
    f.add_task(Parameter("n"))
    f.set_reference_tasks([one.copy(name="ghost")])
    with pytest.raises(FlowValidationError) as info:
        f.validate()
    problems = info.value.problems
    text = str(info.value)
    assert text.startswith(f"Flow 'bad' has {len(problems)} problems:")
    assert any(p.startswith("cycle: 'double' -> 'double' -> 'double'") for p in problems)
    assert "the upstream task 'outsider' is not in the flow" in text
    assert "parameter name 'n' is used by 2 different parameters" in text
    assert "reference task 'ghost' is not in the flow" in text


def test_missing_arguments_are_reported() -> None:
    f = Flow("f")
    f.add_task(add.copy())
    with pytest.raises(FlowValidationError, match="task 'add' is missing arguments 'x', 'y'"):
        f.validate()


def test_leaving_the_with_block_validates() -> None:
    with pytest.raises(FlowValidationError, match="cycle"):
        with Flow("cyclic") as f:
            a = double(1)
            b = double(a)
            f.add_edge(b, a)


def test_running_an_invalid_flow_runs_nothing() -> None:
    f = Flow("f")
    f.add_task(add.copy())
    with pytest.raises(FlowValidationError):
        f.run()


def test_validation_errors_pickle() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(FlowValidationError("f", ["a", "b"])))
    assert err.problems == ["a", "b"] and str(err).startswith("Flow 'f' has 2 problems")


# -- parameters -----------------------------------------------------------------------------------


def test_parameters_defaults_and_values() -> None:
    f = etl_flow()
    terminal = f.terminal_tasks()[0]
    assert f.run().result[terminal].result == 7
    assert f.run(parameters={"n": 10}).result[terminal].result == 21


def test_bad_parameters_are_refused_before_anything_runs() -> None:
    with Flow("params") as f:
        Parameter("n", required=True)
        Parameter("m", annotation=int, default=1)
    with pytest.raises(ParameterError) as info:
        f.run(parameters={"m": "many", "x": 1})
    text = str(info.value)
    assert "refused its parameters (3 problems)" in text
    assert "unknown parameter 'x' (the flow's parameters: m, n)" in text
    assert "parameter 'n' is required and was not given" in text
    assert "parameter 'm' got 'many', which is not a valid int" in text


def test_parameter_definition_errors() -> None:
    with pytest.raises(ValueError, match="is required and also has a default"):
        Parameter("n", default=1, required=True)
    with Flow("f"):
        p = Parameter("n", default=1)
        with pytest.raises(FlowDefinitionError, match="Parameter 'n' is not called"):
            p()


# -- the @flow decorator ------------------------------------------------------------------------


@flow
def pipeline(n: int = 3, label: str = "total") -> tuple[str, int]:
    xs = identity(n)
    return label, add(double(xs), one())


def test_flow_decorator_traces_once_into_a_static_dag() -> None:
    assert isinstance(pipeline, Flow)
    assert {p.name for p in pipeline.parameters()} == {"n", "label"}
    state = pipeline.run(n=4)
    assert state.is_successful()
    assert pipeline(n=4) == ("total", 9) and pipeline(5, label="x") == ("x", 11)


def test_flow_decorator_checks_types_with_pydantic() -> None:
    assert pipeline(n="6") == ("total", 13)
    with pytest.raises(ParameterError, match="parameter 'n' got 'six', which is not a valid int"):
        pipeline(n="six")


def test_calling_a_failed_flow_raises_naming_the_tasks() -> None:
    @flow
    def broken() -> object:
        return add(fail("bad"), 1)

    with pytest.raises(
        FlowRunError, match=r"Flow 'broken' did not succeed: Some reference tasks failed: 'add'"
    ) as info:
        broken()
    assert info.value.state.is_failed()


def test_flow_decorator_refuses_reserved_and_variadic_arguments() -> None:
    with pytest.raises(FlowDefinitionError, match="'executor', which flow.run\\(\\) keeps"):
        flow(lambda executor: None)
    with pytest.raises(FlowDefinitionError, match="takes \\*args"):
        flow(lambda *args: None)


def test_required_flow_argument() -> None:
    @flow
    def needs(n: int) -> object:
        return double(n)

    with pytest.raises(ParameterError, match="parameter 'n' is required"):
        needs()
    assert needs(n=2) == 4


# -- the flow's state -----------------------------------------------------------------------------


def test_flow_state_follows_reference_tasks(executor: object) -> None:
    with Flow("f") as f:
        bad = fail()
        handler = one(upstream_tasks=[bad], task_args={"trigger": triggers.any_failed})
    state = f.run(executor=executor)
    assert state.is_successful() and state.result[bad].is_failed()
    f.set_reference_tasks([bad, handler])
    state = f.run(executor=executor)
    assert state.is_failed() and state.message == "Some reference tasks failed: 'fail'."


def test_any_failed_handler_when_nothing_failed_skips_and_the_flow_succeeds(
    executor: object,
) -> None:
    with Flow("f") as f:
        ok = one()
        handler = one(upstream_tasks=[ok], task_args={"trigger": triggers.any_failed})
    state = f.run(executor=executor)
    assert state.result[handler].is_skipped() and state.is_successful()
    assert "skipped: 'one'" in (state.message or "")


def test_skipped_reference_tasks_count_as_success(executor: object) -> None:
    with Flow("f") as f:
        s = skip()
        after = double(s)
    state = f.run(executor=executor)
    assert (
        state.is_successful()
        and state.result[after].is_skipped()
        and state.result[after].reason == "upstream"
    )


def test_return_tasks_and_task_states(executor: object) -> None:
    from headwater.model.states import Success

    with Flow("f") as f:
        a = one()
        b = double(a)
    state = f.run(executor=executor, return_tasks=[b])
    assert list(state.result) == [b]
    state = f.run(executor=executor, task_states={a: Success(result=20)})
    assert state.result[b].result == 40


def test_flow_state_handlers() -> None:
    seen: list[str] = []
    with Flow("f", state_handlers=[lambda fl, old, new: seen.append(type(new).__name__)]) as f:
        one()
    f.run()
    assert seen == ["Running", "Success"]


def test_bad_run_arguments_are_refused_before_anything_runs() -> None:
    from headwater import HeadwaterError
    from headwater.model.states import Success

    with Flow("f") as f:
        a = one()
    with pytest.raises(TypeError, match="executor must be an Executor such as LocalExecutor"):
        f.run(executor="threads")
    with pytest.raises(
        HeadwaterError, match="task_states names tasks that are not in flow 'f': 'one'"
    ):
        f.run(task_states={one: Success()})
    with pytest.raises(HeadwaterError, match="the values for 'one' are not States"):
        f.run(task_states={a: 5})  # type: ignore[dict-item]
    with pytest.raises(HeadwaterError, match="return_tasks names tasks that are not in flow"):
        f.run(return_tasks=[one])
