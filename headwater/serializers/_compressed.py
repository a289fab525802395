"""CompressedSerializer: any serializer, then a compression format.

Design note
-----------
Compression wraps another serializer (``inner``) rather than being an option of each one,
so every combination exists once. zlib, gzip, bz2 and lzma come with Python; lz4 (frame
format) and zstd need the ``lz4`` and ``zstandard`` packages (``pip install
'headwater[compression]'``). Asking for a format whose package is missing fails when the
serializer is made, on the driver, with the command to install it; a worker that lacks
the package fails the same way when it first compresses or decompresses (unpickling a
serializer never imports anything).

Bytes that do not decompress raise :class:`~headwater.errors.SerializationError` naming the
format; they are never handed to the inner serializer.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from headwater.errors import SerializationError
from headwater.serializers.base import ConfiguredSerializer, PickleSerializer, Serializer, runs_code

FORMATS = ("zlib", "gzip", "bz2", "lzma", "lz4", "zstd")
"""Compression formats, by name."""

_PACKAGES = {"lz4": "lz4", "zstd": "zstandard"}


class CompressedSerializer(ConfiguredSerializer):
    """Compress what another serializer makes.

    Args:
        inner: the serializer that turns values into bytes (PickleSerializer by default).
        format: one of ``zlib``, ``gzip``, ``bz2``, ``lzma``, ``lz4``, ``zstd``.
        level: the compression level (the format's default when None).

    Raises:
        ValueError: for an unknown format or a level that is not an int.
        ImportError: when the format's package (lz4, zstandard) is not installed.

    >>> from headwater.serializers import JSONSerializer
    >>> s = CompressedSerializer(JSONSerializer(), format="zlib")
    >>> s.deserialize(s.serialize([0] * 1000)) == [0] * 1000
    True
    >>> len(s.serialize([0] * 1000)) < 100
    True
    """

    def __init__(
        self, inner: Serializer | None = None, format: str = "zlib", level: int | None = None
    ) -> None:
        if format not in FORMATS:
            raise ValueError(
                f"CompressedSerializer has no format {format!r}; use one of {', '.join(FORMATS)}"
            )
        if level is not None and (not isinstance(level, int) or isinstance(level, bool)):
            raise ValueError(f"CompressedSerializer level must be an int or None, not {level!r}")
        package = _PACKAGES.get(format)
        if package is not None and not _installed(package):
            raise ImportError(_missing(format))
        self.inner: Serializer = inner if inner is not None else PickleSerializer()
        self.format = format
        self.level = level

    def _config(self) -> dict[str, Any]:
        return {"inner": self.inner, "format": self.format, "level": self.level}

    def runs_code_when_reading(self) -> bool:
        """Whether the inner serializer runs code when reading."""
        return runs_code(self.inner)

    def serialize(self, value: Any) -> bytes:
        """Serialize ``value`` with the inner serializer, then compress.

        Args:
            value: any value the inner serializer handles.

        Raises:
            SerializationError: when the inner serializer cannot handle the value.
            ImportError: when the format's package is not installed here.
        """
        return _compress(self.format, self.level, self.inner.serialize(value))

    def deserialize(self, data: bytes) -> Any:
        """Decompress ``data``, then deserialize it with the inner serializer.

        Args:
            data: bytes made by :meth:`serialize`.

        Raises:
            SerializationError: when the bytes do not decompress, or the inner serializer
                cannot read them.
            ImportError: when the format's package is not installed here.
        """
        try:
            raw = _decompress(self.format, data)
        except ImportError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"CompressedSerializer cannot decompress {len(data)} bytes as {self.format}: "
                f"{type(exc).__name__}: {exc}. Were they written with "
                f"CompressedSerializer(format={self.format!r})?"
            ) from exc
        return self.inner.deserialize(raw)


def _installed(package: str) -> bool:
    """Whether ``package`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _missing(format: str) -> str:
    return (
        f"CompressedSerializer(format={format!r}) needs the {_PACKAGES[format]!r} package: "
        "pip install 'headwater[compression]'"
    )


def _module(format: str) -> Any:
    import importlib

    name = {"lz4": "lz4.frame", "zstd": "zstandard"}.get(format, format)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(_missing(format)) from exc


def _compress(format: str, level: int | None, data: bytes) -> bytes:
    mod = _module(format)
    if format == "zstd":
        cctx = mod.ZstdCompressor(level=3 if level is None else level)
        return bytes(cctx.compress(data))
    if format == "lz4":
        return bytes(mod.compress(data, compression_level=level or 0))
    if format == "lzma":
        return bytes(mod.compress(data, preset=level))
    return bytes(mod.compress(data) if level is None else mod.compress(data, level))


def _decompress(format: str, data: bytes) -> bytes:
    mod = _module(format)
    if format == "zstd":
        return bytes(mod.ZstdDecompressor().decompress(data))
    return bytes(mod.decompress(data))


__all__ = ["FORMATS", "CompressedSerializer"]
