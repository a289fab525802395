"""Conditional control flow (PIN-15): case, switch, ifelse, merge, filter_results,
conditional, any_condition, all_conditions.

Design note
-----------
Every branch is guarded by a *gate*: a small task that compares the condition's result with
a value and returns True, or raises ``SKIP(reason="condition")``. A task behind a gate (a
state-only edge from it) is checked against the gate *before* its trigger: when the gate
skipped, the task is Skipped with the gate's reason; when the condition failed, the task is
TriggerFailed (the branch cannot know whether it should have run). So "tasks created inside
``case`` run only if the condition matches" holds whatever their trigger is.

- ``with case(cond, value):`` gates every task created inside the block (nested cases gate
  the inner gate, so an outer branch not taken skips everything inside it).
- ``switch(cond, {value: task})`` and ``ifelse(cond, a, b)`` gate existing tasks.
- Skips then propagate through the default trigger (reason "upstream") until a join:
  ``merge(*branches)`` (trigger ``not_all_skipped``) returns the result of the first branch,
  in argument order, that did not skip; or any task with the ``no_failed`` trigger.
- ``merge`` and ``filter_results`` look at upstream *states* (``wants_states``), never at a
  skipped task's result, so a skip is never mistaken for a value. A mapped branch counts as
  skipped in ``merge`` when every child skipped; ``filter_results`` looks at each child.
- Branching and joining take tasks: a plain value has no state, so passing one is refused
  when the flow is defined, as is comparing a condition with a task (``case(c, other_task)``).

Because a merge's state is an ordinary Success, a second ``case`` placed after it branches
again normally: conditions follow one another back to back.

A ``case`` on a mapped task compares the list of its results; inside ``apply_map``
(:mod:`headwater.model.apply_map`) the condition, the gate and the tasks behind it are all
mapped, so each element takes its own branch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from headwater.errors import FlowDefinitionError
from headwater.model import triggers
from headwater.model.signals import SKIP
from headwater.model.states import Failed, Mapped, Skipped, State
from headwater.model.task import Task, active_flow, gated_by

_MODES = ("equals", "truthy", "falsy")


class ConditionGate(Task):
    """Pass (return True) when the condition's result matches; otherwise skip.

    Args:
        value: the value to compare with (``mode="equals"``).
        mode: ``"equals"``, ``"truthy"`` or ``"falsy"``.
        name: the gate's name.
    """

    is_gate = True

    def __init__(self, value: Any = True, mode: str = "equals", name: str | None = None) -> None:
        if mode not in _MODES:
            raise ValueError(f"ConditionGate mode must be one of {_MODES}, got {mode!r}")
        self.value = value
        self.mode = mode
        super().__init__(name=name or "condition")

    def run(self, condition: Any) -> bool:  # type: ignore[override]
        """Return True when ``condition`` matches, else raise SKIP(reason="condition")."""
        if self.mode == "truthy":
            matched, wanted = bool(condition), "truthy"
        elif self.mode == "falsy":
            matched, wanted = not condition, "falsy"
        else:
            matched, wanted = bool(condition == self.value), repr(self.value)
        if matched:
            return True
        raise SKIP(f"Condition {self.name!r} was {condition!r}, not {wanted}.", reason="condition")


def _require_flow(what: str) -> Any:
    flow = active_flow()
    if flow is None:
        raise FlowDefinitionError(
            f"{what} can only be used while defining a flow (inside `with Flow(...):` or @flow)"
        )
    return flow


def _require_tasks(what: str, tasks: tuple[Any, ...]) -> None:
    if not tasks:
        raise FlowDefinitionError(f"{what} needs at least one task")
    for t in tasks:
        if not isinstance(t, Task):
            raise FlowDefinitionError(
                f"{what} takes tasks, got {t!r}: a plain value has no state to branch on "
                "or join; make it the result of a task"
            )


def _gate(condition: Any, value: Any, mode: str, label: str) -> Task:
    if isinstance(value, Task):
        raise FlowDefinitionError(
            f"{label}(...) compares the condition with a plain value, got the task "
            f"{value.name!r}; to compare two results, make a task that compares them and "
            "branch on its result"
        )
    name = getattr(condition, "name", repr(condition))
    test = {"equals": f"{name} == {value!r}", "truthy": name, "falsy": f"not {name}"}[mode]
    return ConditionGate(value, mode, name=f"{label}({test})")(condition)


@contextlib.contextmanager
def case(condition: Any, value: Any) -> Iterator[Task]:
    """Run the tasks created inside the block only when ``condition``'s result == ``value``.

    Args:
        condition: a task (or value) whose result is compared.
        value: the value that selects this branch.

    Yields:
        The gate task (tasks behind it run only when it passes).

    >>> from headwater import Flow, task
    >>> @task
    ... def pick(): return "a"
    >>> @task
    ... def shout(x): return x.upper()
    >>> with Flow("branch") as f:
    ...     p = pick()
    ...     with case(p, "a"):
    ...         a = shout("yes")
    ...     with case(p, "b"):
    ...         b = shout("no")
    >>> state = f.run()
    >>> state.result[a].result, state.result[b].is_skipped()
    ('YES', True)
    """
    _require_flow("case(...)")
    gate = _gate(condition, value, "equals", "case")
    with gated_by(gate):
        yield gate


def switch(condition: Any, cases: Mapping[Any, Task]) -> None:
    """Run only the task whose key equals ``condition``'s result; the others skip.

    Args:
        condition: a task whose result selects the branch.
        cases: value -> task (tasks already in the flow).
    """
    flow = _require_flow("switch(...)")
    if not isinstance(cases, Mapping) or not cases:
        raise FlowDefinitionError(
            f"switch(...) needs a non-empty dict of value -> task, got {cases!r}"
        )
    for value, branch in cases.items():
        if not isinstance(branch, Task):
            raise FlowDefinitionError(
                f"switch(...): the branch for {value!r} must be a task, got {branch!r}"
            )
        flow.add_edge(_gate(condition, value, "equals", "switch"), branch)


def ifelse(condition: Any, true_task: Task, false_task: Task) -> None:
    """Run ``true_task`` when ``condition``'s result is truthy, else ``false_task``.

    Args:
        condition: a task whose result is tested for truth.
        true_task: the branch for a truthy result.
        false_task: the branch for a falsy result.
    """
    flow = _require_flow("ifelse(...)")
    _require_tasks("ifelse(...)", (true_task, false_task))
    flow.add_edge(_gate(condition, True, "truthy", "if"), true_task)
    flow.add_edge(_gate(condition, False, "falsy", "if"), false_task)


def conditional(condition: Any, task: Task) -> Task:
    """Run ``task`` only when ``condition``'s result is truthy (PIN-15); returns ``task``.

    Args:
        condition: a task whose result is tested for truth.
        task: the task to guard.
    """
    flow = _require_flow("conditional(...)")
    _require_tasks("conditional(...)", (task,))
    flow.add_edge(_gate(condition, True, "truthy", "if"), task)
    return task


class Merge(Task):
    """Return the result of the first upstream branch, in argument order, that did not skip."""

    wants_states = True

    def __init__(self, name: str = "merge") -> None:
        super().__init__(name=name, trigger=triggers.not_all_skipped)

    def run(self, **branches: State | tuple[State, ...]) -> Any:
        """Return the first non-skipped branch's result (branches named ``branch_<i>``).

        A mapped branch (a tuple of children's states) counts as skipped when every child
        skipped; otherwise its value is the list of its children's results.
        """
        order = sorted(branches, key=lambda k: int(k.rsplit("_", 1)[1]))
        for key in order:
            state = branches[key]
            if isinstance(state, tuple):
                if not all(s.is_skipped() for s in state):
                    return [s.result for s in state]
            elif not state.is_skipped():
                return state.result
        return None


def merge(*tasks: Task, name: str = "merge") -> Task:
    """Join branches: the first result, in argument order, of a task that did not skip.

    Its trigger is ``not_all_skipped``: it skips when every branch skipped and is
    TriggerFailed when a branch failed.

    Args:
        *tasks: the branches' last tasks.
        name: the merge task's name.
    """
    _require_flow("merge(...)")
    _require_tasks("merge(...)", tasks)
    branches: dict[str, Any] = {f"branch_{i}": t for i, t in enumerate(tasks)}
    return Merge(name=name)(**branches)


class FilterResults(Task):
    """Keep the results of the children that did not end in one of the ``drop`` states.

    Args:
        drop: state classes to leave out.
        name: the task's name.
    """

    wants_states = True

    def __init__(
        self, drop: tuple[type[State], ...] = (Skipped, Failed), name: str = "filter_results"
    ) -> None:
        self.drop = tuple(drop)
        super().__init__(name=name, trigger=triggers.all_finished)

    def run(self, states: State | tuple[State, ...]) -> list[Any]:  # type: ignore[override]
        """Return the kept children's results, in index order."""
        children: list[State] = []
        for s in states if isinstance(states, tuple) else (states,):
            children.extend(s.map_states if isinstance(s, Mapped) else (s,))
        return [s.result for s in children if not isinstance(s, self.drop)]


def filter_results(
    mapped: Task, drop: tuple[type[State], ...] = (Skipped, Failed), name: str = "filter_results"
) -> Task:
    """A reduce that drops the children that skipped or failed (or any ``drop`` states).

    Args:
        mapped: a mapped task.
        drop: state classes to leave out.
        name: the task's name.
    """
    _require_flow("filter_results(...)")
    _require_tasks("filter_results(...)", (mapped,))
    return FilterResults(drop, name=name)(mapped)


class _Conditions(Task):
    wants_states = True

    def __init__(self, combine: Any, name: str) -> None:
        self.combine = combine
        super().__init__(name=name, trigger=triggers.no_failed)

    def run(self, **conditions: State | tuple[State, ...]) -> bool:
        truths = []
        for state in conditions.values():
            for s in state if isinstance(state, tuple) else (state,):
                truths.append(s.is_successful() and bool(s.result))
        return bool(self.combine(truths))


def _numbered(conditions: tuple[Task, ...]) -> dict[str, Any]:
    return {f"condition_{i}": c for i, c in enumerate(conditions)}


def any_condition(*conditions: Task) -> Task:
    """A condition that is True when any of ``conditions`` is truthy (skipped ones are False).

    Args:
        *conditions: tasks whose results are tested for truth.
    """
    _require_flow("any_condition(...)")
    _require_tasks("any_condition(...)", conditions)
    return _Conditions(any, "any_condition")(**_numbered(conditions))


def all_conditions(*conditions: Task) -> Task:
    """A condition that is True when all of ``conditions`` are truthy (skipped ones are False).

    Args:
        *conditions: tasks whose results are tested for truth.
    """
    _require_flow("all_conditions(...)")
    _require_tasks("all_conditions(...)", conditions)
    return _Conditions(all, "all_conditions")(**_numbered(conditions))


__all__ = [
    "ConditionGate",
    "FilterResults",
    "Merge",
    "all_conditions",
    "any_condition",
    "case",
    "conditional",
    "filter_results",
    "ifelse",
    "merge",
    "switch",
]
