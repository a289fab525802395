"""The serializer interface, the shared base of the built-in serializers, and PickleSerializer.

Design note
-----------
A serializer is two pure functions, ``serialize(value) -> bytes`` and
``deserialize(bytes) -> value`` (the :class:`Serializer` protocol): anything with those two
methods works, so user serializers need not inherit from anything here. A serializer may
also have ``dump(value, file)``, writing what ``serialize`` would return into a binary file:
Results then stream the value to storage instead of holding its bytes in memory
(PickleSerializer has it, so a large ``bytes`` result is never copied to be stored).

The built-in serializers are small immutable value objects. :class:`ConfiguredSerializer`
gives them equality, hashing and a ``repr`` from their configuration (``_config``), so two
``JSONSerializer(indent=2)`` compare equal, and they pickle as plain objects: they travel to
Dask workers inside Results. Unpickling never re-runs ``__init__``, so a worker that lacks
an optional package fails when it first needs it, with an error that says how to install it,
not while the task graph is being unpacked.

A value a serializer cannot handle raises :class:`~headwater.errors.SerializationError`
naming the value's type and a serializer that would handle it (:func:`suggest`); the task
runner adds the task's name. Bytes that cannot be read back raise it too.

This package imports nothing of headwater's except :mod:`headwater.errors`, and no optional
package at import time (cloudpickle, msgpack, lz4 and zstandard load when first used).
"""

from __future__ import annotations

import datetime as _dt
import pickle
from typing import IO, Any, Protocol, runtime_checkable

from headwater.errors import SerializationError


@runtime_checkable
class Serializer(Protocol):
    """Turns a value into bytes and back."""

    def serialize(self, value: Any) -> bytes:
        """Return the bytes that stand for ``value``.

        Args:
            value: the value to turn into bytes.

        Raises:
            SerializationError: when the serializer cannot handle the value.
        """
        ...

    def deserialize(self, data: bytes) -> Any:
        """Return the value that ``data`` stands for.

        Args:
            data: bytes made by :meth:`serialize`.

        Raises:
            SerializationError: when the bytes cannot be read back.
        """
        ...


class ConfiguredSerializer:
    """Base of the built-in serializers: equal, hashable and shown by their configuration.

    >>> PickleSerializer() == PickleSerializer()
    True
    """

    def _config(self) -> dict[str, Any]:
        """The arguments that define this serializer (keyword -> value)."""
        return {}

    def runs_code_when_reading(self) -> bool:
        """Whether :meth:`deserialize` may run code the bytes choose (unpickling does);
        True unless a serializer knows better."""
        return True

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, ConfiguredSerializer)
        return self._config() == other._config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self._config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"


def runs_code(serializer: Any) -> bool:
    """Whether reading bytes with ``serializer`` may run code they choose: True for
    PickleSerializer and for any serializer that does not say otherwise (its
    ``runs_code_when_reading()``); False for JSON and msgpack.

    Args:
        serializer: any serializer.

    >>> runs_code(PickleSerializer()), runs_code(object())
    (True, True)
    """
    method = getattr(serializer, "runs_code_when_reading", None)
    return True if method is None else bool(method())


def type_name(value: Any) -> str:
    """The qualified name of a value's type, for messages.

    >>> type_name(1), type_name(type_name)
    ('int', 'function')
    """
    cls = type(value)
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


_MSGPACK_EXTRA = (bytes, bytearray, tuple, set, frozenset, _dt.datetime, _dt.date, _dt.timedelta)
"""Types MsgPackSerializer handles and JSON does not."""


def suggest(value: Any) -> str:
    """Name a serializer that would handle ``value`` (by its type only, cheaply).

    Args:
        value: the value another serializer refused.

    >>> suggest(b"x")
    'MsgPackSerializer or PickleSerializer'
    >>> suggest(object())
    'PickleSerializer'
    """
    if type(value) in _MSGPACK_EXTRA:
        return "MsgPackSerializer or PickleSerializer"
    return "PickleSerializer"


class PickleSerializer(ConfiguredSerializer):
    """Serialize any picklable Python object with cloudpickle (the default).

    cloudpickle also handles lambdas, closures and classes defined in ``__main__``. Reading
    pickles runs code: read only results you wrote, or sign them (see ``signing_key`` on
    the Results).

    >>> s = PickleSerializer()
    >>> s.deserialize(s.serialize({"a": (1, 2)}))
    {'a': (1, 2)}
    """

    def serialize(self, value: Any) -> bytes:
        """Return ``value`` pickled with cloudpickle.

        Args:
            value: any picklable value.

        Raises:
            SerializationError: when the value cannot be pickled (a lock, an open file...).
        """
        import cloudpickle

        try:
            return bytes(cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:
            raise self._refused(value, exc) from exc

    def dump(self, value: Any, file: IO[bytes]) -> None:
        """Pickle ``value`` into ``file`` as :meth:`serialize` would, streaming: a large
        ``bytes`` value (or any buffer pickle writes whole) goes to the file without being
        copied in memory first.

        Args:
            value: any picklable value.
            file: a binary file open for writing.

        Raises:
            SerializationError: when the value cannot be pickled.
            OSError: when the file cannot be written.
        """
        import cloudpickle

        try:
            cloudpickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:
            raise
        except Exception as exc:
            raise self._refused(value, exc) from exc

    def _refused(self, value: Any, exc: Exception) -> SerializationError:
        return SerializationError(
            f"PickleSerializer cannot serialize a value of type {type_name(value)!r}: "
            f"{type(exc).__name__}: {exc}. Return plain data from the task (no open "
            "files, locks, sockets or generators), or do not persist this result "
            "(checkpoint=False or a MemoryResult)."
        )

    def deserialize(self, data: bytes) -> Any:
        """Unpickle ``data``.

        Args:
            data: bytes made by :meth:`serialize`.

        Raises:
            SerializationError: when the bytes are not a pickle this process can load.
        """
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise SerializationError(
                f"PickleSerializer cannot read {len(data)} bytes back: {type(exc).__name__}: "
                f"{exc}. Were they written by another serializer, or does this process lack "
                "a module the value's classes live in?"
            ) from exc


__all__ = [
    "ConfiguredSerializer",
    "PickleSerializer",
    "Serializer",
    "runs_code",
    "suggest",
    "type_name",
]
