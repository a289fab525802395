"""Fixtures for the listener tests: a real S3-compatible server (moto) on loopback, and a
journal folder of each test's own (the record of events that ran lives beside it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import servers

BUCKET = "headwater-listeners"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[servers.ServerProcess]:
    """moto's S3 server with the test bucket, and the client environment, for the session."""
    with servers.environment(servers.client_environment()), servers.start_moto() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HEADWATER_JOURNAL_DIR for one test."""
    folder = tmp_path / "journal"
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(folder))
    monkeypatch.delenv("HEADWATER_JOURNAL", raising=False)
    return folder
