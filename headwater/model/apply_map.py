"""``apply_map``: map a function that builds tasks (conditions included) over elements.

Design note
-----------
``task.map(xs)`` maps one task; ``apply_map(fn, xs)`` maps a whole piece of flow. As in
Prefect 1, ``fn`` is called once, with placeholders, to build its tasks apart (in a scratch
flow, outside any enclosing ``case``); then every task it made is added to the flow as a
mapped task:

- an edge between two tasks ``fn`` made becomes element-wise (child ``i`` takes child ``i``),
  so a ``case`` inside ``fn`` gates each element on its own condition: the gate is mapped too,
  and the planner checks child ``i``'s gate before child ``i``'s trigger
  (docs/notices/0005-control-flow.md);
- an argument of ``apply_map`` is mapped over, unless wrapped in ``unmapped(...)`` (passed
  whole) or ``flatten(...)`` (mapped over the concatenation); a plain sequence becomes a
  ``Constant`` task to map over; an ``unmapped`` plain value reaches ``fn`` as it is;
- a task of the flow that ``fn`` uses without receiving it as an argument (a closure, a
  Parameter) is passed whole to every child;
- a task ``fn`` made that takes nothing from the others it made waits for every argument, so
  every task of one element runs once the inputs exist and all have the same number of
  children.

Tasks ``fn`` makes are then gated by the ``case`` blocks around the ``apply_map`` call, as
tasks made there directly would be. Inside ``fn`` tasks are already mapped: ``.map(...)`` and
a nested ``apply_map`` are refused, as is a ``flatten`` between two of its tasks (each child
sees one element; flatten the argument of ``apply_map`` instead).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from headwater.errors import FlowDefinitionError
from headwater.model.builtin_tasks import Constant, as_task
from headwater.model.flow import Edge, Flow
from headwater.model.parameter import Parameter
from headwater.model.task import Task, active_flow, defining, gated_by, unwrap

Flags = tuple[bool, bool]
"""How an argument is taken: (mapped, flattened)."""


def apply_map(fn: Callable[..., Any], *args: Any, flow: Flow | None = None, **kwargs: Any) -> Any:
    """Call ``fn`` once per element of its arguments, as a mapped piece of flow.

    Every task ``fn`` creates becomes a mapped task: child ``i`` of each works on element
    ``i``, and a ``case`` inside ``fn`` decides per element (see the module's note).

    Args:
        fn: a function that calls tasks (and may use ``case``, ``merge``...).
        *args: arguments to map over; wrap one in ``unmapped(...)`` to pass it whole, in
            ``flatten(...)`` to map over the concatenation of its lists.
        flow: the flow to add to (the active flow by default); when given, ``fn`` must take
            a ``flow`` keyword argument and receives the flow to build in.
        **kwargs: keyword arguments to map over, as ``args``.

    Returns:
        What ``fn`` returned (its tasks are now mapped tasks of the flow).

    Raises:
        FlowDefinitionError: outside a flow; when nothing is mapped over, an argument is not
            a sequence, or ``fn`` maps (``.map``, a nested ``apply_map``) or flattens between
            its own tasks.
    """
    target = flow or active_flow()
    if target is None:
        raise FlowDefinitionError(
            "apply_map(...) can only be used while defining a flow (inside `with Flow(...):` "
            "or a @flow function), or with flow=..."
        )
    name = getattr(fn, "__name__", repr(fn))
    before = set(target.tasks)
    arg_info: dict[Task, Flags] = {}
    args2 = [_prepare(v, f"argument {i}", target, arg_info) for i, v in enumerate(args)]
    kwargs2 = {k: _prepare(v, f"argument {k!r}", target, arg_info) for k, v in kwargs.items()}
    if not any(mapped for mapped, _ in arg_info.values()):
        raise FlowDefinitionError(
            f"apply_map({name}, ...) has nothing to map over: give it at least one argument "
            "that is not unmapped(...)"
        )
    scratch = Flow(f"apply_map({name})")
    with defining(scratch), gated_by(None):
        result = fn(*args2, **kwargs2) if flow is None else fn(*args2, flow=scratch, **kwargs2)
    made = [t for t in scratch.tasks if t not in before and t not in arg_info]
    _copy_into(target, scratch, made, arg_info, name)
    return result


def _prepare(value: Any, what: str, target: Flow, arg_info: dict[Task, Flags]) -> Any:
    """What ``fn`` receives for one argument; records how the argument is mapped."""
    value, mapped, flat = unwrap(value)
    task = as_task(value, target)
    if task is None:
        if not mapped and not flat:
            return value  # a plain value passed whole: bound as a constant where used
        if not isinstance(value, Sequence) or isinstance(value, Task):
            raise FlowDefinitionError(
                f"apply_map cannot map over {what}: a {type(value).__name__!r} is not a "
                "sequence (map over a list or tuple, or wrap it in unmapped(...))"
            )
        task = target.add_task(Constant(value))
    if arg_info.get(task, (mapped, flat)) != (mapped, flat):
        raise FlowDefinitionError(
            f"apply_map got task {task.name!r} twice, mapped one way and another; pass it once"
        )
    arg_info[task] = (mapped, flat)
    return task


def _copy_into(
    target: Flow, scratch: Flow, made: list[Task], arg_info: dict[Task, Flags], name: str
) -> None:
    """Add ``fn``'s tasks, edges and bound values to ``target``, mapped per element."""
    made_set = set(made)
    inner = {t for t in made if not isinstance(t, Parameter)}
    edges: list[tuple[Edge, bool, bool]] = []
    for e in scratch.edges:
        if e.mapped:
            raise FlowDefinitionError(
                f"Inside apply_map({name}, ...), task {e.downstream_task.name!r} is mapped "
                "again: tasks there already run once per element; call them directly, not "
                "with .map(...) or a nested apply_map(...)"
            )
        mapped, flat = False, e.flattened
        if e.downstream_task in made_set:
            if e.upstream_task in arg_info:
                mapped, arg_flat = arg_info[e.upstream_task]
                flat = flat or arg_flat
            elif e.upstream_task in inner:
                mapped = True
        if mapped and e.flattened:
            raise FlowDefinitionError(
                f"Inside apply_map({name}, ...), task {e.downstream_task.name!r} flattens "
                f"{e.upstream_task.name!r}, but each child sees one element; flatten the "
                "argument given to apply_map instead: apply_map(fn, flatten(xs))"
            )
        edges.append((e, mapped, flat))
    for t in made:
        target.add_task(t)
    for e, mapped, flat in edges:
        target.add_edge(e.upstream_task, e.downstream_task, e.key, mapped, flat)
    for t, values in scratch.constants.items():
        target.set_dependencies(t, keyword_tasks=values)
    for t in inner:
        upstream = set(target.upstream_tasks(t))
        if upstream & inner:
            continue
        for arg, (mapped, flat) in arg_info.items():
            if arg not in upstream:
                target.add_edge(arg, t, None, mapped, flat)


__all__ = ["apply_map"]
