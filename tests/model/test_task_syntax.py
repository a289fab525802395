"""Prefect 1's task operators, set_upstream/set_downstream, and Flow.chain/replace/update
(issue 13.10)."""

from __future__ import annotations

from typing import Any

import pytest

from headwater import (
    Flow,
    FlowDefinitionError,
    FlowValidationError,
    Parameter,
    Task,
    case,
    flow,
    task,
)
from headwater.model import states as S
from headwater.operators import Add, And, GreaterThan, Not, Or
from tests.flows import porting as P


@task
def seven() -> int:
    return 7


@task
def two() -> int:
    return 2


@task
def pair() -> list[int]:
    return [3, 4]


@task
def truthy() -> bool:
    return True


@task
def falsy() -> bool:
    return False


def test_operators_make_tasks_that_compute_on_results(executor: Any) -> None:
    with Flow("operators") as f:
        a, b = seven(), two()
        got = {
            "+": a + b, "-": a - b, "*": a * b, "/": a / b, "//": a // b, "%": a % b,
            "**": a**b, "r+": 1 + a, "r-": 10 - a, "r*": 3 * a, "r/": 14 / a, "r//": 15 // a,
            "r%": 15 % a, "r**": 2**b, ">": a > b, ">=": a >= 7, "<": a < b, "<=": a <= 6,
            "reflected >": 8 > a, "is_equal": a.is_equal(7), "is_not_equal": a.is_not_equal(b),
            "&": truthy() & a, "r&": 0 & a, "and_": falsy().and_(a), "or_": falsy().or_(a),
            "not_": a.not_(), "[]": pair()[1], "[task]": pair()[b - 1],
            "chained": (a + b) * (a - b),
        }  # fmt: skip
    state = f.run(executor=executor)
    assert state.is_successful(), state
    values = {k: state.result[t].result for k, t in got.items()}
    assert values == {
        "+": 9, "-": 5, "*": 14, "/": 3.5, "//": 3, "%": 1, "**": 49, "r+": 8, "r-": 3,
        "r*": 21, "r/": 2.0, "r//": 2, "r%": 1, "r**": 4, ">": True, ">=": True, "<": False,
        "<=": False, "reflected >": True, "is_equal": True, "is_not_equal": True, "&": 7,
        "r&": 0, "and_": False, "or_": 7, "not_": False, "[]": 4, "[task]": 4, "chained": 45,
    }  # fmt: skip


def test_operator_tasks_are_named_like_prefect_1s() -> None:
    with Flow("names"):
        a = seven()
        assert isinstance(a + 1, Add) and (a + 1).name == "Add"
        assert isinstance(a > 1, GreaterThan) and isinstance(a & a, And)
        assert isinstance(a.or_(1), Or) and isinstance(a.not_(), Not)
        assert (a + 1).name == "Add" and a[0].name == "seven[0]"
        assert a[a - 7].name == "seven[Sub]"  # a task as the key, named as in Prefect 1


def test_equality_stays_identity_and_tasks_stay_hashable() -> None:
    with Flow("identity") as f:
        a, b = seven(), seven()
        assert (a == a) is True and (a == b) is False and (a != b) is True
        n_tasks = len(f.tasks)
    assert len(f.tasks) == n_tasks  # == and != made no tasks
    assert len({a, b, a}) == 2 and a in f.tasks
    with pytest.raises(TypeError):
        ~a  # noqa: B018 - Prefect 1 has no ~ on tasks; not_() it is


def test_operators_outside_a_flow_are_refused() -> None:
    a = seven
    with pytest.raises(FlowDefinitionError, match="operator on a task makes a new task"):
        a + 1  # noqa: B018
    with pytest.raises(FlowDefinitionError, match="operator on a task"):
        a.is_equal(1)


def test_operators_on_parameters_of_a_flow_function(executor: Any) -> None:
    @flow
    def scaled(n: int = 3, factor: int = 10) -> Any:
        with case(n > 2, True):
            big = n * factor + 1
        return big, n.is_equal(3), (n % 2).is_equal(1)

    assert scaled.run(n=5, executor=executor).is_successful()
    assert scaled(n=5) == (51, False, True)
    state = scaled.run(n=1, executor=executor)
    big = next(t for t in scaled.tasks if t.name == "Add")
    assert state.result[big].is_skipped()


