"""``headwater run --schedule``: the real ``headwater`` program in a subprocess, on real
one-second schedules, bounded in time."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headwater.schedules import DatesClock, IntervalClock, Schedule

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "flows" / "scheduled.py"


def entry_point() -> str:
    script = Path(sys.executable).parent / "headwater"
    assert script.exists(), f"the `headwater` command is not next to {sys.executable}"
    return str(script)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    found = {
        **os.environ,
        "HEADWATER_JOURNAL_DIR": str(tmp_path / "journal"),
        "HEADWATER_LOG_LEVEL": "INFO",
    }
    found.pop("HEADWATER_JOURNAL", None)
    return found


@pytest.fixture
def cli(tmp_path: Path, env: dict[str, str]) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [entry_point(), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    return run


def write_schedule(path: Path, *clocks: tuple[list[float], dict[str, Any]]) -> Path:
    """Write a schedule of DatesClocks, each at seconds from now with parameter defaults."""
    now = datetime.now(UTC)
    schedule = Schedule(
        [
            DatesClock([now + timedelta(seconds=s) for s in offsets], parameter_defaults=defaults)
            for offsets, defaults in clocks
        ]
    )
    path.write_text(schedule.model_dump_json())
    return path


def one_line_error(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def run_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "  Flow 'ticking': " in line]


def test_runs_on_the_flows_schedule_until_max_runs(cli: Any) -> None:
    begun = time.monotonic()
    proc = cli("run", f"{FLOWS}:ticking", "--schedule", "--max-runs", "2", "-p", "n=5")
    took = time.monotonic() - begun
    assert proc.returncode == 0, proc.stderr
    assert took < 30, took
    lines = run_lines(proc.stdout)
    assert len(lines) == 2, proc.stdout
    assert all(": Success: All reference tasks succeeded. (run " in line for line in lines)
    assert "Flow 'ticking': 2 scheduled runs: 2 Success" in proc.stdout
    assert proc.stderr.count("Scheduled run ") == 4  # a start and a finish per run, logged
    assert "Traceback" not in proc.stderr
    listed = cli("runs", "list", "--flow", "ticking")
    assert listed.returncode == 0 and listed.stdout.count("ticking") == 2, listed.stdout


def test_each_scheduled_run_follows_the_progress_switch(cli: Any) -> None:
    shown = cli("run", f"{FLOWS}:ticking", "--schedule", "--max-runs", "2", "--progress")
    assert shown.returncode == 0, shown.stderr
    finished = [f for f in re.split(r"[\r\n]", shown.stderr) if "task/s" in f and "100%" in f]
    assert len({f.split("|")[0] for f in finished}) >= 1 and len(finished) >= 2, shown.stderr
    hidden = cli("run", f"{FLOWS}:ticking", "--schedule", "--max-runs", "1", "--no-progress")
    assert hidden.returncode == 0 and "task/s" not in hidden.stderr, hidden.stderr


def test_a_schedule_from_json_with_a_failing_run_exits_1_after_every_run(
    cli: Any, tmp_path: Path
) -> None:
    # Two clocks, a second apart, each every 2 s: whenever the program starts, its two runs
    # are one of each, in either order.
    now = datetime.now(UTC)
    schedule = Schedule(
        [
            IntervalClock(
                timedelta(seconds=2),
                start_date=now,
                parameter_defaults={"fail": True, "label": "bad"},
            ),
            IntervalClock(timedelta(seconds=2), start_date=now + timedelta(seconds=1)),
        ]
    )
    (tmp_path / "schedule.json").write_text(schedule.model_dump_json())
    proc = cli("run", f"{FLOWS}:ticking", "--schedule-json", "schedule.json", "--max-runs", "2")
    assert proc.returncode == 1, proc.stderr
    lines = run_lines(proc.stdout)
    states = sorted(line.split("'ticking': ")[1].split(":")[0] for line in lines)
    assert states == ["Failed", "Success"], proc.stdout
    assert "report  Failed" in proc.stdout  # the task table of the run that failed
    assert "asked to fail (n=1, label='bad')" in proc.stdout
    assert "2 scheduled runs: " in proc.stdout and "1 Failed" in proc.stdout


def test_a_schedule_whose_events_have_passed_runs_nothing(cli: Any, tmp_path: Path) -> None:
    schedule = write_schedule(tmp_path / "past.json", ([-60.0], {}))
    proc = cli("run", f"{FLOWS}:ticking", "--schedule-json", str(schedule))
    assert proc.returncode == 0, proc.stderr
    assert "Flow 'ticking': 0 scheduled runs" in proc.stdout


def test_a_flow_without_a_schedule_is_bad_input(cli: Any) -> None:
    proc = cli("run", f"{FLOWS}:unscheduled", "--schedule")
    one_line_error(proc, "Flow 'unscheduled' has no schedule", "--schedule-json FILE")


def test_max_runs_without_schedule_is_bad_input(cli: Any) -> None:
    one_line_error(cli("run", f"{FLOWS}:ticking", "--max-runs", "2"), "add --schedule")


def test_a_bad_parameter_is_bad_input_before_any_wait(cli: Any) -> None:
    begun = time.monotonic()
    proc = cli("run", f"{FLOWS}:ticking", "--schedule", "-p", "n=many")
    one_line_error(proc, "parameter 'n' got 'many'")
    assert time.monotonic() - begun < 30


def test_a_clocks_unknown_parameter_is_bad_input(cli: Any, tmp_path: Path) -> None:
    schedule = write_schedule(tmp_path / "s.json", ([3600.0], {"colour": "blue"}))
    proc = cli("run", f"{FLOWS}:ticking", "--schedule-json", str(schedule))
    one_line_error(proc, "unknown parameter 'colour'", "clocks[0]")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "Cannot read the schedule file"),
        ("{not json", "is not a schedule's JSON"),
        ('{"clocks": [{"type": "hourly"}]}', "is not a schedule's JSON"),
    ],
)
def test_a_bad_schedule_file_is_bad_input(
    cli: Any, tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "s.json").write_text(content)
    one_line_error(cli("run", f"{FLOWS}:ticking", "--schedule-json", "s.json"), expected)


def test_ctrl_c_while_waiting_prints_the_summary_and_exits_130(
    env: dict[str, str], tmp_path: Path
) -> None:
    proc = subprocess.Popen(  # its first event is 1.5 s after import, the next an hour later
        [entry_point(), "run", f"{FLOWS}:soon_then_later", "--schedule"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: list[str] = []
    finished = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if " finished: Success" in line:
                finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert finished.wait(30), "".join(lines)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert proc.stdout is not None
        stdout = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert stdout.count("  Flow 'soon_then_later': Success: ") == 1, stdout
    assert "Flow 'soon_then_later': 1 scheduled run: 1 Success (stopped by Ctrl-C)" in stdout
