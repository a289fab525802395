"""Executors run the graphs the flow runner compiles: in-process, on local threads or
worker processes, or on a dask.distributed cluster.

``LocalDaskExecutor`` and ``DaskExecutor`` load on first use, so ``import headwater`` does
not import dask or distributed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.executors.base import Executor
from headwater.executors.local import LocalExecutor

if TYPE_CHECKING:
    from headwater.executors.dask_distributed import DaskExecutor
    from headwater.executors.dask_local import LocalDaskExecutor

_LAZY = {
    "DaskExecutor": "headwater.executors.dask_distributed",
    "LocalDaskExecutor": "headwater.executors.dask_local",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater.executors' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["DaskExecutor", "Executor", "LocalDaskExecutor", "LocalExecutor"]
