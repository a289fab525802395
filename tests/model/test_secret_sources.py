"""Secrets a run does not give are read, on the driver and before anything runs, from the
environment (headwater's variable or Prefect 1's) or a private secrets file; a required one
found nowhere refuses the run, naming where it looked. Values never show."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow, ParameterError, Secret, SecretValue
from headwater.model.secrets import MASK, redact
from tests.flows import porting_fidelity as P

SECRET = "env-Secret-value-91"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No secret variables from the machine; the home (and its default secrets file) is a
    fresh folder; the journal goes to the test's folder."""
    for name in list(os.environ):
        if name.startswith(("HEADWATER_SECRET", "PREFECT__CONTEXT__SECRETS__")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(tmp_path / "journal"))
    return home


def secrets_file(folder: Path, content: str, name: str = "secrets.toml", mode: int = 0o600) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def named_file(
    monkeypatch: pytest.MonkeyPatch,
    folder: Path,
    content: str,
    name: str = "secrets.toml",
    mode: int = 0o600,
) -> Path:
    """A secrets file that ``$HEADWATER_SECRETS_FILE`` names."""
    path = secrets_file(folder, content, name, mode)
    monkeypatch.setenv("HEADWATER_SECRETS_FILE", str(path))
    return path


def one_secret_flow(secret: Secret) -> tuple[Flow, Any]:
    with Flow("uses-a-secret") as f:
        raw = P.unwrap(secret)
    return f, raw


# -- from the environment, on every executor ------------------------------------------------


def test_a_secret_not_given_is_read_from_its_environment_variable_on_the_driver(
    executor: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the session's Dask workers started before this variable existed: the value travels
    monkeypatch.setenv("HEADWATER_SECRET_DEPLOY_TOKEN", SECRET)
    token = Secret("DEPLOY_TOKEN")
    f, raw = one_secret_flow(token)
    with caplog.at_level(logging.INFO):
        state = f.run(executor=executor)
    assert state.result[raw].result == SECRET
    assert isinstance(state.result[token].result, SecretValue)
    assert SECRET not in repr(state.result[token]) + repr(state.result)
    records = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert SECRET not in records


def test_a_required_secret_found_nowhere_refuses_the_run_before_anything_runs(
    executor: Any, tmp_path: Path, clean_environment: Path
) -> None:
    marker = tmp_path / "ran"
    with Flow("deploy") as f:
        token = Secret("db-password")
        other = Secret("api_key")
        P.noted(str(marker), 1, upstream_tasks=[token, other])
    with pytest.raises(ParameterError) as err:
        f.run(executor=executor)
    message = str(err.value)
    default_file = clean_environment / ".headwater" / "secrets.toml"
    assert message == (
        "Flow 'deploy' refused its parameters (2 problems):\n"
        "  - secret 'db-password' is required and was found nowhere; looked in: parameters=, "
        "$HEADWATER_SECRET_DB_PASSWORD, $PREFECT__CONTEXT__SECRETS__db-password, "
        f"the secrets file {default_file} (absent). Set one of them, or make it optional: "
        "Secret('db-password', required=False)\n"
        "  - secret 'api_key' is required and was found nowhere; looked in: parameters=, "
        "$HEADWATER_SECRET_API_KEY, $PREFECT__CONTEXT__SECRETS__api_key, "
        f"the secrets file {default_file} (absent). Set one of them, or make it optional: "
        "Secret('api_key', required=False)"
    )
    assert not marker.exists()


def test_prefect_1s_variable_is_read_too_and_headwaters_wins_over_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__MY_KEY", "from-prefect-var")
    f, raw = one_secret_flow(Secret("MY_KEY"))
    assert f.run().result[raw].result == "from-prefect-var"
    monkeypatch.setenv("HEADWATER_SECRET_MY_KEY", "from-headwater-var")
    assert f.run().result[raw].result == "from-headwater-var"


def test_environment_values_are_strings_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prefect 1 turned "42" into 42 and parsed JSON; nothing is guessed here
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__PIN", "0042")
    monkeypatch.setenv("HEADWATER_SECRET_CREDS", '{"user": "u"}')
    with Flow("s") as f:
        pin, creds = P.unwrap(Secret("PIN")), P.unwrap(Secret("CREDS"))
    state = f.run()
    assert state.result[pin].result == "0042"
    assert state.result[creds].result == '{"user": "u"}'


def test_a_value_given_to_the_run_wins_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f, raw = one_secret_flow(Secret("token", default="default-token-1"))
    assert f.run().result[raw].result == "default-token-1"
    monkeypatch.setenv("HEADWATER_SECRET_TOKEN", "env-token-2")
    assert f.run().result[raw].result == "env-token-2"
    assert f.run(parameters={"token": "given-token-3"}).result[raw].result == "given-token-3"


def test_an_optional_secret_found_nowhere_is_none() -> None:
    maybe = Secret("maybe", required=False)
    f, raw = one_secret_flow(maybe)
    state = f.run()
    assert state.is_successful()
    assert state.result[maybe].result is None  # tasks get None, not a SecretValue of None
    assert state.result[raw].result is None


# -- the secrets file -----------------------------------------------------------------------


def test_the_default_secrets_file_is_read_when_private(clean_environment: Path) -> None:
    folder = clean_environment / ".headwater"
    folder.mkdir()
    secrets_file(folder, '"db-password" = "from-the-file-4"\n[aws]\nkey = "k-5678"\n')
    with Flow("s") as f:
        pw, aws = P.unwrap(Secret("db-password")), P.unwrap(Secret("aws"))
    state = f.run()
    assert state.result[pw].result == "from-the-file-4"
    assert state.result[aws].result == {"key": "k-5678"}  # a file keeps TOML's types


def test_a_named_json_secrets_file_is_read_and_the_environment_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = json.dumps({"token": "file-token-6", "n": 7})
    named_file(monkeypatch, tmp_path, content, "s.json")
    with Flow("s") as f:
        token, n = P.unwrap(Secret("token")), P.unwrap(Secret("n"))
    state = f.run()
    assert (state.result[token].result, state.result[n].result) == ("file-token-6", 7)
    monkeypatch.setenv("HEADWATER_SECRET_TOKEN", "env-token-7")
    assert f.run().result[token].result == "env-token-7"


def test_a_secret_missing_from_the_file_is_refused_naming_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = named_file(monkeypatch, tmp_path, 'other = "x-value-8"\n')
    f, _ = one_secret_flow(Secret("token"))
    with pytest.raises(ParameterError, match=rf"the secrets file {path} \(no key 'token'\)"):
        f.run()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606], ids=oct)
