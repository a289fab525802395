"""Serializers turn task outputs into bytes and back: ``serialize(value) -> bytes``."""

from __future__ import annotations

from headwater.serializers.base import PickleSerializer, Serializer

__all__ = ["PickleSerializer", "Serializer"]
