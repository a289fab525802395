"""A task's stored results: its target, its checkpoint and its cache record.

Design note
-----------
:class:`StoredResults` is what the task runner asks before running a task and after it
succeeded (docs/notices/0006-results.md):

- before: :meth:`StoredResults.check` returns Cached when the task's target exists
  (Makefile semantics), when the checkpoint this same flow run wrote before its worker was
  lost exists (``readback``), or when its cache record is valid; None to run;
- after: :meth:`StoredResults.write` writes the checkpoint of a successful result and
  refreshes the cache record.

Locations are templates filled from the task's inputs and the run context
(:meth:`StoredResults.fields`). A storage error becomes a Failed state naming the problem,
so the task's retries apply.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from headwater.engine import caching
from headwater.engine.calls import format_exception
from headwater.model.states import Cached, Failed, State
from headwater.model.task import Task
from headwater.results.base import Result, default_location
from headwater.serializers.base import PickleSerializer


class StoredResults:
    """Where a task's output persists, and how it is read back.

    Args:
        task: the task.
        result: the Result its output persists to (resolved by the flow runner).
        checkpoint: whether a successful result is written.
        readback: look for a checkpoint this flow run already wrote before running (set on
            executors that can lose a finished result with a worker and compute it again).
    """

    __slots__ = ("checkpoint", "readback", "result", "task")

    def __init__(
        self, task: Task, result: Result, checkpoint: bool = False, readback: bool = False
    ) -> None:
        self.task = task
        self.result = result
        self.checkpoint = checkpoint
        self.readback = readback

    def fields(self, inputs: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any]:
        """The fields a location template may use: the task's inputs and the run context
        (the context wins on a clash), plus ``task_hash`` when a template asks for it."""
        fields = {**inputs, **ctx}
        templates = [self.task.target, getattr(self.result, "location", None)]
        if any(isinstance(t, str) and "{task_hash" in t for t in templates):
            fields["task_hash"] = caching.task_hash(inputs)
        return fields

    def check(
        self,
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        run_count: int,
        map_index: int | None = None,
    ) -> State | None:
        """Return Cached when the task's target exists, its checkpoint from this flow run
        exists (``readback``), or its cache is valid; None to run.

        A storage error gives a Failed state naming the problem (its retries apply).
        """
        readback = self.readback and self.checkpoint and self.task.target is None
        if not (
            self.task.target is not None or readback or caching.is_cached(self.task)
        ):
            return None
        fields = self.fields(inputs, ctx)
        try:
            if self.task.target is not None:
                location = self.result.format(**fields)
                if self.result.exists(location):
                    return Cached(
                        f"Target {location!r} exists: read it back instead of running.",
                        result=self.result.read(location),
                        run_count=run_count,
                    )
            own = self._run_checkpoint(fields) if readback else None
            if own is not None and self.result.exists(own):
                return Cached(
                    f"Checkpoint {own!r} was written earlier in this flow run (its "
                    "worker was lost): read it back instead of running again.",
                    result=self.result.read(own),
                    run_count=run_count,
                )
            if caching.is_cached(self.task):
                return self._valid_cache(inputs, ctx, run_count, map_index)
        except Exception as exc:
            return Failed(
                f"Task {self.task.name!r} could not check its stored result: {exc}",
                exception=exc,
                traceback=format_exception(exc),
                run_count=run_count,
            )
        return None

    def _run_checkpoint(self, fields: Mapping[str, Any]) -> str | None:
        """Where this run's checkpoint of the task is, when only this flow run can have
        written there: the default location, or a template that uses ``{flow_run_id}``.
        None otherwise (a file there may be an older run's, so the task runs again)."""
        template = getattr(self.result, "location", None)
        if template is None:
            return default_location(fields) if "flow_run_id" in fields else None
        return self.result.format(**fields) if "{flow_run_id" in template else None

    def _cache_store(self, ctx: Mapping[str, Any], map_index: int | None) -> tuple[Result, str]:
        """The Result (pickled, in the task's backend) and location of its cache record."""
        location = caching.cache_location(self.task, str(ctx.get("flow_name")), map_index)
        store = self.result.copy()
        store.serializer = PickleSerializer()
        store.location = location
        return store, location

    def _valid_cache(
        self,
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        run_count: int,
        map_index: int | None,
    ) -> State | None:
        store, location = self._cache_store(ctx, map_index)
        if not store.exists(location):
            return None
        record = store.read(location).value
        if not isinstance(record, caching.CacheRecord):
            return None
        candidate = Cached(
            f"Cached result from {record.created:%Y-%m-%d %H:%M:%S} UTC.",
            result=record.value,
            cached_inputs=record.inputs,
            cached_parameters=record.parameters,
            cached_result_expiration=record.expiration,
            run_count=run_count,
        )
        validator = self.task.cache_validator or caching.duration_only
        parameters = dict(ctx.get("parameters") or {})
        return candidate if validator(candidate, inputs, parameters) else None

    def write(
        self,
        state: State,
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        map_index: int | None = None,
    ) -> State:
        """Checkpoint a successful result, and refresh the task's cache record.

        A value the serializer cannot handle or a storage error fails the try with a
        message naming the task and the problem (its retries apply).
        """
        try:
            if self.checkpoint:
                fields = self.fields(inputs, ctx)
                state = state.with_(result=self.result.write(state.result, **fields))
            if caching.is_cached(self.task):
                now = _dt.datetime.now(_dt.UTC)
                expiry = now + self.task.cache_for if self.task.cache_for is not None else None
                record = caching.CacheRecord(
                    value=state.result,
                    inputs=caching.input_hashes(inputs),
                    parameters=dict(ctx.get("parameters") or {}),
                    expiration=expiry,
                    created=now,
                )
                store, _ = self._cache_store(ctx, map_index)
                store.write(record)
        except Exception as exc:
            return Failed(
                f"Task {self.task.name!r} succeeded but its result could not be stored: {exc}",
                exception=exc,
                traceback=format_exception(exc),
                run_count=state.run_count,
            )
        return state


__all__ = ["StoredResults"]
