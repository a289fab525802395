"""Every ```python block in README.md and docs/*.md runs.

The convention
--------------
A block fenced as ```python is a runnable example. The blocks of one document run in order
in one namespace, so a later block may use the names an earlier one defined; each document
runs in a fresh Python process. A block that cannot run says so on its first line, with a
reason, in a comment the reader sees as well::

    ```python
    # fragment: needs a Dask scheduler at tcp://scheduler:8786
    DaskExecutor(address="tcp://scheduler:8786")
    ```

``# fragment:`` without a reason is refused. A fragment is shown, not run, so the names it
defines do not exist for the blocks after it. Blocks in other languages (```bash,
```console, ```json, a bare ```) are never run.

docs/notices/ is left out on purpose: a notice records a decision as it was taken and keeps
its text when a later notice supersedes it, so its code would describe an older headwater.
(No notice has a python block today.)

How the blocks run
------------------
- in an empty temporary working directory, with the run journal (``HEADWATER_JOURNAL_DIR``),
  the default results folder (``HEADWATER_RESULTS_DIR``) and the signing key
  (``HEADWATER_SIGNING_KEY_FILE``) in temporary folders too, and
  ``HEADWATER_PROGRESS=false`` (other ``HEADWATER_*`` variables of the caller are dropped):
  headwater writes nothing into the repository or the home folder;
- with a real S3 server (moto, tests/support/servers.py) holding an empty bucket
  ``my-bucket`` (the name the docs use), reached through ``AWS_ENDPOINT_URL`` and test
  credentials, as a user would point s3fs at MinIO;
- each block compiled under the document's path with the document's line numbers, so a
  traceback points at the line in the Markdown file, and a failure names the document and
  the line of the block's opening fence.

Running is not enough: a flow run that ends Failed raises nothing. So every flow run a page
makes must also end Success; they are read back from the page's run journal. (No page shows
a failing run on purpose today; one that does will need a marker of its own.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import (
    ENV_REMOVED,
    ServerProcess,
    client_environment,
    reset_moto,
    start_moto,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BUCKET = "my-bucket"
"""The bucket the docs' S3 examples use; created empty for each document."""
TIMEOUT = 120.0
"""Seconds one document may take before it counts as hung."""

FENCE = re.compile(r"^( *)(`{3,}|~{3,})\s*([\w+-]*)")
FRAGMENT = re.compile(r"^\s*#\s*fragment\b\s*(:?)\s*(.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """One ```python block: the line of its opening fence (1-based), its code, and the reason
    its ``# fragment: <reason>`` first line gives (None for a block that runs)."""

    line: int
    code: str
    fragment: str | None


def python_blocks(doc: Path, label: str | None = None) -> list[Block]:
    """The ```python blocks of a Markdown file, in order.

    Args:
        doc: the file.
        label: how to name it in errors (its file name by default).

    Raises:
        ValueError: a fence is never closed, or a fragment marker has no reason.
    """
    label = label or doc.name
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening.group(1), opening.group(2), opening.group(3).lower()
        closing = re.compile(re.escape(fence[0]) + f"{{{len(fence)},}}")
        end = next(
            (j for j in range(i + 1, len(lines)) if closing.fullmatch(lines[j].strip())), None
        )
        if end is None:
            raise ValueError(f"{label}:{i + 1}: the {fence}{lang} block is never closed")
        if lang == "python":
            body = [
                line[len(indent) :] if line.startswith(indent) else line.lstrip()
                for line in lines[i + 1 : end]
            ]
            first = next((line for line in body if line.strip()), "")
            marker = FRAGMENT.match(first)
            if marker and not (marker.group(1) and marker.group(2)):
                raise ValueError(
                    f"{label}:{i + 1}: a fragment needs a reason: "
                    f"'# fragment: <why it cannot run>', got {first.strip()!r}"
                )
            blocks.append(Block(i + 1, "\n".join(body) + "\n", marker and marker.group(2)))
        i = end + 1
    return blocks


RUNNER = r"""
import json, sys, traceback
name, blocks = sys.argv[1], json.loads(sys.stdin.read())
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
for line, code in blocks:
    try:
        exec(compile("\n" * line + code, name, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.stderr.write(f"\nSNIPPET FAILED AT LINE {line}\n")
        sys.exit(1)
"""
"""Runs the blocks of one document; the code of each starts on its own line of the file."""


def run_document(
    doc: Path, label: str, workdir: Path, env: Mapping[str, str], timeout: float = TIMEOUT
) -> str | None:
    """Run the runnable blocks of ``doc`` in a fresh process; None if they all ran, else a
    message naming the document and the block's line, with the traceback.

    Args:
        doc: the Markdown file.
        label: how to name it in tracebacks and messages (a path relative to the repository).
        workdir: the working directory of the process.
        env: its whole environment.
        timeout: seconds the blocks may take together.
    """
    blocks = [(b.line, b.code) for b in python_blocks(doc, label) if b.fragment is None]
    if not blocks:
        return None
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, label],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=dict(env),
        text=True,
        start_new_session=True,  # so that a hung run is killed with what it started
    )
    try:
        _, stderr = proc.communicate(json.dumps(blocks), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        return f"{label}: its blocks did not finish within {timeout:g} s\n{_tail(stderr)}"
    if proc.returncode == 0:
        return failed_runs(label, env.get("HEADWATER_JOURNAL_DIR"))
    failed = re.search(r"SNIPPET FAILED AT LINE (\d+)", stderr)
    where = f"the ```python block at line {failed.group(1)}" if failed else "a block"
    return f"{label}: {where} failed:\n{_tail(stderr)}"


def failed_runs(label: str, journal: str | None) -> str | None:
    """None if every flow run in the ``journal`` folder ended Success, else a message naming
    the page and each run that did not."""
    from headwater.journal import list_runs

    if journal is None or not Path(journal).is_dir():
        return None
    bad = [r for r in list_runs(directory=Path(journal)) if not r.is_successful()]
    if not bad:
        return None
    runs = "\n".join(f"- flow {r.flow_name!r} ended {r.state}: {r.message}" for r in bad)
    return f"{label}: its blocks ran, but flow runs did not succeed:\n{runs}"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def snippet_environment(folder: Path, s3_url: str | None) -> dict[str, str]:
    """The environment the blocks run in: headwater from this checkout, journal and results
    in ``folder``, no progress bar, and S3 at ``s3_url`` when given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ENV_REMOVED and not k.startswith("HEADWATER_")  # no switch of the caller's
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]),
        HEADWATER_JOURNAL_DIR=str(folder / "journal"),
        HEADWATER_RESULTS_DIR=str(folder / "results"),
        HEADWATER_SIGNING_KEY_FILE=str(folder / "signing-key"),
        HEADWATER_PROGRESS="false",
    )
    if s3_url is not None:
        env.update(client_environment(), AWS_ENDPOINT_URL=s3_url)
    return env


