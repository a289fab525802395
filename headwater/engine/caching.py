"""Persisting task outputs: which Result a task writes to, whether it writes, targets and
caches (PIN-4, PIN-16).

Design note
-----------
One rule decides whether a task's result is written, and it is applied once, on the driver,
when the flow is compiled (:func:`resolve_result`), so the answer is the same on every
executor and every worker:

=====================  ===================================================================
``task.target`` set    written to the target (Makefile semantics: an existing target is
                       read back instead of running the task)
``task.checkpoint``    True: written; False: not written
``Flow(checkpoint=)``  the same, for tasks that leave ``checkpoint`` unset
``HEADWATER_CHECKPOINTING`` environment switch (``true``/``false``) read on the driver at
                       run time, for everything left unset; off by default
=====================  ===================================================================

The Result written to is ``task.result``, else ``Flow(result=)``, else a ``LocalResult()``.

Caches (``cache_for``, ``cache_validator``, ``cache_key``) keep one record per task (or per
``cache_key``, shared between tasks and flows) and map index, in the same Result backend,
under ``headwater-cache/``: the value, a hash of each input, the flow parameters and the
expiry. Before running, the record is read back as a :class:`Cached` candidate and the
validator decides whether to use it. The latest successful run replaces the record.

Validators take ``(state, inputs, parameters)``; ``state.cached_inputs`` holds input hashes
(see :func:`input_hashes`), so comparing inputs never needs the old values themselves.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwater.model.states import Cached

if TYPE_CHECKING:
    from headwater.model.task import Task
    from headwater.results.base import Result

CHECKPOINT_ENV = "HEADWATER_CHECKPOINTING"
"""The environment switch for checkpointing tasks that say nothing (read on the driver)."""

Validator = Callable[[Cached, Mapping[str, Any], Mapping[str, Any]], bool]


def checkpoint_switch(environ: Mapping[str, str] | None = None) -> bool:
    """Read the ``HEADWATER_CHECKPOINTING`` switch.

    Args:
        environ: the environment (``os.environ`` by default).

    Raises:
        ValueError: when the switch has a value that is neither true nor false.
    """
    value = (environ if environ is not None else os.environ).get(CHECKPOINT_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{CHECKPOINT_ENV}={value!r} is neither true nor false; use true or false")


def resolve_result(
    task: Task, flow_result: Result | None, flow_checkpoint: bool | None, switch: bool
) -> tuple[Result | None, bool]:
    """Decide which Result ``task`` writes to and whether it writes (the table above).

    Args:
        task: the task.
        flow_result: the flow's default Result.
        flow_checkpoint: the flow's checkpoint option.
        switch: the environment switch, read once on the driver.

    Returns:
        ``(result, checkpoint)``; result is None when the task needs no storage.
    """
    result = task.result if task.result is not None else flow_result
    if task.target is not None:
        result = (result or _default_result()).copy()
        result.location = task.target  # type: ignore[assignment]
        return result, True
    if task.checkpoint is not None:
        checkpoint = task.checkpoint
    elif flow_checkpoint is not None:
        checkpoint = flow_checkpoint
    else:
        checkpoint = switch
    needs_storage = checkpoint or is_cached(task)
    if needs_storage and result is None:
        result = _default_result()
    return result, checkpoint


def _default_result() -> Result:
    from headwater.results import LocalResult

    return LocalResult()


def is_cached(task: Task) -> bool:
    """Whether the task keeps a cache across runs."""
    return (
        task.cache_for is not None or task.cache_validator is not None or task.cache_key is not None
    )


def value_hash(value: Any) -> str:
    """A stable hash of a value (of its cloudpickle bytes)."""
    import cloudpickle

    try:
        data = cloudpickle.dumps(value, protocol=5)
    except Exception:
        data = repr(value).encode()
    return hashlib.sha256(data).hexdigest()


def input_hashes(inputs: Mapping[str, Any]) -> dict[str, str]:
    """Hash each input (what caches store and validators compare)."""
    return {key: value_hash(v) for key, v in inputs.items()}


def task_hash(inputs: Mapping[str, Any]) -> str:
    """The ``{task_hash}`` of location templates: a short hash of all of a task's inputs."""
    return hashlib.sha256(
        "".join(f"{k}={h};" for k, h in sorted(input_hashes(inputs).items())).encode()
    ).hexdigest()[:16]


@dataclass(frozen=True)
class CacheRecord:
    """What a cache stores about the last successful run."""

    value: Any
    inputs: dict[str, str]
    parameters: dict[str, Any]
    expiration: _dt.datetime | None
    created: _dt.datetime


def cache_location(task: Task, flow_name: str, map_index: int | None) -> str:
    """Where a task's cache record lives inside its Result's root."""
    key = task.cache_key or f"{flow_name}/{task.name}"
    safe = "".join(c if c.isalnum() or c in "-_./" else "_" for c in key).strip("/.")
    return f"headwater-cache/{safe}/{'task' if map_index is None else map_index}.cache"


# -- validators ------------------------------------------------------------------------------


def _fresh(state: Cached) -> bool:
    expiry = state.cached_result_expiration
    return expiry is None or expiry > _dt.datetime.now(_dt.UTC)


def never_use(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Never use a cached result.

    Args:
        state: the cached candidate.
        inputs: the task's inputs now.
        parameters: the flow's parameters now.
    """
    return False


def duration_only(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached result until it expires, whatever the inputs (the default).

    Args:
        state: the cached candidate.
        inputs: the task's inputs now.
        parameters: the flow's parameters now.
    """
    return _fresh(state)


def all_inputs(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached result while fresh and computed from the same inputs.

    Args:
        state: the cached candidate.
        inputs: the task's inputs now.
        parameters: the flow's parameters now.
    """
    return _fresh(state) and state.cached_inputs == input_hashes(inputs)


def all_parameters(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached result while fresh and computed with the same flow parameters.

    Args:
        state: the cached candidate.
        inputs: the task's inputs now.
        parameters: the flow's parameters now.
    """
    return _fresh(state) and dict(state.cached_parameters or {}) == dict(parameters)


def partial_inputs_only(validate_on: Iterable[str]) -> Validator:
    """Return a validator that compares only the named inputs.

    Args:
        validate_on: the input names to compare.
    """
    names = sorted(validate_on)

    def validator(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
        now = input_hashes({k: inputs[k] for k in names if k in inputs})
        old = {k: v for k, v in (state.cached_inputs or {}).items() if k in names}
        return _fresh(state) and now == old

    validator.__name__ = f"partial_inputs_only({', '.join(names)})"
    return validator


def partial_parameters_only(validate_on: Iterable[str]) -> Validator:
    """Return a validator that compares only the named flow parameters.

    Args:
        validate_on: the parameter names to compare.
    """
    names = sorted(validate_on)

    def validator(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
        old = state.cached_parameters or {}
        return _fresh(state) and all(old.get(k) == parameters.get(k) for k in names)

    validator.__name__ = f"partial_parameters_only({', '.join(names)})"
    return validator


__all__ = [
    "CHECKPOINT_ENV",
    "CacheRecord",
    "all_inputs",
    "all_parameters",
    "cache_location",
    "checkpoint_switch",
    "duration_only",
    "input_hashes",
    "is_cached",
    "never_use",
    "partial_inputs_only",
    "partial_parameters_only",
    "resolve_result",
    "task_hash",
]
