"""configure_logging: one handler on the 'headwater' logger, flow/task names, level from env."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater import Flow, get_logger, task
from headwater.core.logs import LEVEL_ENV, configure_logging


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