@pytest.fixture(scope="module")
def s3() -> Iterator[ServerProcess]:
    """One moto S3 server for the documents."""
    with start_moto() as server:
        yield server


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(doc: Path, s3: ServerProcess, tmp_path: Path) -> None:
    reset_moto(s3.url)
    s3.create_bucket(BUCKET)
    workdir = tmp_path / "work"
    workdir.mkdir()
    label = str(doc.relative_to(ROOT))
    problem = run_document(doc, label, workdir, snippet_environment(tmp_path, s3.url))
    assert problem is None, problem


# -- the test can fail -----------------------------------------------------------------------
BROKEN = """# A guide

```python
x = 1
```

Some text.

```python
# fragment: shows a call that cannot run here
undefined_call()
```

```bash
exit 1
```

```python
y = x + 1
assert y == 3, "y is 2"
```
"""


def test_a_broken_block_is_reported_with_its_document_and_line(tmp_path: Path) -> None:
    doc = tmp_path / "broken.md"
    doc.write_text(BROKEN)
    blocks = python_blocks(doc)
    assert [(b.line, b.fragment) for b in blocks] == [
        (3, None),
        (9, "shows a call that cannot run here"),
        (18, None),
    ]
    problem = run_document(doc, "docs/broken.md", tmp_path, snippet_environment(tmp_path, None))
    assert problem is not None
    assert problem.startswith("docs/broken.md: the ```python block at line 18 failed")
    assert 'File "docs/broken.md", line 20' in problem  # the assert's own line in the file
    assert "AssertionError: y is 2" in problem


def test_a_block_that_passes_is_not_reported(tmp_path: Path) -> None:
    doc = tmp_path / "fine.md"
    doc.write_text(BROKEN.replace("y == 3", "y == 2"))
    assert run_document(doc, "fine.md", tmp_path, snippet_environment(tmp_path, None)) is None


@pytest.mark.parametrize(
    "first_line", ["# fragment:", "# fragment", "# fragment:   ", "# Fragment no colon"]
)
def test_a_fragment_needs_a_reason(tmp_path: Path, first_line: str) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(f"text\n\n```python\n{first_line}\nx = 1\n```\n")
    with pytest.raises(ValueError, match=r"x\.md:3: a fragment needs a reason"):
        python_blocks(doc)


def test_an_unclosed_fence_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("```python\nx = 1\n")
    with pytest.raises(ValueError, match="never closed"):
        python_blocks(doc)


def test_a_hung_document_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "slow.md"
    doc.write_text("```python\nimport time\ntime.sleep(60)\n```\n")
    env = snippet_environment(tmp_path, None)
    problem = run_document(doc, "slow.md", tmp_path, env, timeout=1)
    assert problem is not None and problem.startswith("slow.md: its blocks did not finish")


def test_an_indented_block_is_found_and_dedented(tmp_path: Path) -> None:
    doc = tmp_path / "list.md"
    doc.write_text("- an item:\n\n  ```python\n  if True:\n      x = 1\n  ```\n")
    assert python_blocks(doc) == [Block(3, "if True:\n    x = 1\n", None)]
    assert run_document(doc, "list.md", tmp_path, snippet_environment(tmp_path, None)) is None


def test_a_flow_run_that_fails_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "failing.md"
    doc.write_text(
        "```python\n"
        "from headwater import Flow, task\n\n"
        "@task\n"
        "def boom():\n"
        "    raise ValueError('no')\n\n"
        "with Flow('doomed') as f:\n"
        "    boom()\n\n"
        "f.run()\n"
        "```\n"
    )
    problem = run_document(doc, "failing.md", tmp_path, snippet_environment(tmp_path, None))
    assert problem is not None
    assert problem.startswith("failing.md: its blocks ran, but flow runs did not succeed")
    assert "flow 'doomed' ended Failed" in problem
