"""Shared fixtures.

``executor`` runs a test once per executor kind. Tests that take it must pass on every
backend, so they only use tasks that can be pickled (module-level functions, or closures
cloudpickle can ship) and never rely on shared in-process memory between tasks.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from headwater.executors import LocalExecutor

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

_JOURNAL_DIR = tempfile.mkdtemp(prefix="headwater-test-journal-")
os.environ["HEADWATER_JOURNAL_DIR"] = _JOURNAL_DIR
"""Every flow run in the tests journals here, never into the user's home."""


os.environ["HEADWATER_SIGNING_KEY_FILE"] = os.path.join(_JOURNAL_DIR, "signing-key")
"""Results are signed with a key made for the test session, never the user's own."""
os.environ.pop("HEADWATER_RESULT_SIGNING_KEY", None)
os.environ.pop("HEADWATER_TRUST_UNVERIFIED_RESULTS", None)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_journal() -> Iterator[None]:
    yield
    shutil.rmtree(_JOURNAL_DIR, ignore_errors=True)

_session: dict[str, Any] = {}
"""The session's dask.distributed Client (started on first use by the ``dask`` kind)."""


def _threads() -> object:
    from headwater.executors import LocalDaskExecutor

    return LocalDaskExecutor("threads", num_workers=4)


def _processes() -> object:
    from headwater.executors import LocalDaskExecutor

    return LocalDaskExecutor("processes", num_workers=2)


def _dask() -> object:
    from headwater.executors import DaskExecutor

    return DaskExecutor(client=_session["client"])


EXECUTOR_KINDS: dict[str, Callable[[], object]] = {
    "local": LocalExecutor,
    "threads": _threads,
    "processes": _processes,
    "dask": _dask,
}
"""Executor kind -> factory. ``dask`` runs on ONE LocalCluster per test session (two worker
processes of two threads each, on 127.0.0.1), reused through ``client=``."""


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """A Client on a LocalCluster of 2 worker processes x 2 threads, for the whole session."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        _session["client"] = client
        try:
            yield client
        finally:
            _session.pop("client", None)


@pytest.fixture(params=sorted(EXECUTOR_KINDS))
def executor(request: pytest.FixtureRequest) -> Iterator[object]:
    """Every executor kind in turn."""
    if request.param == "dask":
        request.getfixturevalue("dask_client")
    yield EXECUTOR_KINDS[request.param]()


@pytest.fixture(autouse=True)
def _headwater_logging_restored() -> Iterator[None]:
    """Whatever a test does to the ``headwater`` logger (``configure_logging``, a command run
    in-process) is undone after it: a handler left on a test's captured stream would swallow
    the next test's log lines."""
    logger = logging.getLogger("headwater")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
