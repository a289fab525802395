"""Executors run the graphs the flow runner compiles: in-process, on Dask's local
schedulers, or on a dask.distributed cluster."""

from __future__ import annotations

from headwater.executors.base import Executor
from headwater.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor"]
