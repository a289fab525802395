"""The run journal: every flow run leaves a compact record that can be listed and loaded."""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path

import pytest

from headwater import Flow, Parameter, task
from headwater.errors import JournalError
from headwater.model.states import State
from headwater.runtime import journal, records
from headwater.runtime.journal import RunRecord, TaskRecord
from tests.flows import observed
from tests.support.interrupts import child

pytestmark = pytest.mark.usefixtures("journal_dir")  # tests/runtime/conftest.py


def run_etl(**parameters: object) -> State:
    return observed.etl.run(parameters={"n": 3, **parameters})


def test_every_flow_run_writes_one_file_of_json_lines(journal_dir: Path) -> None:
    state = run_etl(fail_at=1)
    (path,) = journal_dir.glob("*.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    run, tasks = lines[0], lines[1:]
    assert run["kind"] == "run" and run["version"] == journal.FORMAT_VERSION
    assert run["flow"] == "etl" and run["state"] == "Failed" == type(state).__name__
    assert run["parameters"] == {"n": 3, "fail_at": 1, "token": "********"}
    assert run["counts"] == {"Success": 6, "Failed": 1, "TriggerFailed": 1}
    assert path.name.endswith(f"Z-{run['run_id']}.jsonl")
    by_label = {(t["task"], t.get("map_index")): t for t in tasks}
    assert by_label[("transform", None)]["mapped"] is True
    assert by_label[("transform", None)]["state"] == "Mapped"
    assert by_label[("transform", 1)]["state"] == "Failed"
    assert "ValueError" in by_label[("transform", 1)]["message"]
    child = by_label[("transform", 0)]
    assert {"start", "end", "host", "worker", "thread", "run_count"} <= set(child)
    assert by_label[("load", None)]["state"] == "TriggerFailed"
    assert "start" not in by_label[("load", None)]  # never ran: no start, nothing written as null


def test_runs_are_listed_newest_first_and_loaded_by_id_or_prefix() -> None:
    run_etl()
    run_etl(fail_at=0)
    runs = journal.list_runs()
    assert [r.state for r in runs] == ["Failed", "Success"]
    assert all(r.tasks == () for r in runs)  # summaries only
    assert runs[0].start is not None and runs[0].start >= runs[1].start  # type: ignore[operator]
    assert journal.list_runs(limit=1) == runs[:1]
    assert journal.list_runs(flow_name="other") == []
    loaded = journal.load_run(runs[1].run_id[:8])
    assert loaded.run_id == runs[1].run_id and loaded.is_successful()
    labels = [t.label for t in loaded.tasks]
    assert labels == [
        "n",
        "fail_at",
        "token",
        "extract",
        "transform",
        "transform[0]",
        "transform[1]",
        "transform[2]",
        "load",
    ]
    assert all(t.duration is not None and t.duration >= 0 for t in loaded.tasks if not t.mapped)
    assert loaded.parameters["n"] == 3


def test_the_flow_run_id_in_the_context_is_the_journal_run_id() -> None:
    seen: list[str] = []

    @task
    def note() -> None:
        from headwater import context

        seen.append(context["flow_run_id"])

    with Flow("ids") as f:
        note()
    f.run()
    f.run(context={"flow_run_id": "given-run-id"})
    assert {r.run_id for r in journal.list_runs()} == {seen[0], "given-run-id"}
    assert seen[1] == "given-run-id"


def test_journal_can_be_turned_off(journal_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_JOURNAL", "false")
    assert run_etl().is_successful()
    assert not journal_dir.exists()
    assert journal.list_runs() == []


def test_a_failing_journal_write_never_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(blocker / "runs"))
    with caplog.at_level(logging.WARNING, logger="headwater.journal"):
        state = run_etl()
    assert state.is_successful()
    assert "Could not journal run" in caplog.text and "HEADWATER_JOURNAL=false" in caplog.text
    monkeypatch.setenv("HEADWATER_JOURNAL", "maybe")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="headwater.journal"):
        assert run_etl().is_successful()
    assert "neither true nor false" in caplog.text


def test_parameters_that_are_not_json_are_written_as_short_reprs(journal_dir: Path) -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing>"

    with Flow("odd") as f:
        Parameter("thing", default=None)
        Parameter("big", default=None)
    f.run(parameters={"thing": Thing(), "big": list(range(5000))})
    (run,) = journal.list_runs()
    assert run.parameters["thing"] == "<Thing>"
    assert run.parameters["big"].endswith("...") and len(run.parameters["big"]) == 200


