"""Signing keys: made on first use with mode 0600, shared through the environment, refused
when others may read them, installed for a run under its token."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from headwater.errors import ResultUnverifiedError, SigningKeyError
from headwater.results import LocalResult
from headwater.results import signing as S


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key file path of this test's own (not made yet); no team key, no opt-in."""
    path = tmp_path / "home" / ".headwater" / "signing-key"
    monkeypatch.setenv(S.KEY_FILE_ENV, str(path))
    monkeypatch.delenv(S.SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(S.TRUST_ENV, raising=False)
    return path


def test_the_first_write_makes_a_private_key_file_and_signs_with_it(
    key_file: Path, tmp_path: Path
) -> None:
    result = LocalResult(dir=str(tmp_path / "r"), location="x.pkl")
    assert not key_file.exists()
    result.write({"a": 1})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert len(key_file.read_text().strip()) == 64
    assert (tmp_path / "r" / "x.pkl").read_bytes()[4] == 1  # signed
    assert result.read("x.pkl").value == {"a": 1}
    # the same key from the team variable reads it too: the file's text is the key
    os.environ[S.SIGNING_KEY_ENV] = key_file.read_text().strip()
    try:
        os.rename(key_file, key_file.with_name("moved"))
        assert result.read("x.pkl").value == {"a": 1}
    finally:
        del os.environ[S.SIGNING_KEY_ENV]


def test_reading_never_makes_a_key_file(key_file: Path, tmp_path: Path) -> None:
    writer = LocalResult(dir=str(tmp_path / "r"), location="x.pkl", signing_key="team")
    writer.write(1)
    with pytest.raises(ResultUnverifiedError, match="no signing key is set here"):
        LocalResult(dir=str(tmp_path / "r")).read("x.pkl")
    assert not key_file.exists()


def test_a_key_file_others_may_read_is_refused(key_file: Path, tmp_path: Path) -> None:
    result = LocalResult(dir=str(tmp_path / "r"), location="x.pkl")
    result.write(1)
    key_file.chmod(0o644)
    with pytest.raises(SigningKeyError, match=r"mode 0644.*chmod 600"):
        result.write(2)
    with pytest.raises(SigningKeyError, match="may be read or written by others"):
        result.read("x.pkl")


def test_a_key_file_that_cannot_be_made_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(S.KEY_FILE_ENV, str(blocker / "signing-key"))
    monkeypatch.delenv(S.SIGNING_KEY_ENV, raising=False)
    with pytest.raises(SigningKeyError, match=f"No signing key could be made.*{S.KEY_FILE_ENV}"):
        LocalResult(dir=str(tmp_path / "r"), location="x.pkl").write(1)


def test_processes_racing_to_make_the_key_agree_on_one(key_file: Path) -> None:
    barrier = threading.Barrier(8)
    keys: list[bytes] = []

    def make() -> None:
        barrier.wait()
        found = S.key_file_key(key_file, create=True)
        assert found is not None
        keys.append(found)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in key_file.parent.iterdir()] == ["signing-key"]


def test_which_key_signs(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = S.resolve(None, create=True)
    assert own is not None and own.source == f"the key file {str(key_file)!r}"
    monkeypatch.setenv(S.SIGNING_KEY_ENV, "team")
    assert S.resolve(None, create=True) == S.Signing(b"team", S.SIGNING_KEY_ENV)
    run = S.RunKey("tok", S.Signing(b"run key", "the driver"))
    run.setup()
    try:
        with S.using("tok"):
            assert S.resolve(None, create=True) == run.signing
            assert S.resolve(b"explicit", create=True) == S.Signing(b"explicit", "signing_key=")
        with S.using("not installed"), pytest.raises(SigningKeyError, match="did not reach"):
            S.resolve(None, create=True)
    finally:
        run.teardown()
    assert S.installed("tok") is None
    assert "run key" not in repr(run) and "team" not in repr(S.resolve(None, create=True))
