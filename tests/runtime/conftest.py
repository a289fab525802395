"""Fixtures of the runtime's tests."""

from __future__ import annotations

import pytest

from headwater.runtime import journal


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