def test_unknown_ambiguous_and_foreign_files(
    journal_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(JournalError, match="No run 'nope' in the journal"):
        journal.load_run("nope")
    record = RunRecord("aa11", "f", "Success", None, None, None)
    journal.write_run(record)
    journal.write_run(RunRecord("aa22", "f", "Success", None, None, None))
    with pytest.raises(JournalError, match="ambiguous"):
        journal.load_run("aa")
    assert journal.load_run("aa11").run_id == "aa11"
    (journal_dir / "20200101T000000000000Z-bad.jsonl").write_text('{"kind": "task"}\n')
    with caplog.at_level(logging.WARNING, logger="headwater.journal"):
        assert {r.run_id for r in journal.list_runs()} == {"aa11", "aa22"}
    assert "Skipping unreadable journal file" in caplog.text
    newer = journal_dir / "20200101T000000000001Z-newer.jsonl"
    newer.write_text(json.dumps({"kind": "run", "version": 99, "run_id": "newer"}) + "\n")
    with pytest.raises(JournalError, match="newer than this headwater"):
        journal.load_run("newer")


def test_records_round_trip_through_the_file(journal_dir: Path) -> None:
    state = run_etl(fail_at=2)
    live = journal.run_record(observed.etl, state, {"n": 3, "fail_at": 2}, run_id="live")
    path = journal.write_run(live)
    assert path.parent == journal_dir
    loaded = journal.load_run("live")
    assert loaded.tasks == live.tasks
    assert loaded.counts == live.counts and loaded.parameters == live.parameters
    assert isinstance(loaded.tasks[0], TaskRecord)


def test_journal_folder_defaults_to_the_home_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWATER_JOURNAL_DIR")
    assert journal.journal_dir() == Path.home() / ".headwater" / "runs"


@task
def fails_on_sevens(x: int) -> int:
    if x % 700 == 7:
        raise ValueError(f"bad element {x}")
    return x


def test_a_large_map_is_summarized_with_its_failed_children(
    journal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(journal.MAX_CHILDREN_ENV, "100")
    with Flow("big") as f:
        fails_on_sevens.map(list(range(3000)))
    state = f.run()
    (path,) = journal_dir.glob("*.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    run, tasks = lines[0], lines[1:]
    (summary,) = [t for t in tasks if t.get("mapped")]
    assert summary["child_counts"] == {"Success": 2995, "Failed": 5}
    children = [t for t in tasks if t.get("map_index") is not None]
    others = [t for t in tasks if not t.get("mapped") and t.get("map_index") is None]
    assert run["counts"] == {"Success": 2995 + len(others), "Failed": 5}
    assert [t["map_index"] for t in children] == [7, 707, 1407, 2107, 2807]
    assert all(t["state"] == "Failed" and "bad element" in t["message"] for t in children)
    loaded = journal.load_run(run["run_id"])
    assert loaded.counts == run["counts"] and len(loaded.tasks) == len(tasks)
    assert journal.count_states(journal.task_records(state)) == run["counts"]
    full = journal.task_records(state, limit=5000)  # under the limit: every child
    assert len(full) == len(others) + 1 + 3000 and journal.count_states(full) == run["counts"]


def test_a_bad_children_limit_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(journal.MAX_CHILDREN_ENV, "lots")
    with pytest.raises(ValueError, match="HEADWATER_JOURNAL_MAX_CHILDREN='lots' is not a whole"):
        records.max_children()


# -- written as the run goes (issue 12, item 17) ----------------------------------------------


def test_a_driver_killed_mid_run_leaves_what_finished_in_the_journal(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    with child("killed", tmp_path, HEADWATER_JOURNAL_DIR=str(folder)) as run:

        def total_journaled() -> bool:
            files = list(folder.glob("*.jsonl"))
            return bool(files) and '"slug":"total' in files[0].read_text()

        run.wait_until(lambda: any(tmp_path.glob("started-*")), "a sleeper starting")
        run.wait_until(total_journaled, "the total's line")
        run.proc.kill()  # SIGKILL: nothing of the driver runs after this
        run.proc.wait(timeout=30)
    (listed,) = journal.list_runs(directory=folder)
    assert listed.state == journal.UNFINISHED and not listed.finished
    assert listed.flow_name == "killed" and listed.parameters == {"label": "kill-me"}
    # label, total and the two lists mapped over; 3 batches of 2 children, all succeeded
    assert listed.counts == {"Success": 10}
    assert "did not finish" in (listed.message or "")
    loaded = journal.load_run(listed.run_id[:8], directory=folder)
    assert loaded.counts == listed.counts and loaded.start == listed.start
    finished = {(t.task, t.map_index): t for t in loaded.tasks}
    assert finished[("label", None)].state == "Success"
    assert finished[("total", None)].state == "Success"
    for first in (0, 2, 4):  # a batch whose children all succeeded says so
        batch = finished[("inc", first)]
        assert batch.mapped and batch.child_counts == {"Success": 2}
    assert not any(t.task == "mark_and_sleep" for t in loaded.tasks)  # still running


def test_the_file_of_a_finished_run_is_what_it_was_before_and_lines_came_as_it_went(
    journal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    write = journal.JournalHook._write

    def spy(self: journal.JournalHook, *lines: dict[str, object]) -> None:
        write(self, *lines)
        (path,) = journal_dir.glob("*.jsonl")
        seen.append(path.read_text())

    monkeypatch.setattr(journal.JournalHook, "_write", spy)
    state = run_etl(fail_at=1)
    first = [json.loads(x) for x in seen[0].splitlines()]
    resume = first[0].pop("resume")  # what a resume needs (tests/runtime/test_resume*.py)
    assert resume["parameters"]["n"] == {"json": 3} and "digest" in resume["parameters"]["token"]
    assert first == [
        {
            "kind": "run",
            "version": journal.FORMAT_VERSION,
            "run_id": first[0]["run_id"],
            "flow": "etl",
            "state": "Running",
            "finished": False,
            "start": first[0]["start"],
            "parameters": {"n": 3, "fail_at": 1, "token": "********"},
        }
    ]
    last = [json.loads(x) for x in seen[-1].splitlines()][1:]
    # every graph node: the three children of the map ran as one batch (notice 0010)
    assert all(x["kind"] == "done" for x in last) and len(last) == 6
    [batch] = [x for x in last if x["task"] == "transform"]  # its counts, and who failed
    assert batch == {"kind": "done", "task": "transform", "slug": batch["slug"], "map_index": 0,
                     "count": 3, "counts": {"Success": 2, "Failed": 1},
                     "children": [[1, "Failed"]]}  # fmt: skip
    # when it ends, the file is the finished run's, as record() writes it
    (path,) = journal_dir.glob("*.jsonl")
    again = journal.record(
        observed.etl,
        state,
        {"n": 3, "fail_at": 1},
        run_id=first[0]["run_id"],
        start=_dt.datetime.fromisoformat(first[0]["start"]),
        directory=journal_dir / "again",
        resume=resume,
    )
    assert again is not None and path.read_text() == again.read_text()
    assert "done" not in path.read_text() and '"finished"' not in path.read_text()


def test_a_map_over_the_children_limit_has_no_line_per_child_while_it_runs(
    journal_dir: Path, journal_lines: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(records.MAX_CHILDREN_ENV, "2")
    lines = journal_lines
    assert run_etl(n=5).is_successful()
    children = [x for x in lines if x.get("task") == "transform"]
    assert len(children) == 2  # of 5 children
    assert len([x for x in lines if x.get("task") == "extract"]) == 1


def test_a_secret_that_also_appears_in_numbers_and_quotes_leaves_the_journal_readable(
    journal_dir: Path,
) -> None:
    from headwater import Secret

    with Flow("numbers") as f:
        token = Secret("token")
        n = Parameter("n", default=0)
        echo_number(n, token)
    state = f.run(parameters={"token": "12345", "n": 9123456})  # the secret is in the number
    assert state.is_successful()
    [path] = journal_dir.glob("*.jsonl")
    record = journal.load_run(path.name.split("Z-", 1)[1].removesuffix(".jsonl"))
    assert record.parameters["n"] == 9123456 and record.parameters["token"] == "********"
    assert "12345" not in path.read_text().replace("9123456", "")


@task
def echo_number(n: int, token: object) -> int:
    return n


def test_a_secret_that_also_appears_in_times_and_ids_leaves_them_as_they_are(
    journal_dir: Path,
) -> None:
    from headwater import Secret

    secret = "+00:00"  # in every time the journal writes (and in no other test's text)
    with Flow("times") as f:
        token = Secret("token")
        n = Parameter("n", default=0)
        echo_number(n, token)
    run_id = f"run{secret}"
    state = f.run(parameters={"token": secret, "n": 1}, context={"flow_run_id": run_id})
    assert state.is_successful()
    record = journal.load_run(run_id)  # its times parse, its id is found
    assert record.run_id == run_id and record.start is not None and record.end is not None
    assert all(t.start is not None for t in record.tasks)
    assert record.parameters["token"] == "********"
