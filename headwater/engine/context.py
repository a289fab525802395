"""What a flow run puts in the run context: the flow-level keys, then each task run's keys.

Design note
-----------
The context a task reads (:data:`headwater.context`, :mod:`headwater.model.context`) is
filled in two layers. The flow runner builds the flow-level keys once per run
(:func:`flow_run_context`): ``flow_name``, ``flow_run_id``, ``flow_run_name``,
``scheduled_start_time``, ``date`` and the dates derived from it as in Prefect Core 1
(``today``, ``yesterday``, ``tomorrow`` and their ``_nodash`` forms), then the caller's
``context=`` on top, then ``parameters`` (the resolved values, read-only), which nothing
given can replace. The task runner layers each try's keys over them
(:func:`task_run_context`): ``task_name``, ``task_full_name``, ``task_slug``, ``task_tags``,
``task_run_id``, ``task_run_count``, ``map_index``, ``task_loop_count``, ``resume``,
``task_loop_result`` from the second LOOP iteration on (and ``task_run_name`` once rendered).
``logger`` is not stored: the read-only view makes it when it is read. docs/engine.md lists
them for users.

Parameters are given once: ``context={"parameters": {...}}`` (Prefect 1 allowed it) is taken
as values under the explicit ``parameters=`` (:func:`given_parameters`), so they are checked
like any other value before anything runs.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from headwater.errors import HeadwaterError, ParameterError
from headwater.model.states import State
from headwater.model.task import Task

_DAY = _dt.timedelta(days=1)


def given_parameters(
    parameters: Mapping[str, Any] | None, context: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``context["parameters"]`` out of a run's context: its values go under the
    explicit ``parameters`` (which win), and all of them are then resolved and checked.

    Args:
        parameters: the values given as ``parameters=``.
        context: the context given as ``context=``.

    Returns:
        The parameter values, and the context without ``parameters``.

    Raises:
        ParameterError: when ``context["parameters"]`` is not a mapping.
    """
    ctx = dict(context or {})
    from_context = ctx.pop("parameters", None)
    if from_context is None:
        return dict(parameters or {}), ctx
    if not isinstance(from_context, Mapping):
        raise ParameterError(
            f"context['parameters'] must map parameter names to values, got "
            f"{type(from_context).__name__} {from_context!r}; pass parameters=... instead."
        )
    return {**from_context, **(parameters or {})}, ctx


def flow_run_context(
    flow_name: str,
    run_id: str,
    parameters: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
    now: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The flow-level keys of a run's context, with the caller's ``context`` on top.

    Args:
        flow_name: the flow's name.
        run_id: the flow run's id (``flow_run_id`` in ``context`` replaces it).
        parameters: every parameter's value (resolved and checked; always wins).
        context: extra keys given to the run (they win over the flow-level keys).
        now: when the run starts (UTC now by default).

    Raises:
        HeadwaterError: ``context["date"]`` is neither a date, a datetime nor an ISO 8601
            string.
    """
    now = now or _dt.datetime.now(_dt.UTC)
    given = {k: v for k, v in (context or {}).items() if k != "parameters"}
    if "date" in given:
        given["date"] = _as_date(given["date"])
    run_id = str(given.get("flow_run_id", run_id))
    return {
        "flow_name": flow_name,
        "flow_run_id": run_id,
        "flow_run_name": run_id,
        "scheduled_start_time": now,
        **date_keys(given.get("date", now)),
        **given,
        "parameters": MappingProxyType(dict(parameters)),
    }


def date_keys(date: _dt.date) -> dict[str, Any]:
    """``date`` and the day strings derived from it, as in Prefect Core 1.

    Args:
        date: the run's date (a datetime, or a date).

    >>> keys = date_keys(_dt.date(2024, 3, 1))
    >>> keys["yesterday"], keys["today_nodash"], keys["tomorrow"]
    ('2024-02-29', '20240301', '2024-03-02')
    """
    days = {"yesterday": date - _DAY, "today": date, "tomorrow": date + _DAY}
    keys: dict[str, Any] = {"date": date}
    for name, day in days.items():
        keys[name] = day.strftime("%Y-%m-%d")
        keys[f"{name}_nodash"] = day.strftime("%Y%m%d")
    return keys


def _as_date(value: Any) -> _dt.date:
    """A context's ``date``: a date or datetime as given, an ISO 8601 string parsed (UTC when
    it names no zone)."""
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)
    raise HeadwaterError(
        f"context['date'] must be a datetime, a date or an ISO 8601 string such as "
        f"'2024-03-01T06:00:00+00:00', got {type(value).__name__} {value!r}; the day keys "
        "(today, yesterday, tomorrow...) are derived from it."
    )


def task_run_context(
    context: Mapping[str, Any],
    task: Task,
    state: State,
    *,
    task_run_id: str,
    run_count: int,
    map_index: int | None,
    loop_count: int,
    loop_result: Any,
) -> dict[str, Any]:
    """One try's context: the flow run's keys with the task run's on top.

    Args:
        context: the flow run's context.
        task: the task.
        state: the state the try starts from (a Resume state sets ``resume``).
        task_run_id: the task run's id (the same for every try).
        run_count: this try's number, from 1.
        map_index: the child's index in its map, or None.
        loop_count: the LOOP iteration, from 1.
        loop_result: the result the previous LOOP iteration gave (unused on the first).
    """
    ctx = {
        **context,
        "task_name": task.name,
        "task_full_name": task.name if map_index is None else f"{task.name}[{map_index}]",
        "task_slug": task.slug,
        "task_tags": task.tags,
        "task_run_id": task_run_id,
        "task_run_count": run_count,
        "map_index": map_index,
        "task_loop_count": loop_count,
        "resume": state.is_resume() or bool(context.get("resume")),
    }
    if loop_count > 1:  # absent on the first iteration: `context.get("task_loop_result", 0)`
        ctx["task_loop_result"] = loop_result
    return ctx


def render_run_name(task: Task, inputs: Mapping[str, Any], ctx: Mapping[str, Any]) -> str | None:
    """Render ``task.task_run_name`` from the inputs and the run context.

    Raises:
        ValueError: naming the template and the missing field.
    """
    template = task.task_run_name
    if template is None:
        return None
    if callable(template):
        return str(template(**inputs))
    try:
        return template.format(**{**ctx, **inputs})
    except (KeyError, IndexError, AttributeError) as exc:
        raise ValueError(
            f"task_run_name {template!r} of task {task.name!r} uses {exc}, which is neither an "
            f"input ({', '.join(inputs) or 'none'}) nor in the run context"
        ) from None


__all__ = [
    "date_keys",
    "flow_run_context",
    "given_parameters",
    "render_run_name",
    "task_run_context",
]
