"""WebhookListener: real HTTP requests to a real server on loopback get the right answers,
and only good ones start runs."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater import journal as journal_module
from headwater.errors import ListenerError
from headwater.listeners import WebhookListener
from headwater.listeners.webhook import TOKEN_ENV
from tests.flows.listening import counted, gated
from tests.support.listening import Background, listening, wait_for

TOKEN = "correct horse battery staple"


def request(
    listener: WebhookListener,
    body: bytes | None = b'{"n": 1}',
    *,
    token: str | None = TOKEN,
    method: str = "POST",
    path: str = "/",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Send one request; return the status, the JSON answer and the headers."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if body is not None and "Transfer-Encoding" not in sent:
        sent.setdefault("Content-Length", str(len(body)))
    connection = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=20)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.endheaders()
        if body is not None:
            connection.send(body)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read()), dict(answer.getheaders())
    finally:
        connection.close()


@pytest.fixture
def served(journal: Path) -> Iterator[tuple[WebhookListener, Background]]:
    """``counted`` listening to a webhook on a free port, until the test ends."""
    listener = WebhookListener(port=0, token=TOKEN)
    with listening(counted, listeners=listener) as loop:
        wait_for(lambda: listener.listening.is_set() or not loop.thread.is_alive())
        yield listener, loop


def test_a_good_request_starts_one_run_with_its_parameters(
    served: tuple[WebhookListener, Background],
) -> None:
    listener, loop = served
    status, answer, _ = request(listener, b'{"n": 7, "label": "from the hook"}')
    assert status == 202 and answer["status"] == "accepted", answer
    (run,) = loop.wait_runs(1)
    assert run.run_id == answer["run_id"] and run.state.is_successful()
    assert dict(run.event.parameters) == {"n": 7, "label": "from the hook"}
    assert run.event.label == "POST from 127.0.0.1"
    assert journal_module.load_run(answer["run_id"]).parameters == {
        "n": 7,
        "label": "from the hook",
    }


@pytest.mark.parametrize(
    ("body", "token", "headers", "status", "message"),
    [
        (b'{"n": 1}', None, {}, 401, "Authorization: Bearer <token>"),
        (b'{"n": 1}', "wrong", {}, 401, "Authorization: Bearer <token>"),
        (b'{"n": 1}', None, {"Authorization": f"Basic {TOKEN}"}, 401, "Bearer"),
        (b'{"n": ', TOKEN, {}, 400, "the body is not valid JSON"),
        (b"\xff\xfe", TOKEN, {}, 400, "the body is not valid JSON"),
        (b"[1, 2]", TOKEN, {}, 400, "must be a JSON object of parameters.*got a JSON list"),
        (b'{"n": 1, "colour": "red"}', TOKEN, {}, 422, "unknown parameter 'colour'"),
        (b'{"n": "many"}', TOKEN, {}, 422, "parameter 'n' got 'many', which is not a valid int"),
        (b'{"label": "no n"}', TOKEN, {}, 422, "parameter 'n' is required"),
        (b"{}" + b" " * 70_000, TOKEN, {}, 413, "the body has 70002 bytes; at most 65536"),
        (None, TOKEN, {}, 411, "a Content-Length header is required"),
        (b"", TOKEN, {"Transfer-Encoding": "chunked"}, 411, "not chunked"),
        (b'{"n": 1}', TOKEN, {"Content-Length": "-3"}, 400, "bad Content-Length"),
    ],
    ids=[
        "no-token",
        "wrong-token",
        "basic-auth",
        "malformed",
        "not-utf8",
        "not-an-object",
        "unknown-parameter",
        "ill-typed",
        "missing",
        "oversized",
        "no-length",
        "chunked",
        "negative-length",
    ],
)
def test_a_bad_request_gets_its_4xx_with_the_reason_and_starts_no_run(
    served: tuple[WebhookListener, Background],
    body: bytes | None,
    token: str | None,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    import re

    listener, loop = served
    got, answer, sent_headers = request(listener, body, token=token, headers=headers)
    assert got == status and re.search(message, answer["message"]), answer
    if status == 401:
        assert sent_headers["WWW-Authenticate"] == 'Bearer realm="headwater"'
    assert request(listener, b'{"n": 2}')[0] == 202  # the listener still serves
    runs = loop.wait_runs(1)
    assert [dict(run.event.parameters) for run in loop.finish()] == [{"n": 2}]
    assert len(runs) == 1


def test_other_methods_and_paths_are_refused(served: tuple[WebhookListener, Background]) -> None:
    listener, loop = served
    status, answer, headers = request(listener, None, method="GET")
    assert (status, headers["Allow"]) == (405, "POST"), answer
    assert request(listener, path="/runs")[0] == 404
    assert loop.finish().runs == ()


def test_an_idempotency_key_runs_once_also_across_a_restart(journal: Path) -> None:
    with socket.socket() as probe:  # a fixed port: keys are remembered per address
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = {"Idempotency-Key": "order-42"}
    for attempt in range(2):
        listener = WebhookListener(port=port, token=TOKEN)
        with listening(counted, listeners=listener) as loop:
            wait_for(listener.listening.is_set)
            status, answer, _ = request(listener, b'{"n": 42}', headers=key)
            if attempt == 0:
                assert status == 202, answer
                loop.wait_runs(1)
                status, answer, _ = request(listener, b'{"n": 42}', headers=key)
            assert (status, answer["status"]) == (200, "duplicate"), answer
            assert (
                request(listener, b'{"n": 43}', headers={"Idempotency-Key": f"other-{attempt}"})[0]
                == 202
            )
            loop.wait_runs(1 if attempt else 2)
            runs = loop.finish()
        ran = [run.event.parameters["n"] for run in runs]
        assert ran == ([42, 43] if attempt == 0 else [43]), ran


def test_a_request_waits_for_a_free_slot_then_gets_503(tmp_path: Path, journal: Path) -> None:
    listener = WebhookListener(port=0, token=TOKEN, queue_timeout=0.3)
    signals = tmp_path / "signals"
    signals.mkdir()
    with listening(gated, listeners=listener, parameters={"signals": str(signals)}) as loop:
        wait_for(listener.listening.is_set)
        assert request(listener, b'{"path": "first"}')[0] == 202
        wait_for((signals / "started-first").exists, what="the first run")
        status, answer, headers = request(listener, b'{"path": "second"}')
        assert (status, answer["status"], headers["Retry-After"]) == (503, "busy", "5"), answer
        assert "no run slot was free within 0.3s" in answer["message"]
        (signals / "release").write_text("")
        loop.wait_runs(1)
        assert request(listener, b'{"path": "third"}')[0] == 202
        runs = loop.wait_runs(2)
        loop.finish()
    assert [run.event.parameters["path"] for run in runs] == ["first", "third"]


def test_a_token_is_required_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, journal: Path
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ListenerError, match=r"a token is required.*token=False accepts"):
        WebhookListener(port=0)
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    from_env = WebhookListener(port=0)
    assert from_env.authorized("Bearer from-the-environment") and not from_env.authorized(None)
    assert "from-the-environment" not in repr(from_env)
    open_hook = WebhookListener(port=0, token=False)
    with listening(counted, listeners=open_hook) as loop:
        wait_for(open_hook.listening.is_set)
        assert request(open_hook, b'{"n": 5}', token=None)[0] == 202
        loop.wait_runs(1)
        loop.finish()


def test_a_port_in_use_is_refused_before_listening(journal: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenerError, match=rf"cannot listen on 127.0.0.1:{port}.*port=0"):
            counted.run(listen=WebhookListener(port=port, token=TOKEN))
