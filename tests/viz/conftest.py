"""Fixtures for the pictures and HTML: a journal in a temporary folder, a finished run."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.model.states import State
from tests.flows import observed


@pytest.fixture(autouse=True)
def journal_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "journal"
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(folder))
    monkeypatch.delenv("HEADWATER_JOURNAL", raising=False)
    return folder


@pytest.fixture
def failed_run() -> State:
    """A run of ``etl`` over 5 elements where child 3 fails (so load is TriggerFailed)."""
    return observed.etl.run(parameters={"n": 5, "fail_at": 3, "token": observed.SECRET})
