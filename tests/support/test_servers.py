"""The launchers themselves: a taken port is retried, stopping is thorough and idempotent,
the client environment is applied and restored."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from tests.support import servers


def test_a_taken_port_is_retried_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind((servers.HOST, 0))
        taken.listen()
        ports: Iterator[int] = iter([taken.getsockname()[1], servers.free_port()])
        monkeypatch.setattr(servers, "free_port", lambda host=servers.HOST: next(ports))
        with servers.start_moto() as server:
            assert server.port != taken.getsockname()[1]
            server.create_bucket("bucket-one")
    assert not server.is_running()


def test_stop_ends_the_process_group_and_can_be_repeated() -> None:
    server = servers.start_gcs_emulator()
    try:
        server.create_bucket("bucket-two")
    finally:
        server.stop()
    assert server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(server.process.pid, 0)
    server.stop()  # again: nothing to do


def test_a_server_that_cannot_start_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind((servers.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(servers, "START_ATTEMPTS", 1)
        monkeypatch.setattr(servers, "free_port", lambda host=servers.HOST: port)
        with pytest.raises(
            RuntimeError,
            match=rf"(?s)gcs-emulator did not start after 1 attempts.*port {port}: .*in use",
        ):
            servers.start_gcs_emulator()


def test_the_environment_is_applied_then_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    with servers.environment(servers.client_environment()):
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing" and "AWS_PROFILE" not in os.environ
        assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
    assert os.environ["AWS_PROFILE"] == "someone" and "AWS_ACCESS_KEY_ID" not in os.environ
