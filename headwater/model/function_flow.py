"""``@flow``: a flow traced from a function.

Design note
-----------
:class:`FunctionFlow` runs the decorated function's body once, inside the flow, to build the
same static DAG a ``with Flow(...)`` block builds; the function's arguments become Parameters
(defaults kept; annotations checked and coerced by pydantic when the run starts; an argument
without a default is required). ``f.run(**params)`` returns the flow State like
:meth:`Flow.run`; ``f(**params)`` returns the value of what the body returned, with each task
in it replaced by its result, and raises :class:`~headwater.errors.FlowRunError` when the run
did not succeed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from headwater.errors import FlowDefinitionError, FlowRunError
from headwater.model.flow import Flow
from headwater.model.parameter import Parameter
from headwater.model.task import Task

if TYPE_CHECKING:
    from headwater.listeners.base import Listener
    from headwater.model.states import State
    from headwater.runtime.scheduled import ScheduledRuns


RUN_KEYWORDS = frozenset(
    {
        "executor",
        "task_states",
        "return_tasks",
        "context",
        "parameters",
        "progress",
        "run_on_schedule",
        "max_runs",
        "resume",
        "listen",
        "max_concurrent_runs",
    }
)


class FunctionFlow(Flow):
    """A flow traced from a function by ``@flow``.

    The function's arguments become Parameters (defaults and annotations kept); its body runs
    once, inside the flow, to build the DAG. ``f.run(**params)`` returns the flow State;
    ``f(**params)`` returns the value of what the body returned and raises
    :class:`FlowRunError` when the run did not succeed.

    Args:
        fn: the function.
        name: the flow's name (the function's name by default).
        **flow_options: other arguments of :class:`Flow`.
    """

    def __init__(
        self, fn: Callable[..., Any], name: str | None = None, **flow_options: Any
    ) -> None:
        super().__init__(name or fn.__name__, **flow_options)
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self._signature = inspect.signature(fn)
        clash = sorted(RUN_KEYWORDS & set(self._signature.parameters))
        if clash:
            raise FlowDefinitionError(
                f"@flow {self.name!r} has an argument named {clash[0]!r}, which flow.run() keeps "
                f"for itself ({', '.join(sorted(RUN_KEYWORDS))}); rename it."
            )
        with self:
            kwargs: dict[str, Parameter] = {}
            for p in self._signature.parameters.values():
                if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                    raise FlowDefinitionError(
                        f"@flow {self.name!r} takes *{p.name}; flow arguments must be named parameters"
                    )
                has_default = p.default is not inspect.Parameter.empty
                annotation = p.annotation
                if isinstance(annotation, str):  # `from __future__ import annotations`
                    annotation = _resolve_annotation(fn, p.name, annotation)
                extra = {} if annotation is inspect.Parameter.empty else {"annotation": annotation}
                kwargs[p.name] = Parameter(
                    p.name,
                    default=p.default if has_default else None,
                    required=not has_default,
                    **extra,
                )
            self.return_value = fn(**kwargs)

    def _bind(self, args: tuple[Any, ...], params: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self._signature.bind_partial(*args, **params)
        except TypeError as exc:
            raise FlowDefinitionError(
                f"@flow {self.name!r}: {exc}; its signature is {self.name}{self._signature}"
            ) from None
        return dict(bound.arguments)

    @overload
    def run(
        self,
        *args: Any,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: Literal[False] = False,
        max_runs: None = None,
        listen: None = None,
        max_concurrent_runs: None = None,
        resume: str | None = None,
        **params: Any,
    ) -> State: ...

    @overload
    def run(
        self,
        *args: Any,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: Literal[True],
        max_runs: int | None = None,
        listen: Listener | Iterable[Listener] | None = None,
        max_concurrent_runs: int | None = None,
        **params: Any,
    ) -> ScheduledRuns: ...

    @overload
    def run(
        self,
        *args: Any,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: bool = False,
        max_runs: int | None = None,
        listen: Listener | Iterable[Listener],
        max_concurrent_runs: int | None = None,
        **params: Any,
    ) -> ScheduledRuns: ...

    def run(
        self,
        *args: Any,
        executor: Any = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        context: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        run_on_schedule: bool = False,
        max_runs: int | None = None,
        listen: Listener | Iterable[Listener] | None = None,
        max_concurrent_runs: int | None = None,
        resume: str | None = None,
        **params: Any,
    ) -> State | ScheduledRuns:
        """Run the flow with these parameter values and return its State (or, with
        ``run_on_schedule=True`` or ``listen=``, every run: see :meth:`Flow.run`;
        ``resume=``: a journaled run to resume, or ``"last"``)."""
        values = {**(parameters or {}), **self._bind(args, params)}
        return self._run_with(
            values,
            executor=executor,
            task_states=task_states,
            return_tasks=return_tasks,
            context=context,
            progress=progress,
            run_on_schedule=run_on_schedule,
            max_runs=max_runs,
            listen=listen,
            max_concurrent_runs=max_concurrent_runs,
            resume=resume,
        )

    def __call__(self, *args: Any, executor: Any = None, **params: Any) -> Any:
        """Run the flow and return the value its body returned.

        Raises:
            FlowRunError: when the flow run did not succeed, naming the tasks that failed.
        """
        state = self.run(*args, executor=executor, **params)
        if not state.is_successful():
            raise FlowRunError(f"Flow {self.name!r} did not succeed: {state.message}", state=state)
        return _resolve_value(self.return_value, state.result)


def _resolve_annotation(fn: Callable[..., Any], name: str, annotation: str) -> Any:
    import typing

    try:
        return typing.get_type_hints(fn).get(name, inspect.Parameter.empty)
    except Exception as exc:
        raise FlowDefinitionError(
            f"@flow {fn.__name__!r}: the annotation {annotation!r} of argument {name!r} cannot be resolved ({exc})"
        ) from exc


def _resolve_value(value: Any, states: Mapping[Task, State]) -> Any:
    if isinstance(value, Task):
        return states[value].result
    if isinstance(value, list | tuple | set):
        return type(value)(_resolve_value(v, states) for v in value)
    if isinstance(value, dict):
        return {k: _resolve_value(v, states) for k, v in value.items()}
    return value


def flow(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Trace a function into a flow: ``@flow`` or ``@flow(name="etl")``.

    Args:
        fn: the function (when used bare).
        **options: arguments of :class:`Flow` (``name``, ``result``, ...).

    Returns:
        A :class:`FunctionFlow`, or a decorator making one.
    """
    if fn is not None:
        return FunctionFlow(fn, **options)
    return lambda f: FunctionFlow(f, **options)


__all__ = ["RUN_KEYWORDS", "FunctionFlow", "flow"]
