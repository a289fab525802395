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

Caches (``cache_for``, ``cache_validator``, ``cache_key``) keep **candidates** in the task's
Result backend, in one folder per task of a flow and map index (:func:`cache_folder`):
``headwater-cache/flow/<flow name>/<task slug>/<map index>/``, where the slug is the task's
name and its rank among the flow's tasks of that name (:func:`flow_slugs`), and names are
escaped so that no two flows or tasks share a folder (flow ``"a/b"`` with task ``"c"`` and
flow ``"a"`` with task ``"b/c"`` do not). Only an explicit ``cache_key`` shares a folder,
``headwater-cache/key/<cache_key>/<map index>/``, between tasks and flows.

A candidate is one successful run: a :class:`CacheRecord` (the value, a keyed hash of each
input and of each flow parameter, never their values, the expiry), pickled, signed and bound
to its location, named after when it was made, when it expires and digests of its inputs and
parameters (:func:`candidate_name`). A new run with the same inputs and parameters replaces
the older record of them; other candidates stay until they expire (at most
:data:`MAX_CANDIDATES` per folder, the oldest dropped). Before running, as Prefect 1's task
runner does, the candidates that have not expired are tried oldest first, and the first one
the validator accepts is used (Cached); none, the task runs.

Validators take ``(state, inputs, parameters)`` as in Prefect 1; ``state.cached_inputs`` and
``state.cached_parameters`` hold hashes (:func:`input_hashes`, keyed with the run's signing
key), and the validators hash today's values the same way to compare. The default, when
``cache_validator`` is not given, is :func:`all_inputs`: a cached value is reused only for
the same inputs (Prefect 1's default, ``duration_only``, reused it for any inputs; asking for
``duration_only`` still does).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
import pickle
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from headwater.model.states import Cached
from headwater.results import signing

if TYPE_CHECKING:
    from headwater.model.flow import Flow
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


def needs_storage(flow: Flow, switch: bool) -> bool:
    """Whether any task of the flow reads or writes a Result (so its runs need a key).

    Args:
        flow: the flow.
        switch: the checkpointing switch (:func:`checkpoint_switch`).
    """
    for t in flow.tasks:
        result, checkpoint = resolve_result(t, flow.result, flow.checkpoint, switch)
        if result is not None and (checkpoint or is_cached(t)):
            return True
    return False


# -- hashes ----------------------------------------------------------------------------------


def _hash_key() -> bytes:
    """The key input and parameter hashes are made with: the run's signing key (so a hash of
    a secret cannot be checked against guesses by whoever reads the storage)."""
    found = signing.resolve(None, create=True)
    assert found is not None  # create=True gives a key or raises
    return found.key


