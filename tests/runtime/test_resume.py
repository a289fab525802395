"""Resuming a journaled run (issue 15): what is kept, read back and run again, on every
executor and across them; the parameters, the flow and the journal's part. The runs killed
or interrupted for real are in test_resume_kills.py."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pytest

from headwater import Flow, Parameter, case, merge, task, unmapped
from headwater.errors import HeadwaterError, JournalError, ParameterError, ResumeError
from headwater.executors import LocalDaskExecutor, LocalExecutor
from headwater.model.states import Cached, Skipped, State, Success
from headwater.results import LocalResult
from headwater.runtime import journal
from headwater.runtime.resume import describe_resume
from tests.flows import resumable as R

pytestmark = pytest.mark.usefixtures("journal_dir")  # tests/runtime/conftest.py


def broken(folder: Path, what: str = "") -> None:
    (folder / "broken").write_text(what)


def fixed(folder: Path) -> None:
    (folder / "broken").unlink()


def calls_of(folder: Path, state: State) -> list[str]:
    """What the run of ``state`` (a flow run's state, journaled) called."""
    run_id = journal.run_id_of(state)
    assert run_id is not None, "the run was not journaled"
    return R.calls(folder).get(run_id, [])


def newest(flow: str, n: int = 1) -> list[journal.RunRecord]:
    """The newest ``n`` journaled runs of ``flow`` (a thread another test left running may
    journal a run of its own flow here)."""
    return journal.list_runs(n, flow_name=flow)


# -- the big map: 1% of 10,000 children fail -------------------------------------------------


def test_a_map_where_one_percent_failed_resumes_exactly_those_children_and_the_reduce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(journal.MAX_CHILDREN_ENV, "50")  # the finished file names 50 of 100
    broken(tmp_path)
    flow = R.squares(10_000, str(tmp_path))
    first = flow.run(executor=LocalDaskExecutor("threads", num_workers=2))
    assert first.is_failed()
    [(square, mapped)] = [(t, s) for t, s in first.result.items() if t.name == "square"]
    assert mapped.counts() == {"Success": 9_900, "Failed": 100}
    bad = sorted(i for i in range(10_000) if i % 100 == 7)
    assert len(calls_of(tmp_path, first)) == 10_000  # every child ran, not the total
    fixed(tmp_path)
    again = flow.run(executor=LocalExecutor(), resume="last")  # across executors
    assert again.is_successful(), again.message
    called = calls_of(tmp_path, again)
    assert sorted(called, key=str) == sorted([*map(str, bad), "total"], key=str)
    assert len(called) == 101
    [total] = [s for t, s in again.result.items() if t.name == "total"]
    assert total.result == sum(i * i for i in range(10_000))
    children = again.result[square].map_states
    assert again.result[square].counts() == {"Cached": 9_900, "Success": 100}
    assert "Read back from run" in (children[0].message or "")


def test_a_huge_map_journals_per_batch_its_counts_and_only_the_children_that_failed(
    tmp_path: Path,
    journal_dir: Path,
    journal_lines: list[dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = journal_lines
    monkeypatch.setenv(journal.MAX_CHILDREN_ENV, "30")
    broken(tmp_path)
    state = R.squares(5_000, str(tmp_path)).run(executor=LocalDaskExecutor("threads"))
    assert state.is_failed()
    done = [x for x in lines if x.get("kind") == "done" and x["task"] == "square"]
    # a line per batch (however the map was cut), never a line per child
    assert sum(x["count"] for x in done) == 5_000 and len(done) < 1_000
    clean = [x for x in done if x.get("state") == "Success"]
    mixed = [x for x in done if "counts" in x]
    assert len(clean) + len(mixed) == len(done)
    assert sum(x["counts"].get("Failed", 0) for x in mixed) == 50
    assert all(set(x["counts"]) <= {"Success", "Failed"} for x in mixed)
    assert (
        sum(x["count"] for x in clean) + sum(x["counts"].get("Success", 0) for x in mixed) == 4_950
    )
    named = [c for x in mixed for c in x.get("children", [])]  # at most the limit of 30
    assert len(named) == 30 and all(c[1] == "Failed" and c[0] % 100 == 7 for c in named)
    # the finished file: the map's line with its counts, then at most 30 children
    [path] = journal_dir.glob("*.jsonl")
    written = [json.loads(x) for x in path.read_text().splitlines()]
    squares = [x for x in written if x.get("task") == "square"]
    assert squares[0]["child_counts"] == {"Success": 4_950, "Failed": 50}
    assert len(squares) == 31 and all(x["state"] == "Failed" for x in squares[1:])


# -- a chain, on every executor ------------------------------------------------------------


def test_a_chain_reruns_the_failed_middle_and_what_follows_not_what_came_before(
    tmp_path: Path, executor: object
) -> None:
    flow, tasks = R.chain(str(tmp_path))
    broken(tmp_path, "middle")
    first = flow.run(executor=LocalDaskExecutor("threads"))
    assert first.is_failed() and calls_of(tmp_path, first) == ["first", "middle"]
    fixed(tmp_path)
    again = flow.run(executor=executor, resume="last")  # started on threads, resumed on each
    assert again.is_successful(), again.message
    assert calls_of(tmp_path, again) == ["middle", "last", "report"]
    assert isinstance(again.result[tasks["first"]], Cached)
    assert again.result[tasks["report"]].result == 5
    record = newest("chain")[0]
    assert record.resumed_from == journal.run_id_of(first)  # a new run, naming the first


def test_a_resume_of_a_resume_reads_back_from_both_earlier_runs(tmp_path: Path) -> None:
    flow, tasks = R.chain(str(tmp_path))
    broken(tmp_path, "middle")
    flow.run()
    broken(tmp_path, "last")
    second = flow.run(resume="last")
    assert second.is_failed() and calls_of(tmp_path, second) == ["middle", "last"]
    fixed(tmp_path)
    third = flow.run(resume="last")
    assert third.is_successful() and calls_of(tmp_path, third) == ["last", "report"]
    first_id, second_id = (r.run_id for r in reversed(newest("chain", 3)[1:]))
    assert first_id in (third.result[tasks["first"]].message or "")  # read back from run 1
    assert second_id in (third.result[tasks["middle"]].message or "")  # and from run 2


@pytest.mark.parametrize("how", ["tampered", "missing"])
def test_a_checkpoint_that_cannot_be_proven_runs_again(tmp_path: Path, how: str) -> None:
    flow, tasks = R.chain(str(tmp_path))
    broken(tmp_path, "last")
    flow.run()
    record = journal.load_run(newest("chain")[0].run_id)
    slug = (record.resume or {})["slugs"]["step-1"]  # the first step, in that run
    [path] = (tmp_path / "results").rglob(slug)
    if how == "missing":
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        data[-1] ^= 1  # its signature no longer verifies
        path.write_bytes(bytes(data))
    fixed(tmp_path)
    again = flow.run(resume="last")
    assert again.is_successful() and again.result[tasks["report"]].result == 5
    # the first step runs again; the middle one's checkpoint is for the same input: read back
    assert calls_of(tmp_path, again) == ["first", "last", "report"]
    assert isinstance(again.result[tasks["middle"]], Cached)


# -- what is kept without a checkpoint -------------------------------------------------------


@task
def double(x: int, folder: str) -> int:
    R.note(folder, f"double {x}")
    if x in (3, 7) and (Path(folder) / "broken").exists():
        raise ValueError("bad")
    return 2 * x


@task
def plus_one(x: int, folder: str) -> int:
    R.note(folder, f"plus_one {x}")
    return x + 1


def test_children_nothing_needs_are_kept_without_a_checkpoint(tmp_path: Path) -> None:
    folder = str(tmp_path)
    with Flow("elementwise") as flow:  # nothing checkpointed
        plus_one.map(double.map(list(range(10)), unmapped(folder)), unmapped(folder))
    broken(tmp_path)
    first = flow.run()
    assert first.is_failed() and len(calls_of(tmp_path, first)) == 18
    fixed(tmp_path)
    again = flow.run(resume="last")
    assert again.is_successful(), again.message
    called = sorted(calls_of(tmp_path, again))
    assert called == ["double 3", "double 7", "plus_one 14", "plus_one 6"]
    [mapped] = [s for t, s in again.result.items() if t.name == "plus_one"]
    assert [type(c) for c in mapped.map_states] == [Success] * 10
    assert mapped.map_states[3].result == 7  # ran again
    assert mapped.map_states[0].result is None  # kept as it was, without its value


@task
def is_weekend(day: str) -> bool:
    return day in ("sat", "sun")


@task
def note_step(x: object, folder: str, name: str) -> str:
    R.note(folder, name)
    if (Path(folder) / "broken").exists() and name == "fails":
        raise ValueError("broken")
    return name


def test_a_branch_not_taken_is_kept_skipped_as_it_was(tmp_path: Path) -> None:
    folder = str(tmp_path)
    with Flow("branches") as flow:
        day = Parameter("day", default="mon")
        weekend = is_weekend(day)
        with case(weekend, True):
            rest = note_step(day, folder, "rest")
        with case(weekend, False):
            work = note_step(day, folder, "work")
        joined = merge(rest, work)
        note_step(joined, folder, "fails")
    broken(tmp_path)
    first = flow.run()
    assert isinstance(first.result[rest], Skipped) and first.is_failed()
    fixed(tmp_path)
    again = flow.run(resume="last")
    assert again.is_successful(), again.message
    assert isinstance(again.result[rest], Skipped)  # the branch not taken, as it was
    assert again.result[joined].result == "work"
    assert calls_of(tmp_path, again) == ["work", "fails"]  # no checkpoint: work runs again


@task
def read_source(path: str) -> str:
    return Path(path).read_text()


@task
def shout(text: str, folder: str) -> str:
    R.note(folder, f"shout {text}")
    return text.upper()


def test_a_checkpoint_is_read_back_only_for_the_same_inputs(tmp_path: Path) -> None:
    folder, source = str(tmp_path), tmp_path / "source"
    source.write_text("a")
    with Flow("inputs") as flow:  # the source is not checkpointed: it runs again
        saved = shout.copy(checkpoint=True, result=LocalResult(folder))
        loud = saved(read_source(str(source)), folder)
        note_step(loud, folder, "fails")
    broken(tmp_path)
    flow.run()
    fixed(tmp_path)
    source.write_text("b")  # its value changed: shout's checkpoint is not for these inputs
    again = flow.run(resume="last")
    assert again.is_successful() and calls_of(tmp_path, again) == ["shout b", "fails"]
    assert again.result[loud].result == "B"


# -- parameters, context and a changed flow --------------------------------------------------


def test_the_original_parameters_are_used_and_others_refused(tmp_path: Path) -> None:
    flow, tasks = R.chain(str(tmp_path))
    broken(tmp_path, "last")
    flow.run(parameters={"n": 10})
    fixed(tmp_path)
    with pytest.raises(ParameterError, match=r"parameter 'n' was 10 in run .*drop it"):
        flow.run(parameters={"n": 11}, resume="last")
    again = flow.run(parameters={"n": 10}, resume="last")  # the same value is fine
    assert again.is_successful() and again.result[tasks["report"]].result == 14


@task
def day_of(when: _dt.datetime, folder: str) -> int:
    R.note(folder, "day_of")
    if (Path(folder) / "broken").exists():
        raise ValueError("broken")
    return when.day


def test_a_value_the_journal_keeps_as_a_digest_must_be_given_again(tmp_path: Path) -> None:
    when = _dt.datetime(2024, 3, 1, tzinfo=_dt.UTC)
    with Flow("dated") as flow:
        day_of(Parameter("when"), str(tmp_path))
    broken(tmp_path)
    flow.run(parameters={"when": when})
    fixed(tmp_path)
    with pytest.raises(ParameterError, match="journaled as a digest only.*give it again"):
        flow.run(resume="last")
    with pytest.raises(ParameterError, match="'when' is not the value run"):
        flow.run(parameters={"when": when.replace(day=2)}, resume="last")
    assert flow.run(parameters={"when": when}, resume="last").is_successful()


def test_a_changed_flow_is_refused_naming_what_changed(tmp_path: Path) -> None:
    flow, tasks = R.chain(str(tmp_path))
    broken(tmp_path, "last")
    flow.run()
    with Flow("chain", result=LocalResult(str(tmp_path)), checkpoint=True) as other:
        n = Parameter("n", default=1)
        first = R.step(n, str(tmp_path), "first")
        R.step(first, str(tmp_path), "middle")
        R.step(R.step(first, str(tmp_path), "other"), str(tmp_path), "last")
        R.total([first], str(tmp_path))
    with pytest.raises(ResumeError, match="changed since run") as caught:
        other.run(resume="last")
    assert sorted(str(caught.value).splitlines()[1:]) == [
        "  - edge 'List-1' -> 'total-1' as argument 'xs' is new",
        "  - edge 'step-1' -> 'List-1' as argument 'item_0' is new",
        "  - edge 'step-1' -> 'step-3' as argument 'x' is new",
        "  - edge 'step-2' -> 'step-3' as argument 'x' is gone",
        "  - task 'List-1' is new",
        "  - task 'total-1' is new",
        "  - the constant arguments of task 'step-3' changed",
        "  - the constant arguments of task 'step-4' changed",
    ]


def test_runs_that_cannot_be_resumed_are_refused_clearly(tmp_path: Path) -> None:
    flow, _ = R.chain(str(tmp_path))
    with pytest.raises(JournalError, match="No run of flow 'chain' in the journal"):
        flow.run(resume="last")
    with pytest.raises(JournalError, match="No run 'nope'"):
        flow.run(resume="nope")
    flow.run()
    other, _ = R.chain(str(tmp_path))
    with Flow("another") as another:
        R.step(1, str(tmp_path), "x")
    with pytest.raises(ResumeError, match="is a run of flow 'chain', not 'another'"):
        another.run(resume=newest("chain")[0].run_id)
    with pytest.raises(HeadwaterError, match="resume= runs once.*no task_states"):
        other.run(resume="last", task_states={next(iter(other.tasks)): Success()})
    with pytest.raises(HeadwaterError, match="resume= runs once.*a schedule or listeners"):
        other.run(resume="last", run_on_schedule=True)  # type: ignore[call-overload]


# -- the command line, runs show and Jupyter -------------------------------------------------


def test_runs_show_says_whether_and_how_a_run_can_be_resumed(tmp_path: Path) -> None:
    broken(tmp_path)
    state = R.squares(2_000, str(tmp_path)).run()
    record = journal.load_run(str(journal.run_id_of(state)))
    lines = describe_resume(record)
    assert lines[0].startswith(
        f"Can be resumed: headwater run FILE.py --resume {record.run_id[:8]}"
    )
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["square-1"] == ["-", "1,980", "20"]  # read back, run again
    assert rows["total-1"] == ["-", "-", "1"]


def test_the_html_of_a_failed_run_shows_how_to_resume_it(tmp_path: Path) -> None:
    flow, _ = R.chain(str(tmp_path))
    broken(tmp_path, "middle")
    state = flow.run()
    run_id = str(journal.run_id_of(state))
    html = state._repr_html_()
    assert f"flow.run(resume=&#x27;{run_id}&#x27;)" in html
    assert f"headwater run FILE.py --resume {run_id[:8]}" in html
    assert f"--resume {run_id[:8]}" in journal.load_run(run_id)._repr_html_()  # its record too
    fixed(tmp_path)
    assert "--resume" not in flow.run(resume="last")._repr_html_()  # a success needs none
