"""Parameters as in Prefect Core 1: required unless they have a default, checked before
anything runs, copied under a new name."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import Flow, Parameter, ParameterError
from tests.flows import fidelity as F
from tests.flows.targets import calls_in


def test_a_parameter_without_a_default_is_required(executor: object, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    with Flow("required") as f:
        n = Parameter("n")
        F.noted(str(calls), n)
        F.noted(str(calls))  # needs no parameter, and still must not run
        m = F.typed_identity(Parameter("m", required=False))  # explicitly optional
        o = F.typed_identity(Parameter("o", default=None))
    with pytest.raises(ParameterError) as info:
        f.run(executor=executor)
    assert "(1 problem)" in str(info.value)
    assert "parameter 'n' is required and was not given" in str(info.value)
    assert calls_in(calls) == []
    state = f.run(parameters={"n": 4}, executor=executor)
    assert state.is_successful() and sorted(calls_in(calls)) == ["noted", "noted"]
    assert state.result[m].result is None and state.result[o].result is None


def test_required_follows_the_default_as_in_prefect_1() -> None:
    assert Parameter("a").required is True
    assert Parameter("b", default=3).required is False
    assert Parameter("c", default=None).required is False  # an explicit None is a default
    optional = Parameter("d", required=False)
    assert optional.required is False and optional.default is None
    assert Parameter("e", default=None, required=True).required is True
    with pytest.raises(ValueError, match="'f' is required and also has a default"):
        Parameter("f", default=1, required=True)


def test_parameters_as_keyword_arguments_of_run_and_the_context_as_attributes(
    executor: object,
) -> None:
    """As in Prefect 1: ``flow.run(n=5)`` gives parameter n, and a task may read
    ``context.today`` as well as ``context["today"]``."""
    with Flow("keywords") as f:
        n = Parameter("n")
        got = F.day_and_name(n)
    state = f.run(n=5, executor=executor)
    assert state.is_successful(), state.message
    value, today, name = state.result[got].result
    assert (value, name) == (5, "day_and_name") and len(today) == 10 and today[4] == "-"
    assert f.run(parameters={"n": 1}, n=2, executor=executor).result[got].result[0] == 2
    with pytest.raises(ParameterError, match="unknown parameter 'm'"):
        f.run(m=5, n=1, executor=executor)
