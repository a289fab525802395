"""LocalDaskExecutor("processes"): a worker process that dies (here: SIGKILL of itself)
loses only the node it was running (issue 12, item 10). That node is retried per its task's
retries, else Crashed; every other node, in the dead process's call or elsewhere, finishes;
reduces run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from headwater import Flow, Task, unmapped
from headwater.executors import LocalDaskExecutor
from headwater.model import states as S
from tests.flows import reliability as R


def test_a_killed_worker_process_loses_only_the_node_it_was_running() -> None:
    with Flow("one death") as f:
        xs = R.kill_at.map(list(range(200)), fatal=unmapped(137))
        after = R.plus_one.map(xs)
        total = R.count_done(xs)
    state = f.run(executor=LocalDaskExecutor("processes", num_workers=2))
    children = state.result[xs].map_states
    assert [i for i, c in enumerate(children) if type(c) is not S.Success] == [137]
    crashed = children[137]
    assert type(crashed) is S.Crashed, crashed
    # in a batch it is lost once with its batch, then alone: "lost 2 times"
    assert re.search(
        r"Task 'kill_at'\[137\] was lost( \(lost \d times\))?: WorkerLostError", crashed.message
    )
    assert "killed by signal SIGKILL" in crashed.message
    assert [c.result for i, c in enumerate(children) if i != 137] == [
        i for i in range(200) if i != 137
    ]
    assert all(c.run_count == 1 for i, c in enumerate(children) if i != 137)
    downstream = state.result[after].map_states
    assert [type(c) for c in downstream].count(S.Success) == 199
    assert type(downstream[137]) is S.TriggerFailed
    assert type(state.result[total]) is S.Success, state.result[total]
    assert state.result[total].result == 199


def _run_twenty(task: Task, marks: Path) -> tuple[Sequence[S.State], S.State]:
    """Map ``task`` over 0..19 (element 7 kills its process) on two worker processes, with
    an all_finished reduce; the children's states and the reduce's."""
    with Flow(task.name) as f:
        xs = task.map(
            list(range(20)), fatal=unmapped(7), marks=unmapped(str(marks)), batch_size=1
        )  # one node per child: a lost node is this child alone
        total = R.count_done(xs)
    state = f.run(executor=LocalDaskExecutor("processes", num_workers=2))
    return state.result[xs].map_states, state.result[total]


def test_a_node_whose_process_died_runs_again_while_its_task_has_retries(
    tmp_path: Path,
) -> None:
    children, total = _run_twenty(R.kill_first_run, tmp_path)
    assert [c.result for c in children] == list(range(20)), children
    assert {type(c) for c in children} == {S.Success}
    assert children[7].run_count == 2  # the lost run counts against max_retries
    assert R.marks_of(tmp_path, 7) == ["run", "run"]
    assert total.result == 20


def test_a_node_that_kills_every_process_it_runs_in_is_crashed_after_its_retries(
    tmp_path: Path,
) -> None:
    children, total = _run_twenty(R.kill_every_run, tmp_path)
    assert [i for i, c in enumerate(children) if type(c) is not S.Success] == [7]
    assert "Task 'kill_every_run'[7] was lost (lost 2 times): WorkerLostError" in (
        children[7].message
    )
    assert R.marks_of(tmp_path, 7) == ["run", "run"]  # max_retries=1: two runs, no more
    assert total.result == 19
