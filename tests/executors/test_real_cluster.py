"""DaskExecutor against real clusters: a `dask scheduler` and two `dask worker` processes on
127.0.0.1 (one killed with SIGKILL mid-run), and a TLS cluster with certificates made here.

Processes start in their own session with PR_SET_PDEATHSIG (they die with the test run),
on free ports, with bounded waits, and are always stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster
from distributed.security import Security

from headwater import Flow, unmapped
from headwater.executors import DaskExecutor
from headwater.results import LocalResult
from tests.flows import executor_flows as E
from tests.support.cluster import cluster, process, worker_args


@pytest.fixture
def real_cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler and two single-thread workers (no nanny: a killed worker stays dead)."""
    with cluster(tmp_path, [], []) as started:
        yield started


def test_a_worker_killed_mid_run_does_not_lose_the_run(
    real_cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    address, workers = real_cluster
    with Flow("survivor") as f:
        ys = E.slow_inc.map(list(range(40)), unmapped(0.1))
        zs = E.inc.map(ys)
        t = E.total(zs)
    with Client(address, set_as_default=False) as client:
        executor = DaskExecutor(client=client)

        def kill_one_when_busy() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                processing = client.processing()
                if sum(len(v) for v in processing.values()) >= 2:
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # some finished on the victim: their results are lost too
            os.kill(workers[1].pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_one_when_busy)
        killer.start()
        try:
            state = f.run(executor=executor)
        finally:
            killer.join()
        assert workers[1].wait(timeout=10) == -signal.SIGKILL
    assert state.is_successful(), state.result
    assert state.result[t].result == sum(range(2, 42))
    assert [s.result for s in state.result[zs].map_states] == list(range(2, 42))


def written(folder: Path) -> list[Path]:
    """The result files under ``folder`` (not the temporary files of writes under way)."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_a_checkpoint_lost_with_its_worker_is_read_back_not_run_again(tmp_path: Path) -> None:
    """Checkpointed children finish on the 'victim' worker, which is killed while a
    downstream task still needs their results: Dask computes them again on a new worker,
    and each reads back the checkpoint it wrote instead of calling the function twice."""
    calls, release = tmp_path / "calls.txt", tmp_path / "release"
    victim = ["--resources", "victim=1"]
    with cluster(tmp_path, victim, ["--resources", "keeper=1"]) as (address, workers):
        with Flow("read-back", result=LocalResult(dir=str(tmp_path / "results"))) as f:
            xs = E.counted_square.map(list(range(4)), unmapped(str(calls)))
            gate = E.wait_for_file(str(release))
            t = E.total(xs, upstream_tasks=[gate])
        with Client(address, set_as_default=False) as client:
            outcome: dict[str, Any] = {}

            def run() -> None:
                outcome["state"] = f.run(executor=DaskExecutor(client=client))

            runner = threading.Thread(target=run)
            runner.start()
            try:
                deadline = time.monotonic() + 60
                # a child notes its call before its checkpoint is written: wait for both
                while (
                    len(E.calls_in(calls)) < 4 or len(written(tmp_path / "results")) < 4
                ) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert len(E.calls_in(calls)) == 4, "the mapped children did not run"
                assert len(written(tmp_path / "results")) == 4, "no checkpoint for each child"
                os.kill(workers[0].pid, signal.SIGKILL)
                assert workers[0].wait(timeout=10) == -signal.SIGKILL
                with process(worker_args(address, *victim), tmp_path / "worker-new.log"):
                    release.touch()
                    runner.join(timeout=120)
                    assert not runner.is_alive(), "the flow did not finish"
            finally:
                release.touch()
                runner.join(timeout=120)
    state = outcome["state"]
    assert state.is_successful(), state.result
    assert state.result[t].result == sum(x * x for x in range(4))
    assert sorted(E.calls_in(calls)) == ["0", "1", "2", "3"], "a checkpointed child ran twice"
    children = state.result[xs].map_states
    assert all("written earlier by this task run" in c.message for c in children), children


# -- TLS ------------------------------------------------------------------------------------


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA, and a certificate for 127.0.0.1 / localhost signed by it."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = _dt.datetime.now(_dt.UTC)

    def build(subject: str, issuer: Any, key: Any, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "headwater test CA")])
    ca_cert = build("headwater test CA", ca_name, ca_key, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("127.0.0.1", ca_name, key, ca_key, ca=False)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def test_tls_through_client_kwargs(tmp_path: Path) -> None:
    ca, cert, key = (str(p) for p in make_certificates(tmp_path))
    security = Security(
        tls_ca_file=ca,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        require_encryption=True,
    )
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tls://",
        host="127.0.0.1",
        security=security,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with Flow("tls") as f:
            t = E.total(E.inc.map(list(range(5))))
        executor = DaskExecutor(address=address, client_kwargs={"security": security})
        state = f.run(executor=executor)
        assert state.is_successful(), state.result
        assert state.result[t].result == 15
