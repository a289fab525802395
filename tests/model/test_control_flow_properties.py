"""Property test: random conditions and branch layouts end in the states a small reference
model predicts.

A layout is a condition source (a value, a task that fails, a task that skips) followed by one
to three *stages*; each stage branches on the current condition with ``case`` blocks (maybe
nested, maybe with a chain after the first task), a ``switch`` or an ``ifelse``, then merges
its branches into the next stage's condition, and maybe joins them with a ``no_failed`` task.
Branch bodies give a value, fail, skip, or map over a (possibly empty) list.

The model below is written from the rules of docs/notices/0005-control-flow.md and
docs/control-flow.md alone, not from the engine's code: a gate is checked before a trigger; a
condition that failed gives TriggerFailed, one that skipped gives Skipped; a value that does not
match gives Skipped(reason="condition"); merge takes the first branch in argument order that
did not skip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater import Flow, Task, case, ifelse, merge, switch
from headwater.model import states as S
from tests.flows import control_flows as C

# -- the reference model --------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """The predicted state of one task: its kind, result, skip reason and children."""

    kind: str  # Success, Mapped, Skipped, Failed, TriggerFailed
    value: Any = None
    reason: str | None = None
    children: tuple[Model, ...] = ()
    skipped_children: tuple[Model, ...] = field(default=(), compare=False)
    """A skipped map's children: what a downstream trigger still sees."""

    def ok(self) -> bool:
        return self.kind in ("Success", "Mapped")

    def failed(self) -> bool:
        return self.kind in ("Failed", "TriggerFailed")

    def skipped(self) -> bool:
        return self.kind == "Skipped"

    def result(self) -> Any:
        if self.kind == "Mapped":
            return [c.result() for c in self.children]
        return self.value if self.kind == "Success" else None

    def states(self) -> tuple[Model, ...]:
        """What a downstream trigger sees: every child of a map with children, else itself."""
        return self.children or self.skipped_children or (self,)

    def any_failed(self) -> bool:
        return self.failed() or any(c.failed() for c in self.children)


def success(value: Any) -> Model:
    return Model("Success", value)


def skip(reason: str) -> Model:
    return Model("Skipped", reason=reason)


def mapped(kids: tuple[Model, ...]) -> Model:
    """A map with children: Skipped when every child skipped (its children's most common
    reason, ties in the order of SKIP_REASONS), else Mapped."""
    if not all(k.skipped() for k in kids):
        return Model("Mapped", children=kids)
    reasons = [k.reason for k in kids]
    reason = max(S.SKIP_REASONS, key=lambda r: (reasons.count(r), -S.SKIP_REASONS.index(r)))
    return Model("Skipped", reason=reason, skipped_children=kids)


TRIGGER_FAILED = Model("TriggerFailed")


def gate_check(gate: Model | None) -> Model | None:
    """A task behind a condition: checked before its trigger."""
    if gate is None or gate.ok():
        return None
    if gate.failed():
        return TRIGGER_FAILED
    return skip("condition" if gate.reason == "condition" else "upstream")


def all_successful(upstream: Sequence[Model]) -> Model | None:
    if any(u.failed() for u in upstream):
        return TRIGGER_FAILED
    if not all(u.ok() for u in upstream):
        return skip("upstream")
    return None


def run_task(gate: Model | None, upstream: Sequence[Model], outcome: Model) -> Model:
    return gate_check(gate) or all_successful(upstream) or outcome


def condition_gate(outer: Model | None, condition: Model, test: Any) -> Model:
    """A gate: passes (True) when ``test(value)`` holds, else skips with reason condition."""
    early = gate_check(outer) or all_successful([condition])
    if early is not None:
        return early
    return success(True) if test(condition.value) else skip("condition")


def merge_model(branches: Sequence[Model]) -> Model:
    upstream = [s for b in branches for s in b.states()]
    if any(u.failed() for u in upstream):
        return TRIGGER_FAILED
    if all(u.skipped() for u in upstream):
        return skip("upstream")
    for b in branches:
        if b.children and not all(c.skipped() for c in b.children):
            return success(b.result())
        if not b.children and not b.skipped():
            return success(b.result())
    return success(None)


def join_model(branches: Sequence[Model]) -> Model:
    if any(s.failed() for b in branches for s in b.states()):
        return TRIGGER_FAILED
    return success("joined")


# -- layouts --------------------------------------------------------------------------------

# Repeated alternatives weigh more: most conditions have a value and most bodies succeed, so
# that failures and skips do not swallow every later stage.
values = st.integers(min_value=0, max_value=2)
value_source = st.tuples(st.just("value"), values)
sources = st.one_of(
    value_source, value_source, value_source, st.just(("fail",)), st.just(("skip",))
)
give_body = st.tuples(st.just("give"), values)
mapped_body = st.tuples(st.just("mapped"), st.lists(values, max_size=3))
bodies = st.one_of(
    give_body, give_body, mapped_body, mapped_body, st.just(("fail",)), st.just(("skip",))
)
nested = st.none() | st.tuples(st.one_of(st.just(("stage",)), sources), values, values)
case_branches = st.tuples(values, bodies, st.booleans(), nested)
stages = st.tuples(
    st.one_of(
        st.tuples(st.just("case"), st.lists(case_branches, min_size=1, max_size=3)),
        st.tuples(st.just("switch"), st.dictionaries(values, bodies, min_size=1, max_size=3)),
        st.tuples(st.just("ifelse"), st.tuples(bodies, bodies)),
    ),
    st.booleans(),  # join the branches with a no_failed task too
)
layouts = st.tuples(sources, st.lists(stages, min_size=1, max_size=3))


