"""A task's stored results: its target, its checkpoint and its cache candidates.

Design note
-----------
:class:`StoredResults` is what the task runner asks before running a task and after it
succeeded (docs/notices/0006-results.md):

- before: :meth:`StoredResults.check` returns Cached when the task's target exists
  (Makefile semantics), when the checkpoint this same task run wrote before its worker was
  lost exists (``readback``), when, in a resumed run, an earlier run wrote this task run's
  checkpoint for these very inputs (``resume``), or when a cache candidate passes the
  validator; None to run;
- after: :meth:`StoredResults.write` writes the checkpoint of a successful result and adds
  a cache candidate.

A value is reused only when it provably belongs to this task, these inputs and this run:

- every stored result is signed and bound to its location, so a file copied from elsewhere
  or planted by someone without the key is refused before it is read
  (:mod:`headwater.results._payload`);
- a checkpoint is written with the identity of the task run that wrote it (flow, task slug,
  map index, flow run id, the run's token and a keyed hash of the inputs) and read back only
  by the same identity: a second run given the same ``flow_run_id`` never gets the first
  run's value; a resumed run reads an earlier run's checkpoint only with that run's
  identity and a hash of its own inputs (docs/notices/0013-resume.md);
- cache candidates live in a folder of their own per task of a flow (or per explicit
  ``cache_key``) and map index, and hold keyed hashes of the inputs and parameters, never
  their values (:mod:`headwater.engine.caching`).

Locations are templates filled from the task's inputs and the run context
(:meth:`StoredResults.fields`): a field that names both an input and a run-context key is
refused as ambiguous, and ``{inputs[name]}`` always names the input. A storage error becomes
a Failed state naming the problem, so the task's retries apply; a candidate or checkpoint
that cannot be verified is skipped with a warning and the task runs.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Container, Mapping
from types import MappingProxyType
from typing import Any

from headwater.engine import caching
from headwater.engine.calls import format_exception
from headwater.engine.identity import ResumeFrom
from headwater.errors import (
    ResultIdentityError,
    ResultIntegrityError,
    ResultLocationError,
    ResultStorageError,
)
from headwater.model.states import Cached, Failed, State
from headwater.model.task import Task
from headwater.results import FSSpecResult
from headwater.results.base import Result, default_location, template_fields
from headwater.serializers.base import PickleSerializer

logger = logging.getLogger("headwater.results")


def _missing(exc: ResultStorageError) -> bool:
    """Whether a failed read found no result at its location (nothing, or a folder) rather
    than failing storage."""
    return isinstance(exc.__cause__, FileNotFoundError | NotADirectoryError | IsADirectoryError)


class StoredResults:
    """Where a task's output persists, and how it is read back.

    Args:
        task: the task.
        result: the Result its output persists to (resolved by the flow runner).
        checkpoint: whether a successful result is written.
        readback: look for a checkpoint this task run already wrote before running (set on
            executors that can lose a finished result with a worker and compute it again).
        cache_folder: where the task's cache candidates live (:func:`caching.cache_folder`,
            chosen on the driver from the flow); by default from the run's flow name and the
            task's slug, which is the same only within one process.
        run: the flow run's token (bound into checkpoints; None outside a flow run).
        resume: in a resumed run, where earlier runs' checkpoints of the task are.
    """

    __slots__ = ("cache_folder", "checkpoint", "readback", "result", "resume", "run", "task")

    def __init__(
        self,
        task: Task,
        result: Result,
        checkpoint: bool = False,
        readback: bool = False,
        cache_folder: str | None = None,
        run: str | None = None,
        resume: ResumeFrom | None = None,
    ) -> None:
        self.task = task
        self.result = result
        self.checkpoint = checkpoint
        self.readback = readback
        self.cache_folder = cache_folder
        self.run = run
        self.resume = resume

    def fields(self, inputs: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any]:
        """The fields a location template may use: the run context, each input by its name,
        ``inputs`` (every input: ``{inputs[name]}``), ``context`` (the run context:
        ``{context[flow_name]}``) and ``task_hash`` when asked for.

        Raises:
            ResultLocationError: when a template uses a name that is both an input and a
                run-context key (it would be ambiguous).
        """
        fields = dict(ctx)
        clashes = {name for name in inputs if name in fields}
        fields.update((k, v) for k, v in inputs.items() if k not in clashes)
        fields.setdefault("inputs", MappingProxyType(dict(inputs)))
        fields.setdefault("context", MappingProxyType(dict(ctx)))
        used: set[str] = set()
        for template in (self.task.target, getattr(self.result, "location", None)):
            if isinstance(template, str):
                used.update(template_fields(template))
        if "task_hash" in used and "task_hash" in inputs:
            clashes.add("task_hash")
        ambiguous = sorted(clashes & used)
        if ambiguous:
            name = ambiguous[0]
            raise ResultLocationError(
                f"The location template of task {self.task.name!r} uses {{{name}}}, which is "
                "both an argument of the task and a key of the run context, so it is "
                f"ambiguous. Write {{inputs[{name}]}} for the argument, or {{context[{name}]}} "
                "for the run context's value."
            )
        if "task_hash" in used:
            fields["task_hash"] = caching.task_hash(inputs)
        return fields

    # -- before running ----------------------------------------------------------------------
    def check(
        self,
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        run_count: int,
        map_index: int | None = None,
        fresh: Container[int | None] = (),
    ) -> State | None:
        """Return Cached when the task's target exists, its checkpoint from this task run
        exists (``readback``), an earlier run's checkpoint of it is provably its own (a
        resumed run, unless ``map_index`` is in ``fresh``), or a cache candidate is valid;
        None to run.

        A storage error, or a target that cannot be verified, gives a Failed state naming
        the problem (its retries apply).
        """
        task = self.task
        readback = self.readback and self.checkpoint and task.target is None
        earlier = (
            self.resume is not None
            and self.checkpoint
            and task.target is None
            and map_index not in fresh
        )
        cached = caching.is_cached(task)
        if not (task.target is not None or readback or earlier or cached):
            return None
        try:
            fields = self.fields(inputs, ctx) if task.target is not None or readback else {}
            if task.target is not None:
                location = self.result.format(**fields)
                if self.result.exists(location):
                    return Cached(
                        f"Target {location!r} exists: read it back instead of running.",
                        result=self.result.read(location),
                        run_count=run_count,
                    )
            if earlier:
                found = self._read_earlier(inputs, ctx, run_count, map_index)
                if found is not None:
                    return found
            if readback:
                found = self._read_back(fields, inputs, ctx, run_count, map_index)
                if found is not None:
                    return found
            if cached:
                return self._valid_cache(inputs, ctx, run_count, map_index)
        except Exception as exc:
            return Failed(
                f"Task {task.name!r} could not check its stored result: {exc}",
                exception=exc,
                traceback=format_exception(exc),
                run_count=run_count,
            )
        return None

    def identity(
        self, inputs: Mapping[str, Any] | None, ctx: Mapping[str, Any], map_index: int | None
    ) -> dict[str, Any]:
        """What identifies this task run in the checkpoint it writes: the flow, the task's
        slug, the map index, the flow run id, the run's token and (when ``inputs`` is given)
        a keyed digest of the inputs."""
        identity = {
            "flow": str(ctx.get("flow_name")),
            "task": str(ctx.get("task_slug", self.task.slug)),
            "map_index": map_index,
            "flow_run_id": str(ctx.get("flow_run_id")),
            "run": self.run,
        }
        if inputs is not None:
            identity["inputs"] = caching.digest(caching.input_hashes(inputs))
        return identity

    def _checkpoint_location(self, fields: Mapping[str, Any]) -> str:
        template = getattr(self.result, "location", None)
        return default_location(fields) if template is None else self.result.format(**fields)

    def _read_back(
        self,
        fields: Mapping[str, Any],
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        run_count: int,
        map_index: int | None,
    ) -> State | None:
        """The checkpoint this task run wrote before its worker was lost, if it is there
        and provably its own; None otherwise (the task runs again and writes it anew)."""
        result = self.result
        if not isinstance(result, FSSpecResult) or "flow_run_id" not in fields:
            return None
        location = self._checkpoint_location(fields)
        try:  # one read, not exists() then read(): most task runs find nothing
            found = result.read(location, identity=self.identity(inputs, ctx, map_index))
        except ResultStorageError as exc:
            if _missing(exc):
                return None
            raise
        except ResultIdentityError as exc:
            logger.debug("Task %r runs again: %s", self.task.name, exc)
            return None
        except ResultIntegrityError as exc:
            logger.warning("Task %r runs again: %s", self.task.name, exc)
            return None
        return Cached(
            f"Checkpoint {location!r} was written earlier by this task run (its worker was "
            "lost): read it back instead of running again.",
            result=found,
            run_count=run_count,
        )

    def _read_earlier(
        self,
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        run_count: int,
        map_index: int | None,
    ) -> State | None:
        """The checkpoint an earlier run (the one resumed, or one it resumed: newest first)
        wrote for this task run, when it is bound to that run, this task, this map index and
        these inputs; None otherwise (the task runs)."""
        result = self.result
        if not isinstance(result, FSSpecResult) or self.resume is None:
            return None
        digest = caching.digest(caching.input_hashes(inputs))
        for run_id, token, run_name, slug in self.resume.sources:
            then = {**ctx, "flow_run_id": run_id, "flow_run_name": run_name, "task_slug": slug}
            location = self._checkpoint_location(self.fields(inputs, then))
            identity = {
                "flow": str(ctx.get("flow_name")),
                "task": slug,
                "map_index": map_index,
                "flow_run_id": run_id,
                "run": token,
                "inputs": digest,
            }
            try:
                found = result.read(location, identity=identity)
            except ResultStorageError as exc:
                if _missing(exc):
                    continue  # that run wrote none for this task run
                raise
            except ResultIntegrityError as exc:  # identity, unverified, corrupted
                logger.info(
                    "Task %r does not reuse run %s's result: %s", self.task.name, run_id, exc
                )
                continue
            return Cached(
                f"Read back from run {run_id}: its checkpoint {location!r} was written by this "
                "task run with these inputs.",
                result=found,
                run_count=run_count,
            )
        return None

    def _cache_store(self) -> FSSpecResult | None:
        """The Result (pickled, in the task's backend) cache candidates are kept in."""
        if not isinstance(self.result, FSSpecResult):
            return None  # listing candidates needs a persisting backend
        store = self.result.copy()
        store.serializer = PickleSerializer()
        store.location = None
        assert isinstance(store, FSSpecResult)
        return store

    def _folder(self, ctx: Mapping[str, Any], map_index: int | None) -> str:
        folder = self.cache_folder or caching.cache_folder(
            str(ctx.get("flow_name")), self.task.slug, self.task.cache_key
        )
        return caching.map_folder(folder, map_index)

    def _valid_cache(
        self,
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        run_count: int,
        map_index: int | None,
    ) -> State | None:
        """The first cache candidate (oldest first) the validator accepts, as Prefect 1."""
        store = self._cache_store()
        if store is None:
            return None
        validator = self.task.cache_validator or caching.all_inputs
        parameters = dict(ctx.get("parameters") or {})
        by_inputs, by_parameters = caching.narrows(validator)
        want_inputs = caching.digest(caching.input_hashes(inputs)) if by_inputs else None
        want_params = caching.digest(caching.input_hashes(parameters)) if by_parameters else None
        now = _dt.datetime.now(_dt.UTC)
        for c in caching.candidates(store.locations(self._folder(ctx, map_index)), now):
            if want_inputs not in (None, c.inputs) or want_params not in (None, c.parameters):
                continue
            try:
                record = store.read(c.location).value
            except ResultIntegrityError as exc:
                logger.warning("Task %r: cache candidate skipped: %s", self.task.name, exc)
                continue
            if not isinstance(record, caching.CacheRecord):
                continue
            candidate = Cached(
                f"Cached result from {record.created:%Y-%m-%d %H:%M:%S} UTC.",
                result=record.value,
                cached_inputs=record.inputs,
                cached_parameters=record.parameters,
                cached_result_expiration=record.expiration,
                run_count=run_count,
            )
            if validator(candidate, inputs, parameters):
                return candidate
        return None

    # -- after running -----------------------------------------------------------------------
    def write(
        self,
        state: State,
        inputs: Mapping[str, Any],
        ctx: Mapping[str, Any],
        map_index: int | None = None,
    ) -> State:
        """Checkpoint a successful result, and add a cache candidate.

        A value the serializer cannot handle or a storage error fails the try with a
        message naming the task and the problem (its retries apply).
        """
        try:
            if self.checkpoint:
                state = state.with_(result=self._write_checkpoint(state, inputs, ctx, map_index))
            if caching.is_cached(self.task):
                self._add_candidate(state.result, inputs, ctx, map_index)
        except Exception as exc:
            return Failed(
                f"Task {self.task.name!r} succeeded but its result could not be stored: {exc}",
                exception=exc,
                traceback=format_exception(exc),
                run_count=state.run_count,
            )
        return state

    def _write_checkpoint(
        self, state: State, inputs: Mapping[str, Any], ctx: Mapping[str, Any], index: int | None
    ) -> Result:
        fields = self.fields(inputs, ctx)
        if not isinstance(self.result, FSSpecResult):
            return self.result.write(state.result, **fields)
        # bound to the inputs, so that a resumed run can prove the checkpoint is theirs
        identity = self.identity(inputs if self.task.target is None else None, ctx, index)
        location = self._checkpoint_location(fields)
        return self.result.write_at(state.result, location, identity=identity)

    def _add_candidate(
        self, value: Any, inputs: Mapping[str, Any], ctx: Mapping[str, Any], index: int | None
    ) -> None:
        store = self._cache_store()
        if store is None:
            return
        now = _dt.datetime.now(_dt.UTC)
        expiry = now + self.task.cache_for if self.task.cache_for is not None else None
        record = caching.CacheRecord(
            value=value,
            inputs=caching.input_hashes(inputs),
            parameters=caching.input_hashes(dict(ctx.get("parameters") or {})),
            expiration=expiry,
            created=now,
        )
        folder = self._folder(ctx, index)
        name = caching.candidate_name(
            now, expiry, caching.digest(record.inputs), caching.digest(record.parameters)
        )
        store.write_at(record, f"{folder}/{name}")
        mine = caching.parse_candidate(f"{folder}/{name}")
        assert mine is not None
        try:
            for old in caching.stale(store.locations(folder), mine, now):
                store.remove(old)
        except Exception as exc:  # the candidate is written; tidying can wait a run
            logger.debug("Task %r: old cache candidates not removed: %s", self.task.name, exc)


__all__ = ["StoredResults"]
