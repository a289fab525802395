"""JSONSerializer: values that are JSON, as UTF-8 JSON text.

Design note
-----------
JSON results can be read by any tool, so the serializer refuses what would not come back
as it went in, rather than guessing: a value of another type (bytes, datetime, set, an
object) or a dict key that is not a string (``json`` would turn ``1`` into ``"1"``, and
``{1: .., "1": ..}`` into one key). The refusal names the type, where it sits in the value
(``value['rows'][3]``) and a serializer that handles it. Tuples are accepted and come back
as lists, JSON's only sequence; subclasses of the JSON types (an ``IntEnum``, an
``OrderedDict``, ``numpy.float64``) come back as the plain type, equal to what went in. Floats ``nan`` and
``inf`` are written as Python's ``json`` writes them (``NaN``, ``Infinity``), which Python
reads back but strict JSON parsers may not.

The check walks the value once before ``json.dumps`` does; it costs about as much again as
the encoding, which is small next to writing the bytes anywhere.
"""

from __future__ import annotations

import json
from typing import Any

from headwater.errors import SerializationError
from headwater.serializers.base import ConfiguredSerializer, suggest, type_name

_SCALARS = (str, int, float, bool, type(None))


class JSONSerializer(ConfiguredSerializer):
    """Serialize JSON values (None, bool, int, float, str, list, tuple, dict with str keys).

    Tuples come back as lists. Anything else is refused with a
    :class:`~headwater.errors.SerializationError` naming its type and where it is.

    Args:
        indent: indent the JSON text by this many spaces (None: compact).
        sort_keys: write object keys sorted, so equal values give equal bytes.

    >>> s = JSONSerializer(sort_keys=True)
    >>> s.serialize({"b": [1, 2.5, None], "a": "x"})
    b'{"a": "x", "b": [1, 2.5, null]}'
    >>> s.deserialize(b'{"a": [true]}')
    {'a': [True]}
    """

    def __init__(self, indent: int | None = None, sort_keys: bool = False) -> None:
        self.indent = indent
        self.sort_keys = sort_keys

    def _config(self) -> dict[str, Any]:
        return {"indent": self.indent, "sort_keys": self.sort_keys}

    def runs_code_when_reading(self) -> bool:
        """False: reading JSON runs no code."""
        return False

    def serialize(self, value: Any) -> bytes:
        """Return ``value`` as UTF-8 JSON text.

        Args:
            value: a JSON value.

        Raises:
            SerializationError: when the value, or something inside it, is not JSON.
        """
        try:
            _check(value, "value", set())
            text = json.dumps(value, indent=self.indent, sort_keys=self.sort_keys)
        except SerializationError:
            raise
        except (TypeError, ValueError, RecursionError) as exc:  # deep nesting
            raise SerializationError(
                f"JSONSerializer cannot serialize a value of type {type_name(value)!r}: "
                f"{type(exc).__name__}: {exc}. Use PickleSerializer."
            ) from exc
        return text.encode("utf-8")

    def deserialize(self, data: bytes) -> Any:
        """Parse UTF-8 JSON text.

        Args:
            data: bytes made by :meth:`serialize` (or any UTF-8 JSON text).

        Raises:
            SerializationError: when the bytes are not UTF-8 JSON.
        """
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                f"JSONSerializer cannot read {len(data)} bytes back: {type(exc).__name__}: "
                f"{exc}. Were they written by another serializer?"
            ) from exc


def _check(value: Any, where: str, seen: set[int]) -> None:
    """Raise SerializationError for the first thing in ``value`` that is not JSON."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list | tuple):
        _enter(value, where, seen)
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]", seen)
        seen.discard(id(value))
        return
    if isinstance(value, dict):
        _enter(value, where, seen)
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"JSONSerializer cannot serialize the dict key {key!r} of type "
                    f"{type_name(key)!r}{_at(where)}: JSON object keys are strings, and "
                    f"json would silently turn it into one. Use string keys, or "
                    f"MsgPackSerializer or PickleSerializer, which keep keys as they are."
                )
            _check(item, f"{where}[{key!r}]", seen)
        seen.discard(id(value))
        return
    raise SerializationError(
        f"JSONSerializer cannot serialize a value of type {type_name(value)!r}{_at(where)}: "
        f"JSON has only None, bool, int, float, str, lists and dicts with str keys. "
        f"Use {suggest(value)}, or convert the value to JSON types first."
    )


def _at(where: str) -> str:
    return "" if where == "value" else f" at {where}"


def _enter(container: Any, where: str, seen: set[int]) -> None:
    if id(container) in seen:
        raise SerializationError(
            f"JSONSerializer cannot serialize a value that contains itself (at {where}). "
            "Use PickleSerializer, which keeps shared and circular references."
        )
    seen.add(id(container))


__all__ = ["JSONSerializer"]
