"""Serializers turn task outputs into bytes and back: ``serialize(value) -> bytes``.

=======================  ===================================================================
serializer               handles
=======================  ===================================================================
PickleSerializer         any picklable value (cloudpickle; the default)
JSONSerializer           JSON values; tuples come back as lists
MsgPackSerializer        plain data, keeping tuples, sets, datetimes, bytes and big ints
CompressedSerializer     any serializer, then zlib, gzip, bz2, lzma, lz4 or zstd
=======================  ===================================================================

Any object with ``serialize`` and ``deserialize`` methods is a :class:`Serializer`. A value a
serializer cannot handle raises :class:`~headwater.errors.SerializationError`, whose message
names the type and a serializer that would handle it.
"""

from __future__ import annotations

from headwater.serializers._compressed import CompressedSerializer
from headwater.serializers._json import JSONSerializer
from headwater.serializers._msgpack import MsgPackSerializer
from headwater.serializers.base import PickleSerializer, Serializer

__all__ = [
    "CompressedSerializer",
    "JSONSerializer",
    "MsgPackSerializer",
    "PickleSerializer",
    "Serializer",
]
