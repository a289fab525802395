"""What a flow run puts in the run context: the flow-level keys, then each task run's keys.

Design note
-----------
The context a task reads (:data:`headwater.context`, :mod:`headwater.model.context`) is
filled in two layers. The flow runner builds the flow-level keys once per run
(:func:`flow_run_context`): ``flow_name``, ``flow_run_id``, ``parameters`` (read-only),
``scheduled_start_time``, ``date`` and ``today``, then the caller's ``context=`` on top. The
task runner layers each try's keys over them (:func:`task_run_context`): ``task_name``,
``task_slug``, ``task_tags``, ``task_run_id``, ``task_run_count``, ``map_index``,
``task_loop_count``, ``task_loop_result``, ``resume`` (and ``task_run_name`` once rendered).
docs/engine.md lists them for users.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from headwater.model.states import State
from headwater.model.task import Task


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
        run_id: the flow run's id.
        parameters: every parameter's value.
        context: extra keys given to the run (they win).
        now: when the run starts (UTC now by default).
    """
    now = now or _dt.datetime.now(_dt.UTC)
    return {
        "flow_name": flow_name,
        "flow_run_id": run_id,
        "parameters": MappingProxyType(dict(parameters)),
        "scheduled_start_time": now,
        "date": now,
        "today": now.strftime("%Y-%m-%d"),
        **(context or {}),
    }


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
        loop_result: the result the previous LOOP iteration gave, or None.
    """
    return {
        **context,
        "task_name": task.name,
        "task_slug": task.slug,
        "task_tags": task.tags,
        "task_run_id": task_run_id,
        "task_run_count": run_count,
        "map_index": map_index,
        "task_loop_count": loop_count,
        "task_loop_result": loop_result,
        "resume": state.is_resume() or bool(context.get("resume")),
    }


__all__ = ["flow_run_context", "task_run_context"]
