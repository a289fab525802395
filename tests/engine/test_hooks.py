"""A run hook that raises while hearing of task runs finishing (they are told from the
executor's threads: a local dispatcher's, a processes dispatcher's, DaskExecutor's watcher)
is logged; the run goes on and every other hook hears of every task run."""

from __future__ import annotations

import logging
import threading

import pytest

from headwater import Flow
from headwater.engine.flow_runner import FlowRunner
from headwater.model import states as S
from tests.flows import executor_flows as E
from tests.support.hooks import CountingHook


def test_a_hook_that_raises_as_task_runs_finish_is_logged_and_the_run_goes_on(
    executor: object, caplog: pytest.LogCaptureFixture
) -> None:
    with Flow("heard") as f:
        ys = E.inc.map(list(range(6)), batch_size=1)
        t = E.total(ys)
    broken, quiet = CountingHook(fail=True), CountingHook(fail=False)
    outcome: list[S.State] = []
    runner = FlowRunner(f, executor)  # type: ignore[arg-type]

    def run() -> None:
        outcome.append(runner.run(return_tasks=[t], hooks=[broken, quiet]))

    with caplog.at_level(logging.ERROR, logger="headwater"):
        driver = threading.Thread(target=run, daemon=True)
        driver.start()
        driver.join(timeout=120)  # a dispatcher thread killed by the hook would hang the run
    assert not driver.is_alive(), "the run hung after a hook raised"
    [state] = outcome
    assert state.is_successful() and state.result[t].result == sum(range(1, 7))
    assert quiet.planned >= 7 and quiet.finished == quiet.planned  # after the broken one
    assert broken.finished == broken.planned
    assert "a listener that breaks" in caplog.text
