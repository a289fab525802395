"""Flows whose state handlers raise (tests/engine/test_handlers.py)."""

from __future__ import annotations

from typing import Any

from headwater import Flow, signals, task
from headwater.model.states import State


@task
def one() -> int:
    return 1


@task
def add(x: int, y: int) -> int:
    return x + y


def refuse_success(obj: Any, old: State, new: State) -> None:
    if new.is_successful():
        raise ValueError("no success here")


def skip_on_running(obj: Any, old: State, new: State) -> None:
    if new.is_running():
        raise signals.SKIP("skipped by its handler")


def refuse_running(obj: Any, old: State, new: State) -> None:
    if new.is_running():
        raise RuntimeError("not today")


@task(state_handlers=[skip_on_running])
def skipped_by_handler() -> int:
    return 2


def build(flow_handlers: list[Any]) -> tuple[Flow, Any, Any]:
    """A flow of three tasks (one handler skips one of them) with the given flow handlers."""
    with Flow("handled", state_handlers=flow_handlers) as f:
        a = one()
        b = add(a, 1)
        skipped_by_handler()
    return f, a, b


@task
def fails_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two is not welcome")
    return x * 10


def mapped(**flow_options: Any) -> tuple[Flow, Any]:
    """A flow whose reference task is a map of three children, the second of which fails."""
    with Flow("mapped", **flow_options) as f:
        m = fails_on_two.map([1, 2, 3])
    return f, m
