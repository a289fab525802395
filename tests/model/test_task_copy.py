"""Task.copy(**task_args) and Parameter.copy(name) as in Prefect Core 1."""

from __future__ import annotations

import datetime as dt

import pytest

from headwater import Flow, Parameter, Task, task
from tests.flows import engine as E
from tests.flows import fidelity as F
from tests.flows.basic import add, one


@task(tags=["a"], max_retries=1)
def tagged(x: int) -> int:
    return x


def test_copy_sets_attributes_checked_as_the_constructor_checks_them() -> None:
    copy = tagged.copy(
        name="plus",
        max_retries=2,
        retry_delay=5,
        timeout=dt.timedelta(seconds=3),
        retry_on=ValueError,
        tags=["b"],
    )
    assert isinstance(copy, Task) and copy is not tagged and copy.slug.startswith("plus-")
    assert (copy.name, copy.max_retries, copy.retry_delay) == ("plus", 2, dt.timedelta(seconds=5))
    assert copy.timeout == 3.0 and copy.retry_on == (ValueError,)
    assert copy.tags == {"a", "b"}  # added to the task's own, as in Prefect 1
    assert (tagged.name, tagged.max_retries, tagged.tags) == ("tagged", 1, {"a"})
    assert copy.run(4) == 4


@pytest.mark.parametrize(
    ("task_args", "error", "match"),
    [
        ({"nope": 1}, AttributeError, "Task 'tagged' has no attribute 'nope'"),
        ({"slug": "mine"}, AttributeError, "set name= instead"),
        ({"max_retries": -1}, ValueError, "max_retries must be an int >= 0"),
        ({"timeout": 0}, ValueError, "timeout must be > 0 seconds"),
        ({"retry_delay": "soon"}, TypeError, "retry_delay must be a datetime.timedelta"),
        ({"retry_on": "ValueError"}, TypeError, "retry_on takes exception types"),
        ({"trigger": 3}, TypeError, "trigger must be callable"),
        ({"nout": 0}, ValueError, "nout must be an int >= 1"),
        ({"name": ""}, ValueError, "a copy's name must be a non-empty str"),
    ],
)
def test_copy_refuses_what_the_constructor_refuses(
    task_args: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        tagged.copy(**task_args)


def test_a_copy_runs_with_the_options_it_was_given(executor: object) -> None:
    again = E.fails_twice.copy(max_retries=2, retry_delay=0.001)  # seconds, as a number
    with Flow("copied") as f:
        t = again()
    state = f.run(executor=executor).result[t]
    assert state.is_successful() and state.result == 3


def test_copying_a_task_with_dependencies_in_the_flow_being_defined_warns() -> None:
    with Flow("f"):
        a = one()
        b = add(a, 1)
        with pytest.warns(UserWarning, match="Copying task 'add'.*does not keep them"):
            b.copy()


def test_parameter_copy_takes_a_new_name(executor: object) -> None:
    n = Parameter("n", default=1)
    m = n.copy("m")
    assert (m.name, m.default, m.required) == ("m", 1, False) and m is not n
    with Flow("copies") as f:
        a = F.typed_identity(n)
        b = F.typed_identity(m)
    state = f.run(parameters={"m": 5}, executor=executor)
    assert (state.result[a].result, state.result[b].result) == (1, 5)


def test_parameter_copy_keeps_the_rules_of_parameters() -> None:
    with pytest.raises(TypeError, match=r"needs the copy's name, e\.g\. n\.copy\('n_2'\)"):
        Parameter("n").copy()
    required = Parameter("r").copy("s")
    assert required.name == "s" and required.required
    with pytest.raises(ValueError, match="'s' would be required and also have a default"):
        Parameter("r").copy("s", default=3)
    optional = Parameter("r").copy("s", default=3, required=False)
    assert (optional.default, optional.required) == (3, False)
