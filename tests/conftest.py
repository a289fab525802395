"""Shared fixtures.

``executor`` runs a test once per executor kind. Tests that take it must pass on every
backend, so they only use tasks that can be pickled (module-level functions, or closures
cloudpickle can ship) and never rely on shared in-process memory between tasks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from headwater.executors import LocalExecutor

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

EXECUTOR_KINDS: dict[str, Callable[[], object]] = {
    "local": LocalExecutor,
}
"""Executor kind -> factory. The Dask executors add themselves here."""


@pytest.fixture(params=sorted(EXECUTOR_KINDS))
def executor(request: pytest.FixtureRequest) -> Iterator[object]:
    """Every executor kind in turn."""
    yield EXECUTOR_KINDS[request.param]()
