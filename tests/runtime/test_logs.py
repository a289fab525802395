"""configure_logging: one handler on the 'headwater' logger, flow/task names, level from env."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow, get_logger, task
from headwater.runtime.logs import LEVEL_ENV, configure_logging
from tests.conftest import EXECUTOR_KINDS
from tests.flows import observed


@pytest.fixture(autouse=True)
def clean_headwater_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(tmp_path / "journal"))
    logger = logging.getLogger("headwater")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@task
def shout(x: int) -> int:
    get_logger().info("shouting %s", x)
    get_logger().debug("quietly %s", x)
    return x


def run_flow() -> None:
    with Flow("loud") as f:
        shout.map([1, 2])
    assert f.run().is_successful()


def test_lines_name_the_flow_task_and_map_index() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    run_flow()
    lines = stream.getvalue().splitlines()
    assert any("| INFO    | loud/shout[0] | shouting 1" in line for line in lines), lines
    assert any("loud/shout[1] | shouting 2" in line for line in lines)
    assert not any("quietly" in line for line in lines)


def test_configure_logging_is_idempotent_and_changes_the_level() -> None:
    stream = io.StringIO()
    logger = configure_logging("INFO", stream=stream)
    configure_logging("DEBUG")
    ours = [h for h in logger.handlers if getattr(h, "_headwater_handler", False)]
    assert len(ours) == 1 and ours[0].level == logging.DEBUG == logger.level
    run_flow()
    assert "quietly 1" in stream.getvalue()


def test_level_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEVEL_ENV, "warning")
    assert configure_logging(stream=io.StringIO()).level == logging.WARNING
    monkeypatch.setenv(LEVEL_ENV, "LOUD")
    with pytest.raises(ValueError, match="Unknown log level 'LOUD'.*HEADWATER_LOG_LEVEL"):
        configure_logging()


def test_records_outside_a_task_show_the_logger_name() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logging.getLogger("headwater.somewhere").info("hello")
    assert "| headwater.somewhere | hello" in stream.getvalue()


def _lines_when(stream: io.StringIO, *needles: str, timeout: float = 15) -> list[str]:
    """The stream's lines once every needle is in it (records from Dask workers arrive
    asynchronously), or when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stream.getvalue()
        if all(n in text for n in needles):
            break
        time.sleep(0.05)
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("kind", ["processes", "dask"])
def test_worker_logs_reach_the_driver_with_flow_task_and_map_index(
    kind: str, dask_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    assert observed.chatty.run(executor=EXECUTOR_KINDS[kind]()).is_successful()
    lines = _lines_when(stream, "speaking 0", "speaking 1")
    for i in (0, 1):
        (line,) = [x for x in lines if f"| INFO    | chatty/speak[{i}] | speaking {i} in pid" in x]
        assert int(line.rsplit(" ", 1)[1]) != os.getpid(), line  # it came from a worker
    records = [r for r in caplog.records if r.getMessage().startswith("speaking 1")]
    assert records and records[0].flow_name == "chatty"  # type: ignore[attr-defined]
    assert records[0].task_name == "speak" and records[0].map_index == 1  # type: ignore[attr-defined]
    assert records[0].flow_run_id  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["processes", "dask"])
def test_workers_log_at_the_level_set_by_the_environment(
    kind: str, dask_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LEVEL_ENV, "WARNING")
    stream = io.StringIO()
    configure_logging(stream=stream)
    assert observed.chatty.run(executor=EXECUTOR_KINDS[kind]()).is_successful()
    lines = _lines_when(stream, "warning 0", "warning 1")
    assert any("| WARNING | chatty/speak[1] | warning 1 in pid" in x for x in lines), lines
    time.sleep(0.5)  # an INFO record, had it been sent, would have come before the warning
    assert "speaking" not in stream.getvalue()
