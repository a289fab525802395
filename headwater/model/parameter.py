"""Parameters: the named inputs of a flow run, checked before anything runs.

Design note
-----------
A :class:`Parameter` is a task whose result is the value given for it in
``flow.run(parameters=...)`` (or its default). Creating one inside ``with Flow(...)`` adds it
to that flow, so an unused parameter still belongs to the flow. Values are checked once, on
the driver, before any task runs (:func:`resolve_parameters`): an unknown name, a missing
required value (:meth:`Parameter.value_not_given`; a :class:`~headwater.model.secrets.Secret`
also looks in the environment and a secrets file), or a value that does not fit the parameter's type annotation (checked and
coerced with pydantic) is refused with one error naming every problem.

As in Prefect Core 1, a parameter created without a default is required: ``Parameter("n")``
refuses a run that gives no ``n``; ``Parameter("n", required=False)`` (or ``default=None``)
is optional and None when not given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from headwater.errors import FlowDefinitionError, ParameterError
from headwater.model.context import context
from headwater.model.task import Task, active_flow

_NO_ANNOTATION = object()


class _NoDefault:
    """The default of ``Parameter(default=...)`` when none is given (a parameter without a
    default is required)."""

    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT: Any = _NoDefault()


class Parameter(Task):
    """A named flow input.

    Args:
        name: the parameter's name, unique in its flow.
        default: the value used when the run gives none (None when ``required=False`` and no
            default is given).
        required: whether every run must give a value; by default, True exactly when no
            ``default`` is given (as in Prefect Core 1).
        annotation: a type the value must fit (checked and coerced with pydantic).
        tags: labels, as for any task.

    Raises:
        ValueError: an empty name, or ``required=True`` together with a default other than None.
    """

    def __init__(
        self,
        name: str,
        default: Any = _NO_DEFAULT,
        required: bool | None = None,
        *,
        annotation: Any = _NO_ANNOTATION,
        tags: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"A Parameter needs a non-empty name, got {name!r}")
        if required is None:
            required = default is _NO_DEFAULT
        if default is _NO_DEFAULT:
            default = None
        if required and default is not None:
            raise ValueError(
                f"Parameter {name!r} is required and also has a default ({default!r}); "
                "give one or the other."
            )
        self.default = default
        self.required = required
        self.annotation = annotation
        super().__init__(name=name, tags=tags)
        flow = active_flow()
        if flow is not None:
            flow.add_task(self)

    def copy(self, name: str | None = None, **task_args: Any) -> Parameter:
        """Return a copy under a new name (Prefect Core 1's ``Parameter.copy(name)``).

        Args:
            name: the copy's name; a flow's parameter names are unique, so it is required.
            **task_args: attributes to set on the copy (``default=``, ``required=``, ``tags=``...).

        Returns:
            The copy (not added to any flow; using it in a task adds it).

        Raises:
            TypeError: no name given.
            ValueError: the copy would be required and have a default.
        """
        if name is None:
            raise TypeError(
                f"Parameter {self.name!r}.copy() needs the copy's name, e.g. "
                f"{self.name}.copy('{self.name}_2'): a flow's parameter names are unique."
            )
        new = cast(Parameter, super().copy(name=name, **task_args))
        if new.required and new.default is not None:
            raise ValueError(
                f"Parameter {name!r} would be required and also have a default "
                f"({new.default!r}); give required=False with the default."
            )
        return new

    def run(self) -> Any:
        """Return this parameter's value in the current run."""
        return context["parameters"][self.name]

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        raise FlowDefinitionError(
            f"Parameter {self.name!r} is not called; pass it to tasks as it is: task({self.name})."
        )

    def value_not_given(self) -> Any:
        """The value of a run that gives none: the default (a Secret looks further).

        Raises:
            ParameterError: when the parameter is required (one line, for the run's list).
        """
        if self.required:
            raise ParameterError(
                f"parameter {self.name!r} is required and was not given (give it, or create it "
                f"with a default or required=False)"
            )
        return self.default

    def prepare_value(self, value: Any) -> Any:
        """Return what tasks receive for ``value`` (the value itself; a Secret wraps it)."""
        return value

    def has_annotation(self) -> bool:
        """Whether values are checked against a type."""
        return self.annotation is not _NO_ANNOTATION

    def __repr__(self) -> str:
        return f"<Parameter: {self.name}>"


def resolve_parameters(
    flow_name: str, declared: Iterable[Parameter], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return every parameter's value for a run, or refuse with all the problems at once.

    Args:
        flow_name: the flow's name, for messages.
        declared: the flow's parameters.
        given: the values the caller gave.

    Raises:
        ParameterError: naming every unknown, missing or ill-typed parameter.
    """
    params = {p.name: p for p in declared}
    given = dict(given or {})
    problems: list[str] = []
    unknown = sorted(set(given) - set(params))
    for name in unknown:
        known = ", ".join(sorted(params)) or "none"
        problems.append(f"unknown parameter {name!r} (the flow's parameters: {known})")
    values: dict[str, Any] = {}
    for name, p in params.items():
        if name not in given:
            try:
                values[name] = p.prepare_value(p.value_not_given())
            except ParameterError as exc:
                if str(exc) not in problems:  # a secrets file refused once, not per secret
                    problems.append(str(exc))
            continue
        value = given[name]
        if p.has_annotation():
            try:
                value = _validate(p.annotation, value)
            except Exception as exc:  # pydantic.ValidationError, with the reason in one line
                reason = _first_error(exc)
                problems.append(
                    f"parameter {name!r} got {value!r}, which is not a valid {_type_name(p.annotation)}: {reason}"
                )
                continue
        values[name] = p.prepare_value(value)
    if problems:
        n = len(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ParameterError(
            f"Flow {flow_name!r} refused its parameters ({n} problem{'s' if n > 1 else ''}):\n{lines}"
        )
    return values


def _validate(annotation: Any, value: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation).validate_python(value)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return str(errors()[0]["msg"])
        except Exception:
            pass
    return str(exc).splitlines()[0]


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


__all__ = ["Parameter", "resolve_parameters"]