def test_set_upstream_and_set_downstream() -> None:
    with Flow("deps") as f:
        a = seven()
        b = P.inc.copy()
        b.set_upstream(a, key="x")
        c = P.double.copy()
        c.set_upstream(b, key="x", mapped=False)
        d = two()
        d.set_upstream(c)  # state-only
        e = P.double.copy()
        a.set_downstream(e, key="x")
        g = truthy()
        g.set_downstream(d)
    edges = {(e_.upstream_task, e_.downstream_task): e_ for e_ in f.edges}
    assert edges[(a, b)].key == "x"
    assert edges[(c, d)].key is None and edges[(g, d)].key is None
    assert edges[(a, e)].key == "x"
    state = f.run()
    assert state.result[b].result == 8 and state.result[e].result == 14
    assert state.result[c].result == 16


def test_set_upstream_mapped_and_with_an_explicit_flow(executor: Any) -> None:
    f = Flow("explicit")
    xs = P.double.copy()
    f.add_task(xs)
    f.constants[xs] = {"x": 3}  # (bound as a plain value, like set_dependencies does)
    numbers = Parameter("numbers", default=[1, 2, 3])
    mapped = P.inc.copy()
    mapped.set_upstream(numbers, flow=f, key="x", mapped=True)
    assert f.is_mapped(mapped)
    state = f.run(executor=executor)
    assert [c.result for c in state.result[mapped].map_states] == [2, 3, 4]


def test_pipe_operator_is_a_state_dependency() -> None:
    with Flow("pipes") as f:
        a, b, c = seven(), two(), truthy()
        assert (a | b | c) is c
        d = falsy()
        assert ([a, b] | d) is d
    ups = {(e.upstream_task, e.downstream_task) for e in f.edges if e.key is None}
    assert {(a, b), (b, c)} <= ups
    assert any(e.downstream_task is d for e in f.edges)
    assert all(e.key is None for e in f.edges if e.downstream_task in (b, c))


def test_dependency_mistakes_are_refused() -> None:
    lonely = seven.copy()
    with pytest.raises(FlowDefinitionError, match="needs a flow"):
        lonely.set_upstream(two)
    with Flow("bad"):
        a = seven()
        with pytest.raises(FlowDefinitionError, match="cannot be called with these arguments"):
            P.inc.copy().set_upstream(a, key="nope")
        with pytest.raises(FlowDefinitionError, match="takes a task"):
            a.set_downstream(3)  # type: ignore[arg-type]
        b = P.inc(a)
        with pytest.raises(FlowDefinitionError, match="already bound"):
            b.set_upstream(a, key="x")
        with pytest.raises(FlowDefinitionError, match="parameters are where a flow starts"):
            a.set_downstream(Parameter("p"))


def test_chain() -> None:
    with Flow("chain") as f:
        steps = [seven() for _ in range(4)]
        edges = f.chain(*steps)
    assert len(f.tasks) == 4 and f.edges == edges
    assert [(e.upstream_task, e.downstream_task) for e in edges] == list(
        zip(steps, steps[1:], strict=False)
    )
    lone = Flow("lone")
    t1, t2 = Task("t1"), Task("t2")
    lone.chain(t1, t2)
    assert lone.tasks == [t1, t2]


def test_chain_validate_reports_a_cycle() -> None:
    f = Flow("cycle")
    a, b = Task("a"), Task("b")
    f.chain(a, b)
    with pytest.raises(FlowValidationError, match="cycle"):
        f.chain(b, a, validate=True)


def test_replace_moves_edges_and_reference_tasks(executor: Any) -> None:
    with Flow("replace") as f:
        x, y = Parameter("x"), Parameter("y")
        res = P.add(x, y)
        out = P.double(res)
    f.set_reference_tasks([res])
    sub = P.add.copy(name="other-add")
    f.replace(res, sub)
    assert res not in f.tasks and sub in f.tasks
    assert f.reference_tasks() == [sub]
    assert {e.key for e in f.upstream_edges(sub)} == {"x", "y"}
    assert f.upstream_tasks(out) == [sub]
    state = f.run(parameters={"x": 10, "y": 11}, executor=executor)
    assert state.result[out].result == 42


