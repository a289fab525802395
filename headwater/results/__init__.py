"""Result objects: a task's output together with where and how it is persisted."""

from __future__ import annotations

from headwater.results.base import MemoryResult, Result

__all__ = ["MemoryResult", "Result"]
