"""What identifies a flow's tasks across processes, and a run's tasks across runs: stable task
ids, the flow's graph as the journal keeps it, and the earlier runs a resumed run reads from.

Design note
-----------
A task's ``slug`` comes from a counter of the process that built the flow, so the same flow
built again in another process (the command line, a driver started again after a kill) has
other slugs. A resume must match the journal's lines to tasks, so every task gets a *stable
id*: its name and its rank among the flow's tasks of that name, in the order they were added
(``load-1``, ``load-2``; :func:`headwater.engine.caching.flow_slugs`, also what cache folders
are named by). The journal keeps, per run, each stable id with the slug the run used, since a
checkpoint is bound to that slug (docs/notices/0013-resume.md).

:func:`flow_graph` describes a flow as plain JSON values: its tasks by stable id (mapped,
pure, checkpointed, a digest of their constant arguments) and its edges (upstream, task,
argument, mapped, flattened). :func:`graph_changes` compares two of them and names what
changed: a resume runs the same task graph, or refuses. Function bodies, retries, triggers
and Results are not part of it: fixing a task's code is what a resume is for.

A resumed run may read back checkpoints of the run it resumes and of the runs that one
resumed (:class:`Source`, newest first); :class:`ResumeFrom` is what one task's nodes carry
to the workers: per source, its run id, its signing-key token, its run name and the task's
slug there. :class:`RunIdentity` is what the flow runner tells the run hooks when a run
starts, so that the journal can write down what a later resume needs.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.engine.caching import flow_slugs

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.task import Task


def stable_ids(flow: Flow) -> dict[Task, str]:
    """Each task's stable id in ``flow``: its name and rank among the flow's tasks of that
    name (the same for the same flow built again, in any process).

    Args:
        flow: the flow.
    """
    return flow_slugs(flow.tasks)


def is_pure(task: Task) -> bool:
    """Whether ``task`` gives the same value whenever it runs in a run with the same
    parameters and flow: a Parameter or a Constant (a resume runs them again freely)."""
    from headwater.model.builtin_tasks import Constant
    from headwater.model.parameter import Parameter

    return isinstance(task, Parameter | Constant)


def value_digest(value: Any) -> str:
    """A short digest of a value's pickle (a set's elements in a sorted order, since string
    hashing orders sets differently in each process); a value that does not pickle is
    digested by its type and repr.

    >>> value_digest({"b", "a"}) == value_digest({"a", "b"}) != value_digest({"a"})
    True
    """
    h = hashlib.blake2b(digest_size=12)
    if isinstance(value, set | frozenset):
        h.update(b"set:")
        for part in sorted(value_digest(v) for v in value):
            h.update(part.encode())
        return h.hexdigest()
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    except Exception:
        try:
            import cloudpickle

            buffers = []
            data = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
        except Exception:
            data = f"{type(value).__qualname__}:{value!r}".encode()
    h.update(data)
    for buf in buffers:
        h.update(buf.raw())
    return h.hexdigest()


def _constants(flow: Flow, task: Task) -> Any:
    from headwater.model.builtin_tasks import Constant

    bound = dict(flow.constants.get(task, {}))
    if isinstance(task, Constant):
        bound["<value>"] = task.value
    return bound


def flow_graph(flow: Flow, checkpointed: Callable[[Task], bool] | None = None) -> dict[str, Any]:
    """The flow's graph as JSON values (see the module's note).

    Args:
        flow: the flow.
        checkpointed: tells whether a task's result is written where a later run can read
            it (recorded to describe a resume; not compared).

    Returns:
        ``{"flow": name, "tasks": [[id, flags, constants digest or None], ...],
        "edges": [[upstream id, task id, argument or None, flags], ...]}``; task flags hold
        ``m`` (mapped), ``p`` (pure) and ``c`` (checkpointed), edge flags ``m`` (mapped)
        and ``f`` (flattened).
    """
    ids = stable_ids(flow)
    tasks = []
    for t in flow.tasks:
        flags = ("m" if flow.is_mapped(t) else "") + ("p" if is_pure(t) else "")
        if checkpointed is not None and checkpointed(t):
            flags += "c"
        bound = _constants(flow, t)
        tasks.append([ids[t], flags, value_digest(bound) if bound else None])
    edges = [
        [
            ids[e.upstream_task],
            ids[e.downstream_task],
            e.key,
            ("m" if e.mapped else "") + ("f" if e.flattened else ""),
        ]
        for e in flow.edges
    ]
    edges.sort(key=lambda e: (e[1], e[0], e[2] or "", e[3]))
    return {"flow": flow.name, "tasks": tasks, "edges": edges}


def _edge_text(edge: Sequence[Any]) -> str:
    up, down, key, flags = edge
    how = " mapped" if "m" in flags else ""
    how += " flattened" if "f" in flags else ""
    arg = f" as argument {key!r}" if key else " (state only)"
    return f"{up!r} -> {down!r}{arg}{how}"


def graph_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed from graph ``old`` to graph ``new`` (both from :func:`flow_graph`), one
    sentence each; empty when they are the same graph.

    >>> a = {"flow": "f", "tasks": [["x-1", "", None]], "edges": []}
    >>> b = {"flow": "f", "tasks": [["x-1", "", None], ["y-1", "", None]], "edges": []}
    >>> graph_changes(a, b)
    ["task 'y-1' is new"]
    """
    out: list[str] = []
    if old.get("flow") != new.get("flow"):
        out.append(f"the flow is named {new.get('flow')!r}, not {old.get('flow')!r}")
    before = {t[0]: t for t in old.get("tasks", [])}
    after = {t[0]: t for t in new.get("tasks", [])}
    out.extend(f"task {i!r} is gone" for i in before if i not in after)
    out.extend(f"task {i!r} is new" for i in after if i not in before)
    for i in before.keys() & after.keys():
        was, now = before[i], after[i]
        if ("m" in was[1]) != ("m" in now[1]):
            out.append(f"task {i!r} is {'mapped' if 'm' in now[1] else 'not mapped'} now")
        if was[2] != now[2]:
            out.append(f"the constant arguments of task {i!r} changed")
    old_edges = {tuple(e) for e in old.get("edges", [])}
    new_edges = {tuple(e) for e in new.get("edges", [])}
    out.extend(f"edge {_edge_text(e)} is gone" for e in sorted(old_edges - new_edges, key=str))
    out.extend(f"edge {_edge_text(e)} is new" for e in sorted(new_edges - old_edges, key=str))
    return out


