"""What only LocalResult does: its folder, temporary files, file modes, a disk that fills up."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

from headwater.errors import ResultStorageError
from headwater.results import LocalResult
from headwater.results._backends import DEFAULT_RESULTS_DIR, RESULTS_DIR_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_the_folder_defaults_to_the_environment_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path / "from-env"))
    assert LocalResult().dir == str(tmp_path / "from-env")
    monkeypatch.delenv(RESULTS_DIR_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert DEFAULT_RESULTS_DIR == "~/.headwater/results"
    assert LocalResult().dir == str(tmp_path / "home" / ".headwater" / "results")
    assert LocalResult(dir=tmp_path / "given").dir == str(tmp_path / "given")


def test_a_relative_folder_is_made_absolute_where_the_result_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = LocalResult("rel", "x.pkl")
    monkeypatch.chdir("/")
    result.write(1)
    assert (tmp_path / "rel" / "x.pkl").exists()


def test_the_folder_is_made_on_the_first_write_only(tmp_path: Path) -> None:
    result = LocalResult(tmp_path / "later", "a/b/c.pkl")
    assert not (tmp_path / "later").exists()
    assert not result.exists("a/b/c.pkl")
    assert not (tmp_path / "later").exists()
    result.write(1)
    assert (tmp_path / "later" / "a" / "b" / "c.pkl").is_file()


def test_files_get_the_usual_mode_and_no_temporary_file_stays(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        LocalResult(tmp_path, "x.pkl").write(1)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.pkl").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["x.pkl"]


def test_a_stray_temporary_file_is_not_a_result(tmp_path: Path) -> None:
    (tmp_path / ".total.pkl.tmp").write_bytes(b"garbage")
    (tmp_path / ".total.pkl.0123456789ab.tmp").write_bytes(b"half")
    result = LocalResult(tmp_path, "total.pkl")
    assert not result.exists("total.pkl")
    result.write(6)
    assert result.read("total.pkl").value == 6


def test_a_file_where_a_folder_should_be_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file")
    result = LocalResult(tmp_path, "blocked/x.pkl")
    assert not result.exists("blocked/x.pkl")
    with pytest.raises(
        ResultStorageError, match=r"could not write the result at 'blocked/x.pkl'.*Error"
    ):
        result.write(1)
    with pytest.raises(ResultStorageError, match="could not read"):
        result.read("blocked/x.pkl")
    assert (tmp_path / "blocked").read_text() == "a file"


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed


def test_a_write_that_fails_half_way_keeps_the_old_result(tmp_path: Path) -> None:
    """A real mid-write failure: the file size limit stops the write after 1 MiB."""
    result = LocalResult(tmp_path / "results")
    result.location = "big.pkl"
    result.write("the old value")
    shipped = tmp_path / "result.pkl"
    shipped.write_bytes(cloudpickle.dumps(result))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.results.child",
            "write-loop",
            str(shipped),
            "big.pkl",
            str(4 * 2**20),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        preexec_fn=_limit_file_size,
        timeout=60,
    )
    assert proc.returncode != 0 and proc.stdout == b""
    assert b"ResultStorageError" in proc.stderr and b"File too large" in proc.stderr
    assert b"could not write the result at 'big.pkl'" in proc.stderr
    assert result.read("big.pkl").value == "the old value"
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["big.pkl"]  # temp removed