class Builder:
    """Builds a layout's flow and, task by task, the model's prediction."""

    def __init__(self) -> None:
        self.expected: dict[Task, Model] = {}

    def add(self, t: Task, model: Model) -> tuple[Task, Model]:
        self.expected[t] = model
        return t, model

    def source(self, spec: tuple[Any, ...], gate: Model | None) -> tuple[Task, Model]:
        if spec[0] == "value":
            return self.add(C.give(spec[1]), run_task(gate, [], success(spec[1])))
        if spec[0] == "fail":
            return self.add(C.boom(), run_task(gate, [], Model("Failed")))
        return self.add(C.skipper(), run_task(gate, [], skip("task")))

    def body(self, spec: tuple[Any, ...], gate: Model, in_block: bool) -> tuple[Task, Model]:
        """A branch's first task. Outside a case block (switch, ifelse) the caller adds the
        gate afterwards, so a mapped body's constant is not behind it."""
        if spec[0] == "give":
            return self.add(C.give(spec[1]), run_task(gate, [], success(spec[1])))
        if spec[0] != "mapped":
            return self.source(spec, gate)
        items = spec[1]
        t = C.give.map(items)
        constant = run_task(gate if in_block else None, [], success(items))
        kids = tuple(run_task(gate, [constant], success(u)) for u in items)
        if not items:  # no child to check the gate: the parent does
            return self.add(t, gate_check(gate) or Model("Mapped"))
        return self.add(t, mapped(kids))

    def stage(
        self, cond: tuple[Task, Model], spec: tuple[Any, ...]
    ) -> tuple[list[Task], list[Model]]:
        cond_task, cond_model = cond
        ends: list[Task] = []
        models: list[Model] = []
        if spec[0] == "case":
            for value, body, chained, inner in spec[1]:
                with case(cond_task, value):
                    gate = condition_gate(None, cond_model, lambda v, w=value: v == w)
                    t, m = self.body(body, gate, in_block=True)
                    if chained:
                        t, m = self.add(
                            C.collect(t), run_task(gate, m.states(), success(m.result()))
                        )
                    if inner is not None:
                        where, inner_value, give_value = inner
                        inner_cond = cond if where == ("stage",) else self.source(where, gate)
                        with case(inner_cond[0], inner_value):
                            inner_gate = condition_gate(
                                gate, inner_cond[1], lambda v, w=inner_value: v == w
                            )
                            self.add(
                                C.give(give_value), run_task(inner_gate, [], success(give_value))
                            )
                ends.append(t)
                models.append(m)
        elif spec[0] == "switch":
            branches = {}
            for value, body in spec[1].items():
                gate = condition_gate(None, cond_model, lambda v, w=value: v == w)
                t, m = self.body(body, gate, in_block=False)
                branches[value] = t
                ends.append(t)
                models.append(m)
            switch(cond_task, branches)
        else:
            yes_gate = condition_gate(None, cond_model, bool)
            no_gate = condition_gate(None, cond_model, lambda v: not v)
            yes, yes_model = self.body(spec[1][0], yes_gate, in_block=False)
            no, no_model = self.body(spec[1][1], no_gate, in_block=False)
            ifelse(cond_task, yes, no)
            ends, models = [yes, no], [yes_model, no_model]
        return ends, models


def build(layout: tuple[Any, ...]) -> tuple[Flow, dict[Task, Model]]:
    source, stage_specs = layout
    builder = Builder()
    with Flow("random-branches") as f:
        cond = builder.source(source, None)
        for spec, joined in stage_specs:
            ends, models = builder.stage(cond, spec)
            if joined:
                branches: dict[str, Any] = {f"b{i}": t for i, t in enumerate(ends)}
                builder.add(C.join(**branches), join_model(models))
            cond = builder.add(merge(*ends), merge_model(models))
    return f, builder.expected


def describe(state: S.State) -> Model:
    """The engine's state in the model's terms."""
    kind = type(state).__name__
    if isinstance(state, S.Mapped):
        return Model("Mapped", children=tuple(describe(c) for c in state.map_states))
    if isinstance(state, S.Skipped):
        return skip(state.reason)
    if kind == "Success":
        return success(state.result)
    return Model(kind)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(layout=layouts)
def test_random_branch_layouts_match_the_model(executor: Any, layout: tuple[Any, ...]) -> None:
    f, expected = build(layout)
    flow_state = f.run(executor=executor)
    states: Mapping[Task, S.State] = flow_state.result
    got = {t: describe(states[t]) for t in expected}
    assert got == expected
    terminal = f.terminal_tasks()
    assert set(terminal) <= set(expected)
    assert flow_state.is_failed() == any(expected[t].any_failed() for t in terminal)


def test_the_model_predicts_a_known_layout() -> None:
    """The model itself, on the PIN-15 example: a case after the merge of another."""
    first = merge_model([success(1), skip("condition")])
    assert first == success(1)
    gate = condition_gate(None, first, lambda v: v == 1)
    assert run_task(gate, [], success("after")) == success("after")
    failed = condition_gate(None, Model("Failed"), lambda v: v == 1)
    assert run_task(failed, [], success("x")) == TRIGGER_FAILED
    untaken = condition_gate(None, success(2), lambda v: v == 1)
    assert run_task(untaken, [], success("x")) == skip("condition")
    inner = condition_gate(untaken, success(1), lambda v: v == 1)
    assert run_task(inner, [], success("x")) == skip("condition")
