"""Every relative link in README.md and docs/ resolves, and the notices index is complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code blocks are code
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = [t for t in relative_links(doc) if not (doc.parent / t.split("#")[0]).exists()]
    assert not broken, f"{doc.relative_to(ROOT)} links to missing files: {broken}"


def test_every_notice_is_in_the_index_and_numbered() -> None:
    notices = sorted(p.name for p in (ROOT / "docs" / "notices").glob("[0-9][0-9][0-9][0-9]-*.md"))
    index = (ROOT / "docs" / "notices" / "README.md").read_text(encoding="utf-8")
    assert notices, "no notices"
    for name in notices:
        assert f"({name})" in index, f"{name} is not in docs/notices/README.md"
        text = (ROOT / "docs" / "notices" / name).read_text(encoding="utf-8")
        for section in ("## Context", "## Decision", "## Consequences", "## Status"):
            assert section in text, f"{name} has no {section!r} section"


def test_link_checker_can_fail(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("see [this](missing.md) and [web](https://example.org) and [a](#top)")
    assert relative_links(doc) == ["missing.md"]


def documented_context_keys() -> set[str]:
    """The keys docs/engine.md lists as the run context of a task run."""
    text = (ROOT / "docs" / "engine.md").read_text(encoding="utf-8")
    start = text.index("Inside a task run it holds exactly these keys")
    section = text[start : text.index("A key passed in `context=`", start)]
    return set(re.findall(r"`([a-z_]+)`", section))


def test_the_documented_context_keys_are_the_ones_a_task_sees() -> None:
    from headwater import Flow, Parameter, context, signals, task

    @task
    def keys(n: int) -> set[str]:
        if context["task_loop_count"] == 1:  # task_loop_result exists from the second on
            raise signals.LOOP(result=0)
        return set(context)

    with Flow("context-keys") as flow:
        seen = keys(Parameter("n", default=1))

    state = flow.run(progress=False)
    assert state.result[seen].result == documented_context_keys()
    assert "team" in flow.run(context={"team": "x"}, progress=False).result[seen].result
