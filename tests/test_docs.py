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


TEST_REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?)::(test_\w+)`")


def named_tests(text: str) -> list[tuple[str, str]]:
    """The tests a document names as `tests/path.py::test_name`; a bare `::test_name` is in the
    file named last before it."""
    found, current = [], ""
    for path, name in TEST_REFERENCE.findall(text):
        current = path or current
        found.append((current, name))
    return found


def missing_tests(text: str) -> list[str]:
    """The tests named in ``text`` whose file or function does not exist."""
    missing = []
    for path, name in named_tests(text):
        source = ROOT / path if path else None
        if source is None or not source.is_file():
            missing.append(f"{path}::{name} (no such file)")
        elif not re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.M):
            missing.append(f"{path}::{name}")
    return missing


@pytest.mark.parametrize(
    "doc", sorted((ROOT / "docs" / "notices").glob("*.md")), ids=lambda p: p.name
)
def test_every_test_a_notice_names_exists(doc: Path) -> None:
    missing = missing_tests(doc.read_text(encoding="utf-8"))
    assert not missing, f"{doc.name} names tests that do not exist: {missing}"


def test_the_guarantees_name_their_tests() -> None:
    text = (ROOT / "docs" / "notices" / "0012-guarantees.md").read_text(encoding="utf-8")
    rows = [r for r in text.splitlines() if r.startswith("| ") and not r.startswith("| fault")]
    assert len(rows) > 30
    assert all(TEST_REFERENCE.search(r.rsplit("|", 2)[1]) for r in rows), [
        r[:80] for r in rows if not TEST_REFERENCE.search(r.rsplit("|", 2)[1])
    ]


def test_the_test_name_checker_can_fail() -> None:
    text = "`tests/test_docs.py::test_link_checker_can_fail`, `::test_no_such_thing` and " + (
        "`tests/nowhere.py::test_x`"
    )
    assert named_tests(text)[1] == ("tests/test_docs.py", "test_no_such_thing")
    assert missing_tests(text) == [
        "tests/test_docs.py::test_no_such_thing",
        "tests/nowhere.py::test_x (no such file)",
    ]


def test_every_difference_from_prefect_1_names_what_decides_it() -> None:
    text = (ROOT / "docs" / "migrating-from-prefect-1.md").read_text(encoding="utf-8")
    start = text.index("## Every difference from Prefect 1")
    section = text[start : text.index("\n## ", start + 1)]
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith("| |")]
    assert len(rows) > 40
    undecided = [r[:60] for r in rows if not LINK.search(r.rstrip(" |").rsplit("|", 1)[1])]
    assert not undecided, f"rows without the notice that decides them: {undecided}"
