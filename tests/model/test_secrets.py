"""Secrets never show: not in logs, reprs, state messages, the journal or the HTML."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest

from headwater import Flow, task
from headwater.model.secrets import MASK, Secret, SecretValue, redact
from headwater.model.states import Failed, Mapped, Success
from headwater.runtime.redaction import redact_state
from headwater.viz.html import flow_html, run_html, state_html
from headwater.viz.timeline import timeline
from tests.flows import observed, secret_flows


@pytest.fixture(autouse=True)
def journal_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "journal"
    monkeypatch.setenv("HEADWATER_JOURNAL_DIR", str(folder))
    monkeypatch.delenv("HEADWATER_JOURNAL", raising=False)
    return folder


def test_a_secret_value_shows_as_the_mask_everywhere_but_get() -> None:
    value = SecretValue("a-raw-secret-1")
    for shown in (
        repr(value),
        str(value),
        f"{value}",
        f"{value!r}",
        "%s" % value,  # noqa: UP031  (what logging does)
        [value].__repr__(),
    ):
        assert "a-raw-secret-1" not in shown and "********" in shown
    assert value.get() == "a-raw-secret-1"
    assert SecretValue(value).get() == "a-raw-secret-1"  # wrapping twice keeps the raw value
    assert pickle.loads(pickle.dumps(value)) == value


def test_a_secret_parameter_wraps_given_values_and_defaults() -> None:
    with Flow("s") as f:
        token = Secret("token", default="default-secret-9")
    state = f.run()
    assert isinstance(state.result[token].result, SecretValue)
    assert state.result[token].result.get() == "default-secret-9"
    assert "default-secret-9" not in repr(token.default)
    state = f.run(parameters={"token": "given-secret-9"})
    assert state.result[token].result.get() == "given-secret-9"
    assert repr(token) == "<Secret: token>"


def test_a_required_secret_with_a_default_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="required and also has a default") as err:
        Secret("token", default="refused-secret-7", required=True)
    assert "refused-secret-7" not in str(err.value)


def test_redact_masks_every_known_value_longest_first() -> None:
    SecretValue("abcd-1234")
    SecretValue("abcd-1234-efgh")
    assert redact("x abcd-1234-efgh y abcd-1234 z") == f"x {MASK} y {MASK} z"
    SecretValue("ab")  # too short to search for: masking every "ab" would hide everything
    assert redact("about") == "about"


def test_redact_state_masks_messages_and_tracebacks_of_tasks_and_children() -> None:
    SecretValue("child-secret-5")
    child = Failed("failed with child-secret-5", traceback="...child-secret-5...", map_index=0)
    mapped = Mapped("ok", map_states=[Success("fine", map_index=1), child])
    flow_state = Success("done", result={observed.ys: mapped})
    clean = redact_state(flow_state)
    inner = clean.result[observed.ys]
    assert inner.map_states[1].message == f"failed with {MASK}"
    assert inner.map_states[1].traceback == f"...{MASK}..."
    assert inner.map_states[0] is mapped.map_states[0]
    plain = Success("nothing to hide")
    assert redact_state(plain) is plain


def test_running_a_flow_with_a_secret_leaks_it_nowhere(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], journal_dir: Path
) -> None:
    secret = observed.SECRET
    with caplog.at_level(logging.DEBUG):
        state = observed.etl.run(parameters={"n": 4, "fail_at": 2, "token": secret})
    assert state.is_failed()
    transform = state.result[observed.ys]
    failed = transform.map_states[2]
    assert failed.is_failed() and MASK in (failed.message or "")
    # the task really had the raw value: its exception object is its own and keeps it
    assert secret in str(failed.exception)

    outputs = {
        "logs": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "stdout/stderr": "".join(capsys.readouterr()),
        "state reprs": repr(state) + repr(state.result) + repr(transform.map_states),
        "messages": "\n".join(
            f"{s.message}\n{s.traceback}"
            for s in [state, *state.result.values(), *transform.map_states]
        ),
        "journal": "\n".join(p.read_text() for p in journal_dir.glob("*.jsonl")),
        "state HTML": state_html(state),
        "task HTML": state_html(failed),
        "flow HTML": flow_html(observed.etl),
        "timeline": str(timeline(state)),
    }
    from headwater.runtime import journal

    (record,) = journal.list_runs()
    outputs["run HTML"] = run_html(journal.load_run(record.run_id))
    assert "transforming 1 with token ********" in outputs["logs"]
    assert "about to fail with ********" in outputs["logs"]
    assert '"token":"********"' in outputs["journal"]
    for where, text in outputs.items():
        assert text or where == "stdout/stderr", where
        assert secret not in text, f"the secret leaked into {where}"


def test_a_secret_unwrapped_and_passed_on_is_still_masked_in_messages() -> None:
    @task
    def unwrap(token: SecretValue) -> str:
        return token.get()

    @task
    def use(raw: str) -> None:
        raise RuntimeError(f"cannot use {raw}")

    with Flow("unwrapped") as f:
        use(unwrap(Secret("token", default="passed-on-secret-3")))
    state = f.run()
    (use_task,) = f.get_tasks("use")
    assert state.result[use_task].message == f"Task 'use' raised RuntimeError: cannot use {MASK}"


def _forms_of(secret: str) -> dict[str, str]:
    return {
        "raw": secret,
        "repr": repr(secret)[1:-1],
        "JSON": json.dumps(secret)[1:-1],
        "JSON (not ASCII)": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON of the repr": json.dumps(repr(secret))[1:-1],
    }


def test_a_secret_in_a_repr_or_json_escaped_is_masked_too(
    executor: Any, caplog: pytest.LogCaptureFixture, journal_dir: Path
) -> None:
    secret = secret_flows.QUOTED_SECRET
    with caplog.at_level(logging.WARNING):
        state = secret_flows.escaped_leaks.run(parameters={"token": secret}, executor=executor)
    states = [state, *state.result.values()]
    mapped = [s for s in states if isinstance(s, Mapped)]
    states += [c for m in mapped for c in m.map_states]
    failed = [s for s in states[1:] if s.is_failed()]
    assert len(failed) == 4, states  # two tasks and two children, each failed
    for s in failed:
        assert s.message.endswith(("ValueError: '********'", '"token": "********"}')), s.message
    outputs = {
        "messages": "\n".join(f"{s.message}\n{s.traceback}" for s in states),
        "journal": "\n".join(p.read_text(encoding="utf-8") for p in journal_dir.glob("*.jsonl")),
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    assert MASK in outputs["journal"] and "payload" in outputs["logs"]
    for where, text in outputs.items():
        for form, shown in _forms_of(secret).items():
            assert shown not in text, f"the secret's {form} form leaked into {where}"
