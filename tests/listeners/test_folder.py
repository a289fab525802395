"""FolderListener: files dropped into a real folder and into a real S3-compatible server's
bucket (moto on loopback) start exactly one run each, also across a restart."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater.errors import ListenerError, ParameterError
from headwater.listeners import FolderListener
from headwater.runtime.seen import seen_path
from tests.flows.listening import counted, echo
from tests.listeners.conftest import BUCKET
from tests.support import servers
from tests.support.listening import listening

POLL = 0.1


def ran_paths(runs: Any) -> list[str]:
    return [run.event.parameters["path"] for run in runs]


def result_of(run: Any) -> dict[str, Any]:
    (state,) = [s for t, s in run.state.result.items() if t.name == "read_back"]
    return state.result


# -- a local folder ----------------------------------------------------------------------------


def test_each_new_file_runs_once_and_a_restart_runs_only_new_files(
    tmp_path: Path, journal: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        (inbox / name).write_text(name)
    with listening(echo, listeners=FolderListener(str(inbox), poll=POLL)) as loop:
        runs = loop.wait_runs(3)
        (inbox / "d.csv").write_text("d.csv")
        runs = loop.wait_runs(4)
        first = loop.finish()
    assert sorted(ran_paths(first)) == [
        str(inbox / n) for n in ("a.csv", "b.csv", "c.csv", "d.csv")
    ]
    assert all(run.state.is_successful() for run in runs)
    assert result_of(first[0])["text"] == "a.csv"
    # Restart: old files are in the record; only the new one (last by name) runs.
    (inbox / "z.csv").write_text("z.csv")
    with listening(echo, listeners=FolderListener(str(inbox), poll=POLL), max_runs=1) as loop:
        second = loop.finish() if loop.wait_runs(1) else None
    assert second is not None and ran_paths(second) == [str(inbox / "z.csv")]
    journaled = sorted(journal.glob("*Z-*.jsonl"))
    assert len(journaled) == 5  # one journal file per run, no more


def test_a_changed_file_is_a_new_version_and_runs_again(tmp_path: Path, journal: Path) -> None:
    (tmp_path / "a.csv").write_text("one")
    with listening(echo, listeners=FolderListener(str(tmp_path), poll=POLL)) as loop:
        loop.wait_runs(1)
        (tmp_path / "a.csv").write_text("two, longer")
        runs = loop.wait_runs(2)
        loop.finish()
    assert [result_of(run)["text"] for run in runs] == ["one", "two, longer"]
    assert runs[0].event.key != runs[1].event.key


def test_only_matching_names_run_and_hidden_files_wait_for_their_rename(
    tmp_path: Path, journal: Path
) -> None:
    (tmp_path / "skip.txt").write_text("no")
    (tmp_path / ".b.csv.tmp").write_text("being written")
    listener = FolderListener(str(tmp_path), pattern="*.csv", poll=POLL)
    with listening(echo, listeners=listener) as loop:
        (tmp_path / "a.csv").write_text("a")
        runs = loop.wait_runs(1)
        assert ran_paths(runs) == [str(tmp_path / "a.csv")]
        (tmp_path / ".b.csv.tmp").write_text("written in full")
        (tmp_path / ".b.csv.tmp").rename(tmp_path / "b.csv")
        runs = loop.wait_runs(2)
        loop.finish()
    assert ran_paths(runs) == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert result_of(runs[1])["text"] == "written in full"


def test_a_file_still_being_written_is_taken_only_once_complete(
    tmp_path: Path, journal: Path
) -> None:
    target = tmp_path / "big.log"
    stop_writing = threading.Event()

    def write() -> None:  # grows the file every 10 ms, much faster than the listener polls
        with target.open("a") as fh:
            for i in range(150):
                fh.write(f"line {i}\n")
                fh.flush()
                time.sleep(0.01)
        stop_writing.set()

    writer = threading.Thread(target=write)
    target.write_text("")
    writer.start()
    with listening(echo, listeners=FolderListener(str(tmp_path), poll=0.25)) as loop:
        runs = loop.wait_runs(1)
        loop.finish()
    writer.join()
    assert stop_writing.is_set()
    assert result_of(runs[0])["text"] == "".join(f"line {i}\n" for i in range(150))
    assert len(runs) == 1


def test_a_file_whose_parameters_the_flow_refuses_is_reported_and_skipped(
    tmp_path: Path, journal: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.csv").write_text("a")
    # `counted` takes n: int; the folder gives it a path, which is not an int.
    listener = FolderListener(str(tmp_path), parameter="n", poll=POLL)
    with listening(counted, listeners=listener, parameters={"label": "y"}) as loop:
        (tmp_path / "b.csv").write_text("b")
        deadline = time.monotonic() + 20
        while caplog.text.count("Skipping the event") < 2:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.02)
        runs = loop.finish()
    assert len(runs) == 0
    assert "parameter 'n' got" in caplog.text and "not a valid int" in caplog.text


def test_a_folder_listener_is_checked_before_it_listens(tmp_path: Path, journal: Path) -> None:
    with pytest.raises(ListenerError, match="is not a folder; create it first"):
        echo.run(listen=FolderListener(str(tmp_path / "missing")))
    with pytest.raises(
        ParameterError, match=r"sets parameter 'file', which the flow does not have"
    ):
        echo.run(listen=FolderListener(str(tmp_path), parameter="file"))
    with pytest.raises(ParameterError, match=r"parameter 'path' is set by FolderListener"):
        echo.run({"path": "x"}, listen=FolderListener(str(tmp_path)))
    with pytest.raises(
        ListenerError, match=r"pattern must be a glob.*; poll must be a positive number"
    ):
        FolderListener(str(tmp_path), pattern="", poll=0)


def test_a_second_listener_of_the_same_folder_and_flow_is_refused(
    tmp_path: Path, journal: Path
) -> None:
    with listening(echo, listeners=FolderListener(str(tmp_path), poll=POLL)) as loop:
        record = seen_path("echo", f"folder {tmp_path}")
        deadline = time.monotonic() + 20
        while not record.exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(ListenerError, match="is already being listened to by pid"):
            echo.run(listen=FolderListener(str(tmp_path), poll=POLL))
        loop.finish()
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert lines[0] == {"kind": "listener", "flow": "echo", "source": f"folder {tmp_path}"}


# -- an S3 bucket on a real S3-compatible server -------------------------------------------------


@pytest.fixture
def s3(
    s3_server: servers.ServerProcess,
) -> tuple[str, dict[str, Any], Callable[[str, bytes], None]]:
    """A fresh prefix in the bucket, its storage options, and a writer of objects."""
    import s3fs

    options = {"endpoint_url": s3_server.url}
    prefix = f"{BUCKET}/{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    return f"s3://{prefix}/", options, lambda name, data: fs.pipe_file(f"{prefix}/{name}", data)


def test_objects_in_a_bucket_run_once_each_and_a_restart_runs_only_new_ones(
    s3: tuple[str, dict[str, Any], Callable[[str, bytes], None]], journal: Path
) -> None:
    url, options, put = s3
    put("a.json", b"{}")
    put("b.json", b"{}")

    def listener() -> FolderListener:
        return FolderListener(url, pattern="*.json", poll=POLL, storage_options=options)

    with listening(echo, listeners=listener()) as loop:
        loop.wait_runs(2)
        put("c.json", b"{}")
        put("ignored.txt", b"")
        loop.wait_runs(3)
        first = loop.finish()
    assert sorted(ran_paths(first)) == [f"{url}{n}" for n in ("a.json", "b.json", "c.json")]
    assert all(run.state.is_successful() for run in first)
    assert all("@2:etag=" in str(run.event.key) for run in first)  # the key is URL@size:etag
    put("z.json", b"{}")
    with listening(echo, listeners=listener(), max_runs=1) as loop:
        loop.wait_runs(1)
        second = loop.finish()
    assert ran_paths(second) == [f"{url}z.json"]


def test_a_bucket_that_does_not_exist_is_refused_before_listening(
    s3_server: servers.ServerProcess, journal: Path
) -> None:
    listener = FolderListener(
        "s3://no-such-bucket-here/in/", storage_options={"endpoint_url": s3_server.url}
    )
    with pytest.raises(
        ListenerError, match="FolderListener cannot list 's3://no-such-bucket-here/in'"
    ):
        echo.run(listen=listener)
