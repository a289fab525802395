"""Location templates never clash with a task's argument names (issue 13.5): a method used
as a task (it takes ``self``) can have a target, and an argument named like a run-context
key (``flow_name``) is never silently replaced by the context's value."""

from __future__ import annotations

from pathlib import Path

from headwater import Flow
from headwater.results import LocalResult
from tests.flows import trust as T


def test_a_method_used_as_a_task_can_have_a_target(tmp_path: Path, executor: object) -> None:
    with Flow("methods", result=LocalResult(dir=str(tmp_path))) as flow:
        loaded = T.Loader.load(T.Loader(), 3)
    first = flow.run(executor=executor).result[loaded]
    assert first.is_successful() and first.result == 6, first
    assert (tmp_path / "methods" / "3.pkl").exists()
    again = flow.run(executor=executor).result[loaded]
    assert again.is_cached() and again.result == 6


def test_an_argument_named_like_a_context_key_is_never_silently_replaced(
    tmp_path: Path,
) -> None:
    with Flow("fields", result=LocalResult(dir=str(tmp_path))) as flow:
        clash = T.ambiguous("from-the-argument", 1)
        clear = T.disambiguated("from-the-argument", 2)
    state = flow.run()
    assert state.result[clash].is_failed()
    message = state.result[clash].message or ""
    assert "uses {flow_name}, which is both an argument of the task and a key of the run" in message
    assert "{inputs[flow_name]}" in message and "{context[flow_name]}" in message
    assert not (tmp_path / "fields" / "1.pkl").exists()
    assert state.result[clear].result == "from-the-argument-2"
    assert (tmp_path / "from-the-argument" / "fields-2.pkl").exists()
