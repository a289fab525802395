"""``headwater run --listen-folder/--listen-webhook``: the real ``headwater`` program in a
subprocess, with real files, real HTTP requests and real signals, bounded in time."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_schedule import entry_point
from tests.support.listening import reap, stop_during_a_run, wait_for

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "flows" / "listening.py"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the program: its own journal, no webhook token of the caller's."""
    found = {**os.environ, "HEADWATER_JOURNAL_DIR": str(tmp_path / "journal")}
    found.pop("HEADWATER_JOURNAL", None)
    found.pop("HEADWATER_WEBHOOK_TOKEN", None)
    return found


@pytest.fixture
def cli(tmp_path: Path, env: dict[str, str]) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [entry_point(), *args]
        return subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )

    return run


def test_listen_folder_runs_each_file_until_max_runs(cli: Any, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("a")
    (inbox / "b.csv").write_text("b")
    (inbox / "c.txt").write_text("c")
    proc = cli(
        "run", f"{FLOWS}:echo", "--listen-folder", str(inbox), "--pattern", "*.csv",
        "--poll", "0.05", "--max-runs", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "  Flow 'echo': Success" in line]
    assert [line.split("  ")[1] for line in lines] == [str(inbox / "a.csv"), str(inbox / "b.csv")]
    assert "Flow 'echo': 2 runs: 2 Success" in proc.stdout


def test_listen_webhook_takes_its_token_from_the_environment(
    env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env["HEADWATER_WEBHOOK_TOKEN"] = "hook-token"
    command = [entry_point(), "run", f"{FLOWS}:counted", "--listen-webhook", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*command, "--max-runs", "1", "-p", "label=cli"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(lambda: _accepts(port), timeout=30, what="the webhook's port")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        headers = {"Authorization": "Bearer hook-token", "Content-Type": "application/json"}
        connection.request("POST", "/", body=b'{"n": 4}', headers=headers)
        assert connection.getresponse().status == 202
        connection.close()
        out, err = proc.communicate(timeout=30)
    finally:
        reap(proc)
    assert proc.returncode == 0, err
    assert "POST from 127.0.0.1  Flow 'counted': Success" in out, out
    assert "hook-token" not in out + err


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def test_ctrl_c_stops_after_the_run_in_flight_and_exits_130(
    env: dict[str, str], tmp_path: Path
) -> None:
    inbox, signals = tmp_path / "inbox", tmp_path / "signals"
    inbox.mkdir()
    signals.mkdir()
    proc = subprocess.Popen(
        [entry_point(), "run", f"{FLOWS}:gated", "-p", f"signals={signals}",
         "--listen-folder", str(inbox), "--poll", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    out, err = stop_during_a_run(proc, inbox, signals, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "Flow 'gated': 1 run: 1 Success (stopped by a signal)" in out, out
    assert "Traceback" not in err, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--pattern", "*.csv"], "--pattern goes with --listen-folder"),
        (["--poll", "1", "--param-name", "n"], "--param-name, --poll go with --listen-folder"),
        (["--listen-webhook", "8080"], "a token is required"),
        (["--listen-webhook", "localhost:http", "--no-webhook-token"], "takes [HOST:]PORT"),
        (["--no-webhook-token"], "--no-webhook-token goes with --listen-webhook"),
        (["--max-concurrent-runs", "2"], "goes with --listen-folder or --listen-webhook"),
        (["--listen-folder", "missing-folder"], "is not a folder; create it first"),
        (["--listen-folder", ".", "--param-name", "file"], "sets parameter 'file'"),
    ],
)
def test_bad_listener_options_are_bad_input(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from headwater.cli import main

    monkeypatch.chdir(tmp_path)  # in-process (a subprocess per case costs 2 s each)
    monkeypatch.delenv("HEADWATER_WEBHOOK_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["run", f"{FLOWS}:echo", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], lines
