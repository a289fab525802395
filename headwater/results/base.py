"""The Result interface (PIN-4) and MemoryResult, which persists nothing."""

from __future__ import annotations

import copy
from typing import Any

from headwater.serializers.base import PickleSerializer, Serializer


class Result:
    """A task's output value, the location template it persists to, and its serializer.

    Args:
        value: the value held.
        location: a location template filled from the run context when written.
        serializer: how the value becomes bytes; cloudpickle by default.
    """

    def __init__(
        self,
        value: Any = None,
        location: str | None = None,
        serializer: Serializer | None = None,
    ) -> None:
        self.value = value
        self.location = location
        self.serializer: Serializer = serializer or PickleSerializer()

    def copy(self) -> Result:
        """Return a shallow copy of this Result."""
        return copy.copy(self)

    def format(self, **context: Any) -> str:
        """Render the location template with the run context."""
        if self.location is None:
            raise ValueError(f"{type(self).__name__} has no location to format")
        return self.location.format(**context)

    def exists(self, location: str, **context: Any) -> bool:
        """Return whether a value is stored at ``location``."""
        raise NotImplementedError

    def read(self, location: str) -> Result:
        """Return a new Result holding the value read from ``location``."""
        raise NotImplementedError

    def write(self, value: Any, **context: Any) -> Result:
        """Persist ``value`` and return a new Result with the rendered location."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} location={self.location!r}>"


class MemoryResult(Result):
    """A Result that keeps its value in memory and persists nothing."""

    def exists(self, location: str, **context: Any) -> bool:
        """A MemoryResult never has anything stored."""
        return False

    def write(self, value: Any, **context: Any) -> Result:
        """Return a copy holding ``value``; nothing is persisted."""
        new = self.copy()
        new.value = value
        return new