@dataclass(frozen=True)
class Source:
    """An earlier run whose checkpoints a resumed run may read back.

    Args:
        run_id: its flow run id.
        token: the token of its signing key (what its checkpoints are bound to), or None
            when it stored nothing.
        run_name: its ``flow_run_name``.
        slugs: stable id -> the task's slug in that run.
    """

    run_id: str
    token: str | None
    run_name: str
    slugs: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The source as JSON values (for the journal)."""
        return {
            "run_id": self.run_id,
            "token": self.token,
            "run_name": self.run_name,
            "slugs": dict(self.slugs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Source:
        """A source from :meth:`as_json`'s values.

        Args:
            data: what :meth:`as_json` gave.
        """
        return cls(
            str(data["run_id"]),
            data.get("token"),
            str(data.get("run_name") or data["run_id"]),
            {str(k): str(v) for k, v in dict(data.get("slugs") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class ResumeFrom:
    """Where one task's checkpoints from earlier runs are, as its nodes read them back on a
    worker: per source (newest first) its run id, its signing-key token, its run name and
    the task's slug in it."""

    sources: tuple[tuple[str, str | None, str, str], ...]

    @classmethod
    def of(cls, stable_id: str, sources: Iterable[Source]) -> ResumeFrom | None:
        """The task ``stable_id``'s places in ``sources`` (None when it is in none that
        stored results).

        Args:
            stable_id: the task's stable id.
            sources: the earlier runs, newest first.
        """
        found = tuple(
            (s.run_id, s.token, s.run_name, s.slugs[stable_id])
            for s in sources
            if s.token is not None and stable_id in s.slugs
        )
        return cls(found) if found else None


@dataclass(frozen=True)
class RunIdentity:
    """What the flow runner tells the run hooks when a run starts, for a later resume.

    Args:
        token: the token of the run's signing key (checkpoints are bound to it), or None.
        context: the run's context (its flow-level keys).
        given: the context keys the caller gave (``flow_run_id`` among them, if given).
        resumed_from: the id of the run this one resumes, if it does.
        sources: the earlier runs it may read checkpoints of, newest first.
    """

    token: str | None
    context: Mapping[str, Any]
    given: Mapping[str, Any] = field(default_factory=dict)
    resumed_from: str | None = None
    sources: tuple[Source, ...] = ()


__all__ = [
    "ResumeFrom",
    "RunIdentity",
    "Source",
    "flow_graph",
    "graph_changes",
    "is_pure",
    "stable_ids",
    "value_digest",
]