def test_replace_with_plain_values_and_collections() -> None:
    with Flow("values") as f:
        x, y = Parameter("x"), Parameter("y")
        res = P.add(x, y)
    f.replace(x, 55)
    assert len(f.tasks) == 3
    assert f.run(parameters={"y": 6}).result[res].result == 61
    with Flow("lists") as g:
        x, y = Parameter("x"), Parameter("y")
        res = P.add(x, y)
    g.replace(x, [55, 56])
    g.replace(y, [1, 2])
    assert g.run().result[res].result == [55, 56, 1, 2]
    with Flow("tasks-in-a-list") as h:
        x = Parameter("x")
        res = P.total(x)
    h.replace(x, [seven.copy(), 1])
    assert h.run().result[res].result == 8


def test_replace_refusals() -> None:
    with Flow("bad") as f:
        a = seven()
        b = P.add(a, 1)
    with pytest.raises(FlowDefinitionError, match="not in flow"):
        f.replace(Task("stranger"), a)
    # the plain values bound to the old task are not carried over (as in Prefect 1)
    with pytest.raises(FlowValidationError, match="missing argument 'y'"):
        f.replace(b, P.add.copy())
    assert not f.has_task(b)


def test_update_adds_tasks_edges_and_values(executor: Any) -> None:
    with Flow("math") as source:
        x = Parameter("x")
        d = x["d"] + 4
    target = Flow("target")
    extra = seven.copy()
    target.add_task(extra)
    target.update(source)
    assert set(source.tasks) <= set(target.tasks) and extra in target.tasks
    state = target.run(parameters={"x": {"d": 42}}, executor=executor)
    assert state.result[d].result == 46
    assert len(source.tasks) == 3 and extra not in source.tasks  # the source is unchanged


def test_update_with_mapped_edges() -> None:
    t1, t2, t3 = seven.copy(), P.inc.copy(), P.double.copy()
    with Flow("one") as f1:
        m = t2.map(x=[1, 2], upstream_tasks=[t1])
    f2 = Flow("two")
    f2.add_edge(t2, t3, key="x")
    f2.update(f1)
    assert {t1, t2, t3, m} <= set(f2.tasks)
    assert len([e for e in f2.edges if e.mapped]) == 2  # the constant list and t1


def test_update_parameters_clash_unless_merged() -> None:
    with Flow("Add") as add_fl:
        a_number = Parameter("a_number", default=1)
        plus = P.inc(a_number)
    with Flow("Subtract") as sub_fl:
        a_number2 = Parameter("a_number", default=2)
        another = Parameter("another_number", default=2)
        minus = P.add(a_number2, another)
    with pytest.raises(FlowDefinitionError, match="both have a parameter named 'a_number'"):
        add_fl.update(sub_fl)
    assert minus not in add_fl.tasks  # refused before anything changed
    add_fl.update(sub_fl, merge_parameters=True)
    assert [p.name for p in add_fl.parameters()].count("a_number") == 1
    state = add_fl.run()
    assert state.result[plus].result == 3 and state.result[minus].result == 4


@pytest.mark.parametrize(("merge", "expected"), [(True, 3), (False, 2)])
def test_update_merges_reference_tasks_when_asked(merge: bool, expected: int) -> None:
    with Flow("Add") as add_fl:
        P.double(P.inc(Parameter("a", default=1)))
    with Flow("Sub") as sub_fl:
        res = P.add(Parameter("b", default=2), Parameter("c", default=2))
        P.double(res)
    sub_fl.set_reference_tasks([res])
    add_fl.update(sub_fl, merge_reference_tasks=merge)
    assert len(add_fl.reference_tasks()) == expected


def test_replaced_task_keeps_a_mapped_edge(executor: Any) -> None:
    with Flow("mapped") as f:
        xs = Parameter("xs", default=[1, 2])
        m = P.inc.map(xs)
    other = P.double.copy()
    f.replace(m, other)
    state = f.run(executor=executor)
    assert isinstance(state.result[other], S.Mapped)
    assert [c.result for c in state.result[other].map_states] == [2, 4]
