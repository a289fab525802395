"""The progress bar of flow runs: counts by state on every executor, and when it shows."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import re
import select
import struct
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow, case, configure_logging, get_logger, task
from headwater.runtime.progress import (
    SWITCH_ENV,
    UNKNOWN,
    ProgressBar,
    format_counts,
    wants_progress,
)
from tests.flows import observed


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv(SWITCH_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    logger = logging.getLogger("headwater")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def last_frame(err: str) -> str:
    """The bar as last drawn: the last non-empty piece between carriage returns/newlines."""
    frames = [f for f in re.split(r"[\r\n]", err) if "task" in f and "|" in f]
    assert frames, f"no progress bar in {err!r}"
    return frames[-1]


def test_the_bar_reaches_n_of_n_with_counts_by_state(
    executor: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # 3 parameters + extract + 4 children (known only once extract ran) + load = 9 task runs
    state = observed.etl.run(parameters={"n": 4, "fail_at": 1}, executor=executor, progress=True)
    assert state.is_failed()
    err = capsys.readouterr().err
    frame = last_frame(err)
    assert frame.startswith("etl: 100%") and "9/9" in frame, frame
    assert "Success=7 Failed=1 Skipped=0 TriggerFailed=1" in frame, frame
    assert "| 0/4 [" in err, err  # first drawn with what was planned before the map grew


@task
def is_big(n: int) -> bool:
    return n > 10


@task
def shout(x: int) -> int:
    get_logger().info("shouting %s", x)
    return x


with Flow("branchy") as branchy:
    with case(is_big(3), True):
        big = shout(100)
    small = shout.map([1, 2])


def test_skipped_runs_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    assert branchy.run(progress=True).is_successful()
    frame = last_frame(capsys.readouterr().err)
    assert "6/6" in frame and "Success=4 Failed=0 Skipped=2" in frame, frame


def test_progress_false_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SWITCH_ENV, "true")
    assert branchy.run(progress=False).is_successful()
    assert capsys.readouterr().err == ""


def test_the_environment_forces_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv(SWITCH_ENV, "true")
    assert branchy.run().is_successful()
    assert "6/6" in last_frame(capsys.readouterr().err)
    monkeypatch.setenv(SWITCH_ENV, "false")
    assert branchy.run().is_successful()
    assert capsys.readouterr().err == ""


def test_on_in_a_terminal_off_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    master, replica = os.openpty()  # a real terminal for stderr, 120 columns wide
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    tty = os.fdopen(replica, "w", encoding="utf-8")
    try:
        monkeypatch.setattr("sys.stderr", tty)
        assert wants_progress() is True
        assert wants_progress(False) is False
        monkeypatch.setenv("CI", "true")
        assert wants_progress() is False
        assert branchy.run().is_successful()
        tty.flush()
        assert not select.select([master], [], [], 0.2)[0]  # nothing was drawn
        monkeypatch.setenv("CI", "false")  # some services say so when it is not CI
        assert branchy.run().is_successful()
        tty.flush()
        drawn = b""
        while select.select([master], [], [], 0.5)[0]:
            drawn += os.read(master, 65536)
            if b"Skipped=2" in drawn and drawn.endswith(b"\n"):
                break
        assert b"branchy: 100%" in drawn and b"Skipped=2" in drawn, drawn
    finally:
        tty.close()
        os.close(master)


def test_not_interactive_means_no_bar(capsys: pytest.CaptureFixture[str]) -> None:
    assert wants_progress() is False  # pytest's captured stderr is no terminal
    assert branchy.run().is_successful()
    assert capsys.readouterr().err == ""


def test_a_bad_switch_value_warns_and_is_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(SWITCH_ENV, "sometimes")
    with caplog.at_level(logging.WARNING, logger="headwater.progress"):
        assert wants_progress() is False
    assert "HEADWATER_PROGRESS='sometimes' is neither true nor false" in caplog.text


def test_log_lines_are_written_above_the_bar(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")  # a handler on (pytest's) stderr, as the command line has
    assert branchy.run(progress=True).is_successful()
    err = capsys.readouterr().err
    for x in (1, 2):
        line = re.search(rf"(^|[\r\n])([^\r\n]*branchy/shout\[{x - 1}\] \| shouting {x})\n", err)
        assert line and line.group(2).startswith("20"), err  # a whole line, not after a bar
    assert "6/6" in last_frame(err)
    handler = next(h for h in logging.getLogger("headwater").handlers if hasattr(h, "stream"))
    assert not hasattr(handler.stream, "tqdm_class")  # its stream is given back


def test_the_bar_counts_what_it_is_told_and_ends_with_the_final_counts() -> None:
    out = io.StringIO()
    bar = ProgressBar("f", file=out)
    bar.on_tasks_planned(total=2)
    bar.on_tasks_finished(counts={"Success": 1})
    bar.on_tasks_planned(total=6)  # a map expanded at run time
    bar.on_tasks_finished(counts={UNKNOWN: 2})  # finished, states known only at the end
    assert bar.done == 3 and bar.counts == {"Success": 1}
    bar.on_tasks_finished(counts={"Crashed": 5})  # more than planned: capped at the total
    assert bar.done == 6
    bar.finish(counts={"Success": 5, "Failed": 1})
    bar.on_tasks_finished(counts={"Success": 1})  # too late: ignored
    assert bar.done == bar.total == 6 and bar.counts == {"Success": 5, "Failed": 1}
    assert "6/6" in last_frame(out.getvalue()) and "Success=5 Failed=1 Skipped=0" in out.getvalue()
    assert format_counts({}) == "Success=0 Failed=0 Skipped=0"
