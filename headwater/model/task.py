"""Tasks: the nodes of a flow, and how calling them inside a flow builds its DAG.

Design note
-----------
A :class:`Task` is a definition: a ``run()`` method plus options (retries, timeout, trigger,
handlers, results). Calling a task inside an active flow (``with Flow(...)`` or a ``@flow``
body) does not run it: it copies the task, binds the arguments and adds the copy and its
edges to the flow, returning the copy as a placeholder for its future result. So one ``@task``
function called three times is three nodes. ``task.map(...)`` does the same with mapped edges.

Arguments become edges: a Task argument is a data edge keyed by the parameter's name; a plain
value is a constant (mapped constants become a :class:`Constant` node so the map has an
upstream); a list, tuple, set or dict holding tasks becomes a small collection task. Binding is
checked against ``run``'s signature at call time: an argument the function does not take, or
one given twice, is refused naming the task and the argument.

A placeholder is not a value: ``bool(placeholder)`` inside a flow body raises an error that
points to ``case(...)``.

The active flow is held in a ContextVar (:func:`active_flow`) so flows can be built in several
threads at once.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import inspect
import itertools
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, overload

from headwater.errors import FlowDefinitionError
from headwater.model.retries import RetryDelay, RetryDelayOption, as_retry_delay
from headwater.model.task_options import CHECKED_OPTIONS, checked_options
from headwater.model.task_syntax import TaskSyntax

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State
    from headwater.results.base import Result

_active_flow: ContextVar[Flow | None] = ContextVar("headwater_active_flow", default=None)
_active_gates: ContextVar[tuple[Task, ...]] = ContextVar("headwater_active_gates", default=())
_counter = itertools.count(1)

RESERVED_ARGUMENTS = frozenset({"upstream_tasks", "flow", "task_args", "mapped"})
"""Keyword arguments that ``Task.__call__`` and ``Task.map`` keep for themselves."""

_AUTO: Any = object()
"""``.map()``'s default ``batch_size``: choose automatically."""


StateHandler = Callable[["Task", "State", "State"], "State | None"]
"""``handler(task, old_state, new_state)``; may return a replacement for ``new_state``."""


def active_flow() -> Flow | None:
    """Return the flow being defined in the current context, if any."""
    return _active_flow.get()


def active_gate() -> Task | None:
    """Return the condition gate of the innermost ``case`` block being defined, if any."""
    gates = _active_gates.get()
    return gates[-1] if gates else None


@contextlib.contextmanager
def defining(flow: Flow) -> Iterator[None]:
    """Inside the block, tasks called are added to ``flow`` (what ``with Flow(...)`` does)."""
    token = _active_flow.set(flow)
    try:
        yield
    finally:
        _active_flow.reset(token)


@contextlib.contextmanager
def gated_by(gate: Task | None) -> Iterator[None]:
    """Inside the block, tasks created wait for ``gate`` and run only when it passes (what
    ``with case(...)`` does); ``None`` lifts the enclosing gates (``apply_map`` builds its
    function's tasks apart, then gates them as a whole)."""
    token = _active_gates.set((*_active_gates.get(), gate) if gate is not None else ())
    try:
        yield
    finally:
        _active_gates.reset(token)


class unmapped:  # noqa: N801 - named like Prefect's, used as a marker in calls
    """Mark an argument of ``task.map(...)`` to be passed whole to every child.

    Args:
        value: a task or a plain value.
    """

    def __init__(self, value: Any) -> None:
        self.value = value


class flatten:  # noqa: N801
    """Mark an argument to be flattened one level: a list of lists becomes one list.

    ``task.map(flatten(xs))`` maps over the concatenation of the lists in ``xs`` (for example,
    the results of a mapped task that returns lists).

    Args:
        value: a task or a plain value holding a list of lists.
    """

    def __init__(self, value: Any) -> None:
        self.value = value


_signatures: weakref.WeakKeyDictionary[Any, inspect.Signature] = weakref.WeakKeyDictionary()
"""Signatures by function (a bound method's by its function): ``inspect.signature`` costs
tens of microseconds, and every run checks every task's (``Flow.validate``)."""


