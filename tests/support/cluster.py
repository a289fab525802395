"""Real Dask clusters for tests: a `dask scheduler` and `dask worker` processes on 127.0.0.1.

Processes start in their own session with PR_SET_PDEATHSIG (they die with the test run), on
free ports, with bounded waits, and are always stopped (SIGTERM to the group, then SIGKILL).
Workers run without a nanny by default, so a killed worker stays dead.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
"""Where the virtualenv's `dask` program is."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (another process may still take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` in its own session, output to ``log``; stop it (and its group) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def wait_for_workers(client: Any, n: int, timeout: float = 60) -> None:
    """Wait until ``n`` workers have joined the client's scheduler, at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while len(client.scheduler_info()["workers"]) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n} workers did not join within {timeout} s")
        time.sleep(0.1)


def worker_args(address: str, *extra: str) -> list[str]:
    """A single-thread `dask worker` without a nanny, with ``extra`` arguments."""
    return [
        str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
        "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "30", *extra,
    ]  # fmt: skip


def tls_files(folder: Path) -> dict[str, Path]:
    """A self-signed certificate and its key, made now (``Security.temporary``), written to
    ``folder`` as ``ca``, ``cert`` and ``key`` PEM files (the certificate is its own CA)."""
    from distributed import Security

    made = Security.temporary()
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    files["ca"].write_text(made.tls_ca_file)
    files["cert"].write_text(made.tls_client_cert)
    files["key"].write_text(made.tls_client_key)
    return files


def _tls_args(tls: dict[str, Path] | None) -> list[str]:
    if tls is None:
        return []
    return [
        "--tls-ca-file", str(tls["ca"]), "--tls-cert", str(tls["cert"]),
        "--tls-key", str(tls["key"]),
    ]  # fmt: skip


@contextmanager
def cluster(
    folder: Path, *workers: list[str], tls: dict[str, Path] | None = None
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A `dask scheduler` on a free port and one worker per entry of ``workers`` (extra
    worker arguments each); yields the address and the worker processes once all joined.
    With ``tls`` (:func:`tls_files`) every connection is TLS. Logs go to ``folder``."""
    from distributed import Client, Security

    scheme = "tls" if tls else "tcp"
    security = None
    if tls is not None:
        security = Security(
            tls_ca_file=str(tls["ca"]),
            tls_client_cert=str(tls["cert"]),
            tls_client_key=str(tls["key"]),
            require_encryption=True,
        )
    for _attempt in range(3):
        port = free_port()
        address = f"{scheme}://127.0.0.1:{port}"
        scheduler_args = [
            str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
            "--dashboard-address", "127.0.0.1:0", "--no-show", "--protocol", scheme,
            *_tls_args(tls),
        ]  # fmt: skip
        with process(scheduler_args, folder / "scheduler.log") as scheduler, ExitStack() as stack:
            procs = [
                stack.enter_context(
                    process(
                        worker_args(address, *_tls_args(tls), *extra), folder / f"worker-{i}.log"
                    )
                )
                for i, extra in enumerate(workers)
            ]
            try:
                with Client(
                    address, timeout=30, set_as_default=False, security=security
                ) as client:
                    wait_for_workers(client, len(workers))
            except OSError:
                if scheduler.poll() is not None:
                    continue  # the port was taken in between: another one
                raise
            yield address, procs
            return
    raise RuntimeError("could not start a scheduler on a free port")


@contextmanager
def fragile_cluster(n_workers: int = 2, **kwargs: Any) -> Iterator[Any]:
    """A Client on a LocalCluster of single-thread worker processes on 127.0.0.1 where a
    task whose worker dies is given up at once (``allowed-failures`` 0: Dask's KilledWorker
    on the first loss); the cluster is closed on exit. ``kwargs`` go to LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    options: dict[str, Any] = {
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0",
        "silence_logs": logging.CRITICAL,
        **kwargs,
    }
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(n_workers=n_workers, **options) as local,
        Client(local, set_as_default=False) as client,
    ):
        yield client