def test_a_secrets_file_others_can_open_is_refused_with_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    path = named_file(monkeypatch, tmp_path, 'token = "readable-by-all-9"\n', mode=mode)
    with Flow("s") as f:
        Secret("token")
        Secret("other", default="d-value")
    with pytest.raises(ParameterError) as err:
        f.run()
    message = str(err.value)
    expected = (
        f"the secrets file {path} is open to other users (mode {mode:04o}), so it is not "
        f"read; make it private with `chmod 600 {path}`"
    )
    assert message.count(expected) == 1  # said once, though two secrets needed the file
    assert "readable-by-all-9" not in message


def test_a_named_secrets_file_that_does_not_exist_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere.toml"
    monkeypatch.setenv("HEADWATER_SECRETS_FILE", str(missing))
    f, _ = one_secret_flow(Secret("token", default="d-value-10"))
    with pytest.raises(
        ParameterError,
        match=rf"\$HEADWATER_SECRETS_FILE names the secrets file {missing}, which does not "
        rf"exist; create it \(chmod 600\) or unset \$HEADWATER_SECRETS_FILE",
    ):
        f.run()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("s.toml", 'token = "hidden-11\n', r"is not valid TOML \(line 1, column \d+\)"),
        ("s.toml", 'token = "hidden\x01-12"\n', r"is not valid TOML \(line 1, column \d+\)"),
        ("s.json", '{"token": "hidden-13",}', r"is not valid JSON \(line 1, column \d+\)"),
        ("s.json", '["hidden-14"]', r"must hold an object of secret names and values, not a list"),
        ("s.toml", "", None),
    ],
)
def test_a_secrets_file_that_does_not_parse_is_refused_without_showing_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str, problem: str | None
) -> None:
    path = named_file(monkeypatch, tmp_path, content, name)
    if problem is None:  # bytes that are not UTF-8
        path.write_bytes(b'token = "hidden-\xff"\n')
        problem = "is not UTF-8 text"
    f, _ = one_secret_flow(Secret("token"))
    with pytest.raises(ParameterError, match=rf"the secrets file {path} {problem}") as err:
        f.run()
    assert "hidden" not in str(err.value)
    assert "\x01" not in str(err.value) and "xff" not in str(err.value)


def test_a_secrets_file_that_is_a_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_SECRETS_FILE", str(tmp_path))
    f, _ = one_secret_flow(Secret("token"))
    with pytest.raises(ParameterError, match=rf"the secrets file {tmp_path} is not a regular file"):
        f.run()


def test_the_secrets_file_is_not_read_when_no_secret_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named_file(monkeypatch, tmp_path, "not toml at all", mode=0o666)
    monkeypatch.setenv("HEADWATER_SECRET_TOKEN", "env-token-13")
    f, raw = one_secret_flow(Secret("token"))
    assert f.run().result[raw].result == "env-token-13"
    assert f.run(parameters={"token": "given-14"}).result[raw].result == "given-14"


def test_a_secret_from_the_file_is_masked_in_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named_file(monkeypatch, tmp_path, 'token = "file-secret-in-journal-15"\n')
    f, raw = one_secret_flow(Secret("token"))
    assert f.run().result[raw].result == "file-secret-in-journal-15"
    journal = "".join(p.read_text() for p in (tmp_path / "journal").glob("*.jsonl"))
    assert f'"token":"{MASK}"' in journal
    assert "file-secret-in-journal-15" not in journal


# -- definition -----------------------------------------------------------------------------


def test_a_secret_is_required_unless_it_has_a_default_or_says_otherwise() -> None:
    assert Secret("a").required is True
    assert Secret("b", default="d-value-16").required is False
    assert Secret("c", required=False).required is False
    with pytest.raises(ValueError, match="required and also has a default"):
        Secret("d", default="d-value-17", required=True)


def test_each_value_of_a_structured_secret_is_masked_when_it_slips_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = '[db]\nuser = "etl"\npassword = "nested-pw-18"\npin = 908172\nssl = true\n'
    named_file(monkeypatch, tmp_path, content)
    with Flow("s") as f:
        creds = P.unwrap(Secret("db"))
        leaked = P.fails.map([creds["password"]])
    state = f.run()
    assert state.result[creds].result["password"] == "nested-pw-18"
    (child,) = state.result[leaked].map_states
    assert child.message == f"Task 'fails' raised ValueError: task fails on {MASK}"
    assert redact("pin 908172") == f"pin {MASK}"
    assert redact("user etl, ssl True") == "user etl, ssl True"  # short values, bools, names