def signature_of(fn: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature(fn)``, remembered per function (a bound method: per function and
    ``self``'s absence, which is the same for every instance).

    Args:
        fn: a function, a bound method or another callable.
    """
    key = getattr(fn, "__func__", fn)
    bound = key is not fn
    try:
        cached = _signatures.get(key)
    except TypeError:  # not weakly referable (a builtin): not remembered
        return inspect.signature(fn)
    if cached is None:
        cached = inspect.signature(key)
        try:
            _signatures[key] = cached
        except TypeError:
            pass
    if bound:  # the bound method's signature: without its first parameter
        params = list(cached.parameters.values())[1:]
        return cached.replace(parameters=params)
    return cached


class Task(TaskSyntax):
    """A unit of work in a flow. Subclass it and define ``run()``, or use ``@task``.

    In a flow body it also has operators and ``set_upstream`` (:mod:`.task_syntax`).

    Every option but ``name`` is keyword-only.

    Args:
        name: the task's name (the class or function name by default).
        tags: labels; ``dask-resource:NAME=N`` tags become Dask resource restrictions.
        max_retries: how many times to try again after a failure (RETRY counts too).
        retry_delay: how long to wait before each retry: a timedelta or seconds, a list of
            them (one per retry, the last repeating), or
            :func:`~headwater.model.retries.exponential_backoff`.
        retry_on: retry only on these exception types (all exceptions by default).
        timeout: seconds after which the run ends TimedOut; the flow does not wait for it.
        trigger: a function of the upstream states deciding whether the task runs.
        state_handlers: ``handler(task, old_state, new_state)`` called on every transition.
        on_failure: ``callback(task, state)`` called when the task ends Failed.
        on_success: ``callback(task, state)`` called when the task ends successfully.
        nout: how many items the result has, to allow ``a, b = task(...)`` in a flow.
        task_run_name: a template (``"fetch-{map_index}"``, ``"fetch-{url}"``) or a callable
            taking the inputs, naming each run.
        log_stdout: send the task's ``print`` output to its logger.
        checkpoint: write the result with ``result`` when the task succeeds.
        result: the Result (backend, location template, serializer) for the output.
        target: a location template; if it exists, the task is not run (Cached).
        cache_for: how long a cached result stays valid.
        cache_validator: decides whether a cached result may be used.
        cache_key: a key to share a cache between tasks and flows.
        priority: a Dask priority (higher runs first).
    """

    is_gate: bool = False
    """Whether the task is a condition gate: tasks behind it skip when it does not pass."""
    wants_states: bool = False
    """Whether ``run`` receives the upstream States instead of their results."""
    auxiliary: bool = False
    """Whether the task is a helper that never decides the flow's state by default (a
    resource manager's init and cleanup); a task followed only by auxiliary tasks that end
    the flow (a cleanup) still counts as terminal."""
    batch_size: int | None = None
    """Children per graph node when the task is mapped (set by ``.map(batch_size=...)``);
    None chooses automatically (docs/notices/0010-batched-maps.md)."""

    def __init__(
        self,
        name: str | None = None,
        *,
        tags: Iterable[str] | None = None,
        max_retries: int = 0,
        retry_delay: RetryDelayOption = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] | None = None,
        timeout: float | _dt.timedelta | None = None,
        trigger: Callable[..., bool] | None = None,
        state_handlers: Iterable[StateHandler] | None = None,
        on_failure: Callable[[Task, State], None] | None = None,
        on_success: Callable[[Task, State], None] | None = None,
        nout: int | None = None,
        task_run_name: str | Callable[..., str] | None = None,
        log_stdout: bool = False,
        checkpoint: bool | None = None,
        result: Result | None = None,
        target: str | Callable[..., str] | None = None,
        cache_for: _dt.timedelta | None = None,
        cache_validator: Callable[..., bool] | None = None,
        cache_key: str | None = None,
        priority: int | None = None,
    ) -> None:
        self.name = name or type(self).__name__
        self.tags = frozenset(tags or ())
        checked = checked_options(
            self.name,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_on=retry_on,
            timeout=timeout,
            trigger=trigger,
            state_handlers=state_handlers,
            nout=nout,
        )
        self.max_retries = checked["max_retries"]
        self.retry_delay = checked["retry_delay"]
        self.retry_on = checked["retry_on"]
        self.timeout = checked["timeout"]
        self.trigger = checked["trigger"]
        self.state_handlers = checked["state_handlers"]
        self.on_failure = on_failure
        self.on_success = on_success
        self.nout = checked["nout"]
        self.task_run_name = task_run_name
        self.log_stdout = log_stdout
        self.checkpoint = checkpoint
        self.result = result
        self.target = target
        self.cache_for = cache_for
        self.cache_validator = cache_validator
        self.cache_key = cache_key
        self.priority = priority
        self.slug = f"{self.name}-{next(_counter)}"
        self._check_signature()

    @property
    def retry_delay(self) -> RetryDelay:
        """The wait before each retry: one timedelta, a tuple of them (one per retry, the
        last repeating), or an :class:`~headwater.model.retries.ExponentialBackoff`.
        Setting it (``copy(retry_delay=...)``, ``task_args``) checks the new value."""
        return self._retry_delay

    @retry_delay.setter
    def retry_delay(self, value: Any) -> None:
        self._retry_delay = as_retry_delay(value, self.name)

    # -- the work ------------------------------------------------------------------------
    def run(self) -> Any:
        """Do the task's work; subclasses override this."""
        raise NotImplementedError(
            f"Task {self.name!r} has no run() method; subclass Task and define it"
        )

    def signature(self) -> inspect.Signature:
        """Return the signature of ``run`` that arguments are bound against."""
        return signature_of(self.run)

    def _check_signature(self) -> None:
        params = self.signature().parameters
        for p in params.values():
            if p.kind is inspect.Parameter.VAR_POSITIONAL:
                raise FlowDefinitionError(
                    f"Task {self.name!r} takes *{p.name}; tasks cannot take *args because every "
                    "argument is bound by name. Take a list instead."
                )
        clash = sorted(RESERVED_ARGUMENTS & set(params))
        if clash:
            raise FlowDefinitionError(
                f"Task {self.name!r} has an argument named {clash[0]!r}, which headwater keeps for "
                f"itself ({', '.join(sorted(RESERVED_ARGUMENTS))}); rename it."
            )

    # -- copying -------------------------------------------------------------------------
    def copy(self, **task_args: Any) -> Task:
        """Return a copy with a new identity and some attributes changed, as in Prefect Core 1.

        The options of :class:`Task` are checked as the constructor checks them; ``tags`` are
        added to the task's own. The copy has none of the task's edges.

        Args:
            **task_args: attributes to set on the copy (``name=``, ``max_retries=``...).

        Returns:
            The copy (not added to any flow).

        Raises:
            AttributeError: an argument names no attribute of the task.
            TypeError, ValueError: an option is refused, as by the constructor.
        """
        unknown = sorted(k for k in task_args if k == "slug" or not hasattr(self, k))
        if unknown:
            hint = (
                " (the slug tells copies apart and is made from the name; set name= instead)"
                if "slug" in unknown
                else ""
            )
            raise AttributeError(f"Task {self.name!r} has no attribute {unknown[0]!r} to set{hint}")
        flow = active_flow()
        if (
            flow is not None
            and flow.has_task(self)
            and (flow.upstream_edges(self) or flow.downstream_edges(self))
        ):
            warnings.warn(
                f"Copying task {self.name!r}, which has dependencies in the flow being defined "
                f"({flow.name!r}): the copy does not keep them.",
                stacklevel=2,
            )
        name = task_args.get("name", self.name)
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"Task {self.name!r}: a copy's name must be a non-empty str, got {name!r}"
            )
        checked = checked_options(
            name, **{k: v for k, v in task_args.items() if k in CHECKED_OPTIONS}
        )
        new = copy.copy(self)
        new.state_handlers = list(self.state_handlers)
        for key, value in {**task_args, **checked}.items():
            setattr(new, key, value)
        new.tags = frozenset(self.tags) | frozenset(task_args.get("tags") or ())
        new.slug = f"{new.name}-{next(_counter)}"
        new._check_signature()
        _check_batch_size(new)
        return new

    # -- building flows ------------------------------------------------------------------
    def __call__(
        self,
        *args: Any,
        upstream_tasks: Iterable[Any] | None = None,
        task_args: dict[str, Any] | None = None,
        flow: Flow | None = None,
        **kwargs: Any,
    ) -> Task:
        """Add a copy of this task to the active flow, bound to these arguments.

        Args:
            *args: positional arguments of ``run``.
            upstream_tasks: tasks this one waits for without taking their results.
            task_args: options to change on the copy (``name=``, ``max_retries=``...).
            flow: the flow to add to (the active flow by default).
            **kwargs: keyword arguments of ``run``.

        Returns:
            The new task, a placeholder for its result.
        """
        new = self.copy(**(task_args or {}))
        new.bind(*args, upstream_tasks=upstream_tasks, flow=flow, **kwargs)
        return new

    def map(
        self,
        *args: Any,
        upstream_tasks: Iterable[Any] | None = None,
        task_args: dict[str, Any] | None = None,
        flow: Flow | None = None,
        batch_size: Any = _AUTO,
        **kwargs: Any,
    ) -> Task:
        """Add a copy that runs once per element of its (zipped) arguments.

        Wrap an argument in :class:`unmapped` to pass it whole to every child, in
        :class:`flatten` to map over the concatenation of a list of lists.

        Large maps run several children per graph node (every child keeps its own state,
        retries and map index); ``batch_size`` sets how many. A task whose function itself
        takes an argument named ``batch_size`` receives it as usual; set the map's through
        ``task_args={"batch_size": n}`` then.

        Args:
            *args: positional arguments of ``run``.
            upstream_tasks: tasks each child waits for.
            task_args: options to change on the copy.
            flow: the flow to add to (the active flow by default).
            batch_size: children per graph node: a positive int (1 runs one child per node);
                automatic when left out (docs/notices/0010-batched-maps.md).
            **kwargs: keyword arguments of ``run``.

        Returns:
            The new (mapped) task.

        Raises:
            FlowDefinitionError: when no argument is mapped (all are :class:`unmapped`), or
                when ``batch_size`` is not a positive int (a ValueError).
        """
        if batch_size is not _AUTO and "batch_size" in self.signature().parameters:
            kwargs["batch_size"] = batch_size  # the function's own argument
            batch_size = _AUTO
        given = [*args, *kwargs.values(), *(upstream_tasks or ())]
        if not any(unwrap(a)[1] for a in given):
            raise FlowDefinitionError(
                f"{self.name}.map(...) has nothing to map over: give it at least one argument "
                f"that is not unmapped(...), or call {self.name}(...) to run it once."
            )
        new = self.copy(**(task_args or {}))
        if batch_size is not _AUTO:
            new.batch_size = batch_size
        _check_batch_size(new)
        new.bind(*args, upstream_tasks=upstream_tasks, flow=flow, mapped=True, **kwargs)
        return new

    def bind(
        self,
        *args: Any,
        upstream_tasks: Iterable[Any] | None = None,
        flow: Flow | None = None,
        mapped: bool = False,
        **kwargs: Any,
    ) -> Task:
        """Bind arguments to this very task (no copy) in a flow.

        Raises:
            FlowDefinitionError: when no flow is active, or the arguments do not fit ``run``.
        """
        flow = flow or active_flow()
        if flow is None:
            raise FlowDefinitionError(
                f"Task {self.name!r} was called outside a flow. Call it inside `with Flow(...):` "
                f"or a @flow function, or call `{self.name}.run(...)` to run it directly."
            )
        try:
            bound = self.signature().bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise FlowDefinitionError(
                f"Task {self.name!r} cannot be called with these arguments: {exc}. "
                f"It takes {self.name}({', '.join(self.signature().parameters)})."
            ) from None
        callargs = dict(bound.arguments)
        for p in self.signature().parameters.values():
            if p.kind is inspect.Parameter.VAR_KEYWORD and p.name in callargs:
                callargs.update(callargs.pop(p.name))
        flow.set_dependencies(
            self, upstream_tasks=upstream_tasks, keyword_tasks=callargs, mapped=mapped
        )
        return self

    def __getitem__(self, key: Any) -> Task:
        """Return a task that takes ``result[key]`` from this task's result."""
        label = key.name if isinstance(key, Task) else repr(key)
        from headwater.model.builtin_tasks import GetItem

        return GetItem(name=f"{self.name}[{label}]")(self, key)

    def __iter__(self) -> Iterator[Task]:
        if self.nout is None:
            raise FlowDefinitionError(
                f"Task {self.name!r} cannot be unpacked: its number of outputs is unknown. "
                f"Give it nout=N (@task(nout=2)) or index it: {self.name}[0]."
            )
        return (self[i] for i in range(self.nout))

    def __bool__(self) -> bool:
        if active_flow() is not None:
            raise FlowDefinitionError(
                f"Task {self.name!r} is a placeholder for a result that does not exist yet, so it "
                "cannot be used in a Python `if`, `and`, `or` or bool(). Use "
                "`with case(task, value):` (or switch/ifelse) to branch on a task's result."
            )
        return True

    def __repr__(self) -> str:
        return f"<Task: {self.name}>"


class FunctionTask(Task):
    """A task whose ``run`` is a plain function (what ``@task`` makes).

    Args:
        fn: the function.
        name: the task's name (the function's name by default).
        **options: the options of :class:`Task`.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None, **options: Any) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        super().__init__(name=name or getattr(fn, "__name__", type(fn).__name__), **options)

    def run(self, /, *args: Any, **kwargs: Any) -> Any:
        """Call the function (``self`` is positional-only, so a function whose first
        argument is ``self``, a method used as a task, gets it by name)."""
        return self.fn(*args, **kwargs)

    def signature(self) -> inspect.Signature:
        """Return the function's signature."""
        return signature_of(self.fn)


F = TypeVar("F", bound=Callable[..., Any])


@overload
def task(fn: Callable[..., Any], /) -> FunctionTask: ...
@overload
def task(
    *, name: str | None = None, **options: Any
) -> Callable[[Callable[..., Any]], FunctionTask]: ...
def task(
    fn: Callable[..., Any] | None = None, /, **options: Any
) -> FunctionTask | Callable[[Callable[..., Any]], FunctionTask]:
    """Turn a function into a task, bare (``@task``) or with options (``@task(max_retries=2)``).

    Args:
        fn: the function (when used bare).
        **options: the options of :class:`Task`.

    Returns:
        A :class:`FunctionTask`, or a decorator making one.
    """
    if fn is not None:
        return FunctionTask(fn, **options)

    def decorator(f: Callable[..., Any]) -> FunctionTask:
        return FunctionTask(f, **options)

    return decorator


def _check_batch_size(task: Task) -> None:
    size = task.batch_size
    if size is None or (isinstance(size, int) and not isinstance(size, bool) and size >= 1):
        return
    raise FlowDefinitionError(
        f"{task.name}.map(batch_size={size!r}): batch_size must be a positive int "
        "(children per graph node; 1 runs one child per node), or left out to choose it "
        "automatically"
    )


def unwrap(value: Any, mapped: bool = True) -> tuple[Any, bool, bool]:
    """The value inside ``unmapped``/``flatten`` markers, whether it is mapped (``mapped``,
    unless a marker is ``unmapped``) and whether it is flattened."""
    flat = False
    while isinstance(value, unmapped | flatten):
        if isinstance(value, unmapped):
            mapped = False
        else:
            flat = True
        value = value.value
    return value, mapped, flat


__all__ = [
    "FunctionTask",
    "Task",
    "active_flow",
    "flatten",
    "task",
    "unmapped",
    "unwrap",
]
