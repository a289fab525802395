"""Connecting to a Dask scheduler: every way it can go wrong, said in one paragraph.

Design note
-----------
``distributed.Client(address)`` fails in ways that do not say what to do: an address without
a port or with an unknown scheme raises a ValueError deep in the comm layer, a ``tls://``
address without TLS settings a TypeError about an ``ssl_context``; and a Client whose start
failed with anything but an OSError is left half started, so that its ``__del__`` waits 60 s
to close it when the process exits. :func:`connect` checks the address and the security
settings first (:func:`address_problem`), then connects with a Client that closes itself at
once when its start fails (:func:`client_class`), and turns every failure into a
:class:`~headwater.errors.SchedulerConnectionError` that names the address and the fix. The
connect timeout named in messages is Dask's (``distributed.comm.timeouts.connect``) unless
``timeout=`` is given. ``distributed`` is imported only when connecting.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from headwater.errors import SchedulerConnectionError

logger = logging.getLogger("headwater.executors")

TLS_FIX = (
    "give the CA file, certificate and key: DaskExecutor(client_kwargs={'security': "
    "Security(tls_ca_file=..., tls_client_cert=..., tls_client_key=..., "
    "require_encryption=True)}), on the command line --tls-ca-file, --tls-cert and --tls-key, "
    "or Dask's config (distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
    ".key; on the command line --dask-config FILE)"
)
"""How to give TLS settings, for messages."""


def address_problem(address: str, security: Any) -> str | None:
    """Why ``address`` cannot be connected to with ``security``, or None when it can be tried.

    Args:
        address: a scheduler address (``tcp://host:8786``; no scheme means ``tcp://``).
        security: the ``distributed.Security`` the client would use.
    """
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    example = "'tcp://scheduler-host:8786'"
    try:
        scheme, location = parse_address(address, strict=False)
        registry.get_backend(scheme)
    except ValueError as exc:
        return (
            f"The Dask scheduler address {address!r} is not one Dask can use ({exc}); give "
            f"the address the scheduler prints, such as {example} (or tls://... with TLS)."
        )
    if scheme in ("tcp", "tls"):
        try:
            parse_host_port(location)
        except ValueError as exc:
            return (
                f"The Dask scheduler address {address!r} has no usable port ({exc}); give "
                f"the address the scheduler prints, such as {example} (8786 is the "
                "scheduler's default port)."
            )
    if not hasattr(security, "get_connection_args"):  # security=True: made by Dask
        return None
    try:
        args = security.get_connection_args("client")
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        return f"The TLS settings for {address!r} cannot be used ({exc}); {TLS_FIX}."
    if scheme == "tls" and args.get("ssl_context") is None:
        return (
            f"The Dask scheduler at {address!r} uses TLS, but no TLS settings were given; "
            f"{TLS_FIX}."
        )
    if scheme != "tls" and args.get("require_encryption"):
        return (
            f"The Dask scheduler address {address!r} is not encrypted, but the security "
            "settings require encryption; use the scheduler's tls:// address."
        )
    return None


@functools.cache
def client_class() -> type:
    """``distributed.Client``, but one that closes itself at once when its start fails (a
    half-started Client would make the process wait 60 s when it exits)."""
    import distributed

    class ClosingClient(distributed.Client):
        def start(self, **kwargs: Any) -> None:
            try:
                super().start(**kwargs)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.close(timeout=5)
                raise

    ClosingClient.__name__ = ClosingClient.__qualname__ = "Client"
    return ClosingClient


def connect(address: str, client_kwargs: Mapping[str, Any]) -> Any:
    """A Client connected to the scheduler at ``address``.

    Args:
        address: the scheduler's address.
        client_kwargs: keyword arguments for ``distributed.Client`` (``security=``,
            ``timeout=``...).

    Raises:
        SchedulerConnectionError: with one paragraph naming the address and the fix, for
            every way the connection can fail.
    """
    import dask
    import distributed

    kwargs = dict(client_kwargs)
    kwargs.setdefault("set_as_default", False)
    security = kwargs.get("security") or distributed.Security()
    problem = address_problem(address, security)
    if problem is not None:
        raise SchedulerConnectionError(problem)
    timeout = kwargs.get("timeout") or dask.config.get("distributed.comm.timeouts.connect")
    try:
        return client_class()(address, **kwargs)
    except (OSError, TimeoutError) as exc:
        raise SchedulerConnectionError(
            f"Could not connect to the Dask scheduler at {address!r} within {timeout} "
            f"({type(exc).__name__}: {exc}); check the address, that the scheduler runs, "
            "and, for a tls:// address, the TLS settings "
            "(DaskExecutor(client_kwargs={'security': ...}); on the command line "
            "--tls-ca-file, --tls-cert, --tls-key)."
        ) from exc
    except Exception as exc:
        raise SchedulerConnectionError(
            f"Could not connect to the Dask scheduler at {address!r} "
            f"({type(exc).__name__}: {exc}); check the address (such as "
            "'tcp://scheduler-host:8786') and the security settings."
        ) from exc


T = TypeVar("T")


def close_opened(opened: tuple[Any, Any]) -> None:
    """Close a (client, cluster or None) pair, ignoring errors (what :func:`started_apart`
    closes when Ctrl-C came while it was made)."""
    client, cluster = opened
    with contextlib.suppress(Exception):
        client.close()
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close()


def started_apart(start: Callable[[], T], close: Callable[[T], None]) -> T:
    """Return ``start()``, run in a thread of its own so that Ctrl-C cannot cut it short.

    Ctrl-C (KeyboardInterrupt) in the calling thread while ``start`` runs would leave a
    cluster half started and out of reach (distributed cancels the start, and a cluster that
    never finished starting ignores ``close``). Instead the start runs to its end apart, and
    what it made is closed with ``close``; then the KeyboardInterrupt is raised here, to end
    the run as Cancelled like Ctrl-C during a run. A second Ctrl-C stops waiting for that
    (the thread still closes what it made when it is done).

    Args:
        start: makes what is to be closed later (a client, a cluster).
        close: closes what ``start`` made.

    Raises:
        KeyboardInterrupt: Ctrl-C while ``start`` ran.
    """
    lock = threading.Lock()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            made = start()
        except BaseException as exc:
            outcome["error"] = exc
            done.set()
            return
        with lock:
            outcome["made"] = made
            abandoned = outcome.get("abandoned", False)
        if abandoned:  # Ctrl-C came while it started: nobody else will close it
            close(made)
        done.set()

    thread = threading.Thread(target=run, name="headwater-dask-start", daemon=True)
    thread.start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        with lock:
            outcome["abandoned"] = True
            made_already = "made" in outcome
        logger.warning(
            "Interrupted while the Dask cluster or client starts: closing it once it is up "
            "(Ctrl-C again to stop waiting)"
        )
        if made_already:
            close(outcome["made"])
        else:
            with contextlib.suppress(KeyboardInterrupt):
                while not done.wait(0.5):
                    pass
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["made"]


__all__ = [
    "TLS_FIX",
    "address_problem",
    "client_class",
    "close_opened",
    "connect",
    "started_apart",
]
