"""The `headwater` command line, run as a real program in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "flows" / "observed.py"
SECRET = "s3cr3t-Tok3n-for-tests"


def entry_point() -> str:
    script = Path(sys.executable).parent / "headwater"
    assert script.exists(), (
        f"the `headwater` command is not next to {sys.executable}: "
        'add headwater = "headwater.cli:main" to [project.scripts] and run pip install -e .'
    )
    return str(script)


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "HEADWATER_JOURNAL_DIR": str(tmp_path / "journal"),
        "HEADWATER_LOG_LEVEL": "INFO",
    }
    env.pop("HEADWATER_JOURNAL", None)

    def run(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "headwater.cli"] if module else [entry_point()]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )

    return run


def one_line_error(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_run_prints_a_table_of_states_and_records_the_run(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", f"{FLOWS}:etl", "-p", "n=4", "-p", f"token={SECRET}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["task", "state", "duration", "message"]
    assert any(line.split()[:2] == ["transform", "Mapped"] for line in lines[2:7])
    assert any(line.split()[:2] == ["load", "Success"] for line in lines)
    assert "Flow 'etl': Success: All reference tasks succeeded." in proc.stdout
    assert "etl/transform[3] | transforming 3 with token ********" in proc.stderr  # the logs
    assert SECRET not in proc.stdout + proc.stderr
    run_id = proc.stdout.split("headwater runs show ")[1].split(")")[0]

    listed = cli("runs", "list")
    assert listed.returncode == 0 and run_id in listed.stdout and "etl" in listed.stdout
    shown = cli("runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert 'Parameters: n=4, fail_at=-1, token="********"' in shown.stdout
    assert "transform[3]  Success" in shown.stdout


def test_timeline_of_a_past_run_is_written(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("run", f"{FLOWS}:etl").returncode == 0
    run_id = json.loads(next((tmp_path / "journal").glob("*.jsonl")).read_text().splitlines()[0])[
        "run_id"
    ]
    shown = cli("runs", "show", run_id[:6], "--timeline", "out.html")
    assert shown.returncode == 0 and "Wrote out.html" in shown.stdout
    page = (tmp_path / "out.html").read_text()
    assert 'data-task="transform[2]"' in page and 'data-state="Success"' in page


def test_a_failed_flow_exits_non_zero(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", f"{FLOWS}:etl", "-p", "fail_at=1", "--children")
    assert proc.returncode == 1
    assert (
        "transform[1]  Failed" in proc.stdout
        and "Failed: Some reference tasks failed" in proc.stdout
    )


def test_values_are_coerced_by_type_or_read_as_json(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", f"{FLOWS}:typed", "-p", "xs=[1, 2, 3]", "-p", "scale=2", "-p", "label=007")
    assert proc.returncode == 0, proc.stderr
    shown = cli("runs", "show", proc.stdout.split("headwater runs show ")[1].split(")")[0])
    assert 'Parameters: xs=[1, 2, 3], scale=2.0, label="007"' in shown.stdout
    bad = cli("run", f"{FLOWS}:typed", "-p", "xs=[1, 2]", "-p", "scale=big")
    one_line_error(bad, "parameter 'scale' got 'big', which is not a valid float")


def test_the_module_runs_too(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", f"{FLOWS}:etl", "-p", "n=2", module=True)
    assert proc.returncode == 0 and "Flow 'etl': Success" in proc.stdout


def test_visualize_writes_a_picture(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = cli("visualize", f"{FLOWS}:etl", "-o", "dag.svg")
    assert proc.returncode == 0, proc.stderr
    assert ">transform<" in (tmp_path / "dag.svg").read_text()
    assert cli("visualize", f"{FLOWS}:typed", "-o", "dag.png").returncode == 0
    assert (tmp_path / "dag.png").read_bytes().startswith(b"\x89PNG")


def test_bad_input_is_one_line_and_exit_code_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one_line_error(cli("run", "missing.py"), "File 'missing.py' not found")
    one_line_error(cli("run", str(FLOWS)), "has several flows (chatty, etl, typed)", ":NAME")
    one_line_error(cli("run", f"{FLOWS}:nope"), "No flow 'nope'", "its flows: chatty, etl, typed")
    (tmp_path / "empty.py").write_text("x = 1\n")
    one_line_error(cli("run", "empty.py"), "No flow in 'empty.py'")
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    one_line_error(cli("run", "broken.py"), "Importing 'broken.py' failed: ModuleNotFoundError")
    one_line_error(
        cli("run", f"{FLOWS}:etl", "-p", "m=1"), "Unknown parameter 'm'", "fail_at, n, token"
    )
    one_line_error(cli("run", f"{FLOWS}:etl", "-p", "n"), "expected NAME=VALUE")
    one_line_error(cli("run", f"{FLOWS}:etl", "-p", "n=many"), "parameter 'n' got 'many'")
    one_line_error(
        cli("run", f"{FLOWS}:etl", "--address", "tcp://127.0.0.1:1"),
        "--address is for --executor dask",
    )
    one_line_error(cli("runs", "show", "no-such-run"), "No run 'no-such-run'")
    (tmp_path / "single.py").write_text(
        "from headwater import Flow, task\n@task\ndef one():\n    return 1\n"
        "with Flow('single') as f:\n    one()\n"
    )
    assert cli("run", "single.py").returncode == 0
    assert cli("run", "single.py", "--executor", "nope").returncode == 2  # click's own usage error


def test_runs_list_on_an_empty_journal(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("runs", "list")
    assert proc.returncode == 0 and proc.stdout.startswith("No runs in ")
