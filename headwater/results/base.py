"""The Result interface (PIN-4) and MemoryResult, which persists nothing.

Design note
-----------
A Result is a value, a location template and a serializer, and knows how to ``write``,
``read`` and check (``exists``) values at rendered locations, and ``validate`` its value.
It is a base class rather than a Protocol because every backend shares the same template
rendering, root check, validators and copying, and because States recognise a Result with
``isinstance``. Backends override three methods: ``write``, ``read``, ``exists``.

Results are values that move: the runner copies them, pickles them to Dask workers and
keeps them in States. ``write`` and ``read`` return *new* Results (the original keeps its
template), ``copy`` is shallow, validators are kept as a tuple, and a backend keeps live
connections out of its pickled state.

The run context reaches a Result as keyword arguments (``write(value, **context)``,
``exists(location, **context)``, ``format(**context)``); ``self``, ``value`` and
``location`` are positional-only, so a context field (a task input) may have any name,
``self`` and ``value`` too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from headwater.errors import ResultLocationError, ResultStorageError
from headwater.results._locations import default_location, render, template_fields
from headwater.serializers.base import PickleSerializer, Serializer

Validator = Callable[[Any], bool]
"""A result validator: takes the value, returns whether it is acceptable."""


class Result:
    """A task's output value, the location template it persists to, and its serializer.

    Args:
        value: the value held.
        location: a location template filled from the run context when written, e.g.
            ``"{flow_name}/{task_name}/{map_index}.pkl"``.
        serializer: how the value becomes bytes; a PickleSerializer by default.
        validators: callables taking the value and returning whether it is acceptable
            (see :meth:`validate`).
    """

    def __init__(
        self,
        value: Any = None,
        location: str | None = None,
        serializer: Serializer | None = None,
        validators: Iterable[Validator] | None = None,
    ) -> None:
        self.value = value
        self.location = location
        self.serializer: Serializer = serializer if serializer is not None else PickleSerializer()
        self.validators: tuple[Validator, ...] = tuple(validators or ())

    def copy(self) -> Result:
        """Return a shallow copy of this Result (the value is shared, not copied)."""
        return copy.copy(self)

    def format(self, /, **context: Any) -> str:
        """Render the location template with the run context.

        Args:
            **context: the run context: ``flow_name``, ``task_name``, ``map_index``,
                ``flow_run_id``, ``task_run_id``, ``date`` (a datetime), ``parameters``,
                ``task_hash`` and any other field the template uses.

        Returns:
            The rendered location, relative to the Result's root.

        Raises:
            ResultLocationError: when the Result has no template, a field is missing, or
                the rendered location would leave the root.

        >>> Result(location="{flow_name}/{date:%Y-%m-%d}/{parameters[n]}.pkl").format(
        ...     flow_name="etl", date=__import__("datetime").date(2024, 5, 1), parameters={"n": 3})
        'etl/2024-05-01/3.pkl'
        """
        if self.location is None:
            raise ResultLocationError(
                f"{type(self).__name__} has no location template to format; give it one, "
                "e.g. location='{flow_name}/{task_name}/{map_index}.pkl'."
            )
        return render(self.location, context)

    def validate(self) -> bool:
        """Run the validators on the value; True when every one of them accepts it."""
        return all(validator(self.value) for validator in self.validators)

    def exists(self, location: str, /, **context: Any) -> bool:
        """Return whether a value is stored at ``location``.

        Args:
            location: a location, or a template rendered with ``context`` when given.
            **context: the run context for a template.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement exists()")

    def read(self, location: str) -> Result:
        """Return a new Result holding the value read from ``location``.

        Args:
            location: a rendered location, relative to the Result's root.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement read()")

    def write(self, value: Any, /, **context: Any) -> Result:
        """Persist ``value`` and return a new Result holding it and its rendered location.

        Args:
            value: the value to store.
            **context: the run context the location template is rendered with.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement write()")

    def _with(self, value: Any, location: str | None) -> Result:
        """A copy holding ``value`` at ``location``."""
        new = self.copy()
        new.value = value
        new.location = location
        return new

    def __repr__(self) -> str:
        return f"<{type(self).__name__} location={self.location!r}>"


class MemoryResult(Result):
    """A Result that keeps its value in memory and persists nothing.

    ``exists`` is always False, ``write`` returns a copy holding the value, and ``read``
    refuses (there is nothing stored to read). States wrap plain values in it.

    Args:
        value: the value held.
        location: kept as given (never written to).
        serializer: kept for copies into other backends; unused here.
        validators: see :meth:`Result.validate`.
    """

    def __init__(
        self,
        value: Any = None,
        location: str | None = None,
        serializer: Serializer | None = None,
        validators: Iterable[Validator] | None = None,
    ) -> None:
        super().__init__(value, location, serializer, validators)

    def exists(self, location: str, /, **context: Any) -> bool:
        """A MemoryResult never has anything stored: always False.

        Args:
            location: ignored.
            **context: ignored.
        """
        return False

    def read(self, location: str) -> Result:
        """Refuse: a MemoryResult stores nothing.

        Args:
            location: the location asked for.

        Raises:
            ResultStorageError: always.
        """
        raise ResultStorageError(
            f"MemoryResult stores nothing, so there is no result at {location!r} to read. "
            "Use a LocalResult, S3Result or GCSResult to persist results."
        )

    def write(self, value: Any, /, **context: Any) -> Result:
        """Return a copy holding ``value``; nothing is persisted.

        Args:
            value: the value to hold.
            **context: ignored.
        """
        return self._with(value, self.location)


__all__ = ["MemoryResult", "Result", "Validator", "default_location", "template_fields"]
