"""``headwater run FILE.py --resume [RUN_ID]`` and ``headwater runs show RUN_ID`` (issue 15),
run as real programs in a subprocess on the chain of tests/flows/resumable.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.runtime import journal
from tests.flows import resumable as R

ROOT = Path(__file__).resolve().parents[2]


def headwater(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HEADWATER_JOURNAL_DIR": str(tmp_path / "journal"),
        "PYTHONPATH": str(ROOT),  # the flow file imports tests.flows.resumable
    }
    env.pop("HEADWATER_JOURNAL", None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "headwater"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_a_failed_run_is_shown_resumable_and_resumed_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(tmp_path / "journal"))
    source = tmp_path / "chained.py"
    source.write_text(
        f"from tests.flows import resumable\n\nflow, _ = resumable.chain({str(tmp_path)!r})\n"
    )
    (tmp_path / "broken").write_text("middle")
    first = headwater(tmp_path, "run", "chained.py", "-p", "n=3")
    assert first.returncode == 1, first.stderr
    [record] = journal.list_runs(flow_name="chain")
    short = record.run_id[:8]
    assert f"Resume it with: headwater run chained.py --resume {short}" in first.stdout

    shown = headwater(tmp_path, "runs", "show", short)
    assert shown.returncode == 0, shown.stderr
    assert f"Can be resumed: headwater run FILE.py --resume {short}" in shown.stdout
    rows = {
        line.split()[0]: line.split()[1:]
        for line in shown.stdout.split("run again\n", 1)[1].splitlines()
    }
    # kept, read back, run again: the parameter and first step are read back (the middle
    # step needs them)
    assert rows == {
        "n-1": ["-", "1", "-"],
        "step-1": ["-", "1", "-"],
        "step-2": ["-", "-", "1"],
        "step-3": ["-", "-", "1"],
        "step-4": ["-", "-", "1"],
    }

    refused = headwater(tmp_path, "run", "chained.py", "-p", "n=4", "--resume", short)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert f"parameter 'n' was 3 in run {record.run_id}; drop it" in refused.stderr
    (tmp_path / "broken").unlink()
    again = headwater(tmp_path, "run", "chained.py", "--resume")  # the last run
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Flow 'chain': Success" in again.stdout and "Resume it with" not in again.stdout
    resumed = journal.list_runs(1, flow_name="chain")[0]
    assert resumed.run_id != record.run_id and resumed.resumed_from == record.run_id
    assert R.calls(tmp_path)[resumed.run_id] == ["middle", "last", "report"]
    done = headwater(tmp_path, "runs", "show", resumed.run_id[:8])
    assert done.returncode == 0 and "nothing would run again" in done.stdout, done.stdout
