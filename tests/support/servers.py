"""Launchers for real storage servers on loopback: moto (S3) and gcp-storage-emulator (GCS).

Design note
-----------
Tests talk to real HTTP servers, never to mocks. Each server is a subprocess:

* on a free loopback port (bind port 0, then let the server take it; if another process
  takes the port in between, the server fails to start and we retry on a new port);
* in its own session (``start_new_session=True``), so stopping it stops its children, and
  with ``PR_SET_PDEATHSIG`` (Linux, through ctypes in ``preexec_fn``) so it dies with the
  test run even when pytest is killed;
* ready when a bounded loop sees its readiness URL answer; its output goes to a log file
  whose tail is quoted when it fails to start;
* stopped with SIGTERM to its process group, then SIGKILL.

Clients need their environment before they exist (botocore reads credentials once, gcsfs
reads ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` when imported, Dask workers copy the
environment when they start). So the environment is separate from the servers:
:func:`client_environment` returns it and :func:`environment` applies it for a while. An
executor test starts the servers, enters :func:`environment`, then starts Dask workers::

    with start_moto() as s3, start_gcs_emulator() as gcs, environment(client_environment()):
        s3.create_bucket("bucket"); gcs.create_bucket("bucket")
        cluster = LocalCluster(...)   # workers inherit the credentials

The servers need no credentials. Helpers create buckets with plain HTTP, so this module
imports no client library.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
READY_TIMEOUT = 30.0
"""Seconds a server may take to answer its readiness URL."""
START_ATTEMPTS = 3
"""Ports tried before giving up (another process may take a free port before the server)."""

_PR_SET_PDEATHSIG = 1


def client_environment() -> dict[str, str]:
    """Return the environment clients need to talk to these servers.

    AWS test credentials (moto accepts any), a region that needs no LocationConstraint, and
    gcsfs without its experimental gRPC probe (which stalls against the emulator).
    """
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }


ENV_REMOVED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
"""Variables :func:`environment` removes: a profile would override the test credentials."""


@contextmanager
def environment(env: Mapping[str, str], remove: tuple[str, ...] = ENV_REMOVED) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` (and remove ``remove``) for the block, then restore.

    Args:
        env: variables to set.
        remove: variables to unset.
    """
    saved = {key: os.environ.get(key) for key in (*env, *remove)}
    os.environ.update(env)
    for key in remove:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class ServerProcess:
    """A server running as a subprocess; a context manager that stops it on exit.

    Attributes:
        name: what it is, for messages ("moto", "gcs-emulator").
        url: its base URL, e.g. ``http://127.0.0.1:40123``.
        process: the subprocess.
        log_path: the file its output goes to.
    """

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _create_bucket: Callable[[str, str], None] = field(repr=False)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def create_bucket(self, bucket: str) -> None:
        """Create a bucket (over plain HTTP; the server needs no credentials).

        Args:
            bucket: the bucket's name.
        """
        self._create_bucket(self.url, bucket)

    def is_running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM to its process group, then SIGKILL. Idempotent.

        Args:
            timeout: seconds to wait after SIGTERM before SIGKILL.
        """
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout)
        else:
            _signal_group(self.process, signal.SIGKILL)  # children it may have left

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of its output.

        Args:
            lines: how many lines.
        """
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_moto(
    host: str = HOST, timeout: float = READY_TIMEOUT, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """Start moto's standalone S3 server (the console script of this virtualenv).

    Args:
        host: the address to listen on.
        timeout: seconds to wait for it to answer.
        env: extra environment for the server, e.g. ``{"INITIAL_NO_AUTH_ACTION_COUNT": "0"}``
            to make it check credentials and permissions.

    Raises:
        RuntimeError: when it does not start on any of a few free ports.
    """
    script = Path(sys.executable).with_name("moto_server")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    return _start(
        "moto",
        lambda port: [*base, "-H", host, "-p", str(port)],
        host,
        "/moto-api/data.json",
        _create_s3_bucket,
        timeout,
        env,
    )


def start_gcs_emulator(host: str = HOST, timeout: float = READY_TIMEOUT) -> ServerProcess:
    """Start gcp-storage-emulator, in memory, through the fixing launcher (gcs_emulator.py).

    Args:
        host: the address to listen on.
        timeout: seconds to wait for it to answer.

    Raises:
        RuntimeError: when it does not start on any of a few free ports.
    """
    launcher = Path(__file__).with_name("gcs_emulator.py")
    return _start(
        "gcs-emulator",
        lambda port: [
            sys.executable,
            str(launcher),
            "start",
            "--host",
            host,
            "--port",
            str(port),
            "--in-memory",
            "--quiet",
        ],
        host,
        "/storage/v1/b",
        _create_gcs_bucket,
        timeout,
        None,
    )


def reset_moto(url: str) -> None:
    """Forget every bucket and object moto holds.

    Args:
        url: the server's base URL.
    """
    _request("POST", f"{url}/moto-api/reset")


def _start(
    name: str,
    command: Callable[[int], list[str]],
    host: str,
    ready_path: str,
    create_bucket: Callable[[str, str], None],
    timeout: float,
    env: Mapping[str, str] | None,
) -> ServerProcess:
    problems: list[str] = []
    for _ in range(START_ATTEMPTS):
        port = free_port(host)
        log = Path(tempfile.mkstemp(prefix=f"headwater-{name}-", suffix=".log")[1])
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command(port),
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        server = ServerProcess(name, f"http://{host}:{port}", proc, log, create_bucket)
        if _wait_ready(server, ready_path, timeout):
            return server
        server.stop()
        problems.append(f"port {port}: {server.log_tail(5) or 'no output'}")
    raise RuntimeError(
        f"{name} did not start after {START_ATTEMPTS} attempts; its output:\n" + "\n".join(problems)
    )


def free_port(host: str = HOST) -> int:
    """Return a port that was free a moment ago (the OS picks it).

    Args:
        host: the address to bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_ready(server: ServerProcess, path: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.is_running():
            return False
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as resp:
                # 200 from our own process: not another server that holds the port
                if resp.status == 200 and server.is_running():
                    return True
        except OSError:  # refused, reset, or an HTTP error status
            pass
        time.sleep(0.05)
    return False


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to SIGKILL the child when the parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)  # its own session: the group id is its pid
    except (ProcessLookupError, PermissionError):
        pass


def _request(method: str, url: str, body: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/json"} if body else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise RuntimeError(f"{method} {url} answered {exc.code}: {detail}") from exc


def _create_s3_bucket(url: str, bucket: str) -> None:
    _request("PUT", f"{url}/{bucket}")


def _create_gcs_bucket(url: str, bucket: str) -> None:
    body = json.dumps({"name": bucket}).encode()
    _request("POST", f"{url}/storage/v1/b?project=test", body)
