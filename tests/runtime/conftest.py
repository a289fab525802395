"""Fixtures of the runtime's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.runtime import journal


@pytest.fixture
def journal_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run journal of the test's own (``HEADWATER_JOURNAL_DIR``), switched on."""
    folder = tmp_path / "journal"
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(folder))
    monkeypatch.delenv("HEADWATER_JOURNAL", raising=False)
    return folder


@pytest.fixture
def journal_lines(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Every line the run journal writes while runs go (the file of a finished run replaces
    them), in order; each is written to the file as well."""
    lines: list[dict[str, object]] = []
    write = journal.JournalHook._write

    def spy(self: journal.JournalHook, *got: dict[str, object]) -> None:
        lines.extend(got)
        write(self, *got)

    monkeypatch.setattr(journal.JournalHook, "_write", spy)
    return lines