def value_hash(value: Any, key: bytes | None = None) -> str:
    """A keyed hash of a value: HMAC-SHA256 of its bytes (its cloudpickle bytes, read
    without copying large buffers). A value that does not pickle gets a hash of its own
    that matches nothing, so it is never taken for another.

    Args:
        value: any value.
        key: the key (the run's signing key by default).
    """
    mac = hmac.new(key if key is not None else _hash_key(), digestmod=hashlib.sha256)
    if type(value) in (bytes, bytearray, memoryview):
        mac.update(b"b:")
        mac.update(value)
        return mac.hexdigest()
    if type(value) is str:
        mac.update(b"s:" + value.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()
    import cloudpickle

    buffers: list[pickle.PickleBuffer] = []
    try:
        data = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    except Exception:
        return f"unhashable-{uuid.uuid4().hex}"
    mac.update(b"p:")
    mac.update(data)
    for buf in buffers:
        mac.update(buf.raw())
    return mac.hexdigest()


def input_hashes(inputs: Mapping[str, Any], key: bytes | None = None) -> dict[str, str]:
    """Hash each input (what caches store and validators compare); also for parameters.

    Args:
        inputs: name -> value.
        key: the key (the run's signing key by default).
    """
    key = key if key is not None else _hash_key()
    return {name: value_hash(v, key) for name, v in inputs.items()}


def digest(hashes: Mapping[str, str]) -> str:
    """One short digest of a mapping of hashes (names and hashes both count).

    >>> digest({"x": "ab"}) == digest({"x": "ab"}) != digest({"y": "ab"})
    True
    """
    text = "".join(f"{len(k)}:{k}={h};" for k, h in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def task_hash(inputs: Mapping[str, Any]) -> str:
    """The ``{task_hash}`` of location templates: a short hash of all of a task's inputs
    (unkeyed, so it is the same for everyone; it is part of a location you chose)."""
    hashes = {}
    for name, v in inputs.items():
        try:
            import cloudpickle

            data = cloudpickle.dumps(v, protocol=5)
        except Exception:
            data = repr(v).encode()
        hashes[name] = hashlib.sha256(data).hexdigest()
    return hashlib.sha256(
        "".join(f"{k}={h};" for k, h in sorted(hashes.items())).encode()
    ).hexdigest()[:16]


# -- where candidates live -------------------------------------------------------------------

_PLAIN = re.compile(rb"[A-Za-z0-9_-]")
_LONGEST_SEGMENT = 120

MAX_CANDIDATES = 16
"""Most candidates kept per cache folder (the oldest are dropped first)."""


def segment(name: str) -> str:
    """``name`` as one path segment, escaped so that two different names never give the
    same segment: bytes other than letters, digits, ``_`` and ``-`` become ``%XX``; a long
    result is cut and ends with ``~`` and a hash of the whole (``~`` is never escaped).

    >>> segment("a/b"), segment("a%2Fb"), segment(".."), segment("")
    ('a%2Fb', 'a%252Fb', '%2E%2E', '~')
    """
    out = "".join(
        chr(b) if _PLAIN.fullmatch(bytes([b])) else f"%{b:02X}"
        for b in name.encode("utf-8", "surrogatepass")
    )
    if not out:
        return "~"
    if len(out) > _LONGEST_SEGMENT:
        whole = hashlib.sha256(out.encode()).hexdigest()[:32]
        out = f"{out[:80]}~{whole}"
    return out


def flow_slugs(tasks: Iterable[Task]) -> dict[Task, str]:
    """Each task's slug in its flow: its name and its rank among the flow's tasks of that
    name, in the order they were added (``load-1``, ``load-2``): the same for the same flow
    built again, in any process.

    Args:
        tasks: the flow's tasks, in the order they were added.
    """
    seen: dict[str, int] = {}
    slugs = {}
    for t in tasks:
        seen[t.name] = seen.get(t.name, 0) + 1
        slugs[t] = f"{t.name}-{seen[t.name]}"
    return slugs


def cache_folder(flow_name: str, slug: str, cache_key: str | None) -> str:
    """The folder of a task's cache candidates (inside its Result's root), without the map
    index: keyed by the flow and the task's slug, or by the explicit ``cache_key``.

    >>> cache_folder("a/b", "c-1", None) != cache_folder("a", "b/c-1", None)
    True
    >>> cache_folder("etl", "load-1", "shared")
    'headwater-cache/key/shared'
    """
    if cache_key is not None:
        return f"headwater-cache/key/{segment(cache_key)}"
    return f"headwater-cache/flow/{segment(flow_name)}/{segment(slug)}"


def map_folder(folder: str, map_index: int | None) -> str:
    """The folder of one task run's candidates: ``folder`` and the map index."""
    return f"{folder}/{'task' if map_index is None else map_index}"


class Candidate(NamedTuple):
    """What a candidate's name says about it (checked against its signed record)."""

    location: str
    created: int
    expires: int | None
    inputs: str
    parameters: str


def candidate_name(
    created: _dt.datetime, expires: _dt.datetime | None, inputs: str, parameters: str
) -> str:
    """The file name of a candidate: when it was made and expires (milliseconds since the
    epoch), then the digests of its inputs and its parameters."""
    end = "never" if expires is None else f"{int(expires.timestamp() * 1000):013d}"
    return f"{int(created.timestamp() * 1000):013d}-{end}-{inputs}-{parameters}.cache"


_NAME = re.compile(r"(\d{13})-(\d{13}|never)-([0-9a-f]{32})-([0-9a-f]{32})\.cache")


def parse_candidate(location: str) -> Candidate | None:
    """What a candidate's location says (None for anything that is not a candidate).

    Args:
        location: a location in a cache folder.
    """
    found = _NAME.fullmatch(location.rsplit("/", 1)[-1])
    if found is None:
        return None
    made, end, inputs, parameters = found.groups()
    expires = None if end == "never" else int(end)
    return Candidate(location, int(made), expires, inputs, parameters)


def _parsed(locations: Iterable[str]) -> list[Candidate]:
    found = (parse_candidate(location) for location in locations)
    return sorted((c for c in found if c is not None), key=lambda c: (c.created, c.location))


def _live(c: Candidate, now: _dt.datetime) -> bool:
    return c.expires is None or c.expires > int(now.timestamp() * 1000)


def candidates(locations: Iterable[str], now: _dt.datetime) -> list[Candidate]:
    """The candidates among ``locations`` that have not expired, oldest first.

    Args:
        locations: what the cache folder holds.
        now: the time to compare expiries with.
    """
    return [c for c in _parsed(locations) if _live(c, now)]


def stale(locations: Iterable[str], mine: Candidate, now: _dt.datetime) -> list[str]:
    """What to delete after writing ``mine``: expired candidates, older ones of the same
    inputs and parameters, and the oldest beyond :data:`MAX_CANDIDATES`.

    Args:
        locations: what the cache folder holds.
        mine: the candidate just written.
        now: the time to compare expiries with.
    """
    gone, kept = set(), []
    for c in _parsed(locations):
        same = (c.inputs, c.parameters) == (mine.inputs, mine.parameters)
        if not _live(c, now) or (same and c.created < mine.created):
            gone.add(c.location)
        elif c.location != mine.location:
            kept.append(c)
    gone.update(c.location for c in kept[: max(0, len(kept) + 1 - MAX_CANDIDATES)])
    gone.discard(mine.location)
    return sorted(gone)


@dataclass(frozen=True)
class CacheRecord:
    """One cache candidate: a successful run's value, keyed hashes of its inputs and of the
    flow's parameters (never their values), and when it expires."""

    value: Any
    inputs: dict[str, str]
    parameters: dict[str, str]
    expiration: _dt.datetime | None
    created: _dt.datetime


# -- validators (Prefect 1's) ---------------------------------------------------------------


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
    """Use the cached result until it expires, whatever the inputs (Prefect 1's default;
    headwater's default is :func:`all_inputs`).

    Args:
        state: the cached candidate.
        inputs: the task's inputs now.
        parameters: the flow's parameters now.
    """
    return _fresh(state)


def all_inputs(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached result while fresh and computed from the same inputs (the default).

    Args:
        state: the cached candidate.
        inputs: the task's inputs now.
        parameters: the flow's parameters now.
    """
    return _fresh(state) and dict(state.cached_inputs or {}) == input_hashes(inputs)


def all_parameters(state: Cached, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    """Use the cached result while fresh and computed with the same flow parameters.

    Args:
        state: the cached candidate.
        inputs: the task's inputs now.
        parameters: the flow's parameters now.
    """
    return _fresh(state) and dict(state.cached_parameters or {}) == input_hashes(parameters)


def _partial(old: Mapping[str, str] | None, now: Mapping[str, Any], names: frozenset[str]) -> bool:
    """Prefect 1's rule: the named entries present now equal the named entries cached."""
    wanted = {k: v for k, v in now.items() if k in names}
    return input_hashes(wanted) == {k: v for k, v in (old or {}).items() if k in names}


def partial_inputs_only(validate_on: Iterable[str] | None = None) -> Validator:
    """Return a validator that compares only the named inputs (all inputs may differ when
    ``validate_on`` is None: then only the expiry counts, as in Prefect 1).

    Args:
        validate_on: the input names to compare.
    """
    return _partial_validator("partial_inputs_only", validate_on, inputs=True)


def partial_parameters_only(validate_on: Iterable[str] | None = None) -> Validator:
    """Return a validator that compares only the named flow parameters (only the expiry
    counts when ``validate_on`` is None, as in Prefect 1).

    Args:
        validate_on: the parameter names to compare.
    """
    return _partial_validator("partial_parameters_only", validate_on, inputs=False)


def _partial_validator(name: str, validate_on: Iterable[str] | None, inputs: bool) -> Validator:
    names = None if validate_on is None else frozenset(validate_on)

    def validator(state: Cached, given: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
        if not _fresh(state):
            return False
        if names is None:
            return True
        if inputs:
            return _partial(state.cached_inputs, given, names)
        return _partial(state.cached_parameters, parameters, names)

    validator.__name__ = f"{name}({', '.join(sorted(names or ()))})"
    return validator


def narrows(validator: Validator) -> tuple[bool, bool]:
    """Whether a candidate must have today's (inputs, parameters) digests for ``validator``
    to accept it, so others need not be read: (True, False) for :func:`all_inputs`, (False,
    True) for :func:`all_parameters`, (False, False) for any other.

    Args:
        validator: the task's validator.
    """
    return (validator is all_inputs, validator is all_parameters)


__all__ = [
    "CHECKPOINT_ENV",
    "MAX_CANDIDATES",
    "CacheRecord",
    "Candidate",
    "all_inputs",
    "all_parameters",
    "cache_folder",
    "candidate_name",
    "candidates",
    "checkpoint_switch",
    "digest",
    "duration_only",
    "flow_slugs",
    "input_hashes",
    "is_cached",
    "needs_storage",
    "map_folder",
    "narrows",
    "never_use",
    "partial_inputs_only",
    "parse_candidate",
    "partial_parameters_only",
    "resolve_result",
    "segment",
    "stale",
    "task_hash",
    "value_hash",
]
