"""The serializer interface and the default (cloudpickle) serializer."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Serializer(Protocol):
    """Turns a value into bytes and back."""

    def serialize(self, value: Any) -> bytes:
        """Return the bytes that stand for ``value``."""
        ...

    def deserialize(self, data: bytes) -> Any:
        """Return the value that ``data`` stands for."""
        ...


class PickleSerializer:
    """Serialize any Python object with cloudpickle."""

    def serialize(self, value: Any) -> bytes:
        """Return ``value`` pickled with cloudpickle."""
        import cloudpickle

        return bytes(cloudpickle.dumps(value))

    def deserialize(self, data: bytes) -> Any:
        """Unpickle ``data``."""
        import pickle

        return pickle.loads(data)
