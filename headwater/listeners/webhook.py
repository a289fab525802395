"""WebhookListener: run a flow once for each HTTP POST of a JSON object of parameters.

Design note
-----------
A small HTTP server from the standard library (``http.server.ThreadingHTTPServer``: one thread
per connection, no new dependency) on ``host:port``, loopback by default. A request is answered
only once its fate is known, and a refused request never starts a run:

====  ======================================================================================
202   accepted: a run has started; the body gives its ``run_id`` (``headwater runs show ID``)
200   a duplicate: a request with the same ``Idempotency-Key`` header already ran (or runs)
400   the body is not JSON, or not a JSON object
401   no ``Authorization: Bearer <token>`` header, or the wrong token
404   a path other than ``/``
405   a method other than POST
411   no ``Content-Length`` (chunked bodies are not read)
413   a body over ``max_body_bytes`` (the body is not read)
422   the flow refused the parameters (unknown, missing or ill-typed), with its reasons
503   no run slot freed within ``queue_timeout`` seconds, or the listener is stopping;
      ``Retry-After`` says when to try again
====  ======================================================================================

Every answer is a JSON object with ``status`` and ``message``. The token is compared in
constant time; it comes from ``token=``, else ``$HEADWATER_WEBHOOK_TOKEN``, and only
``token=False`` turns authentication off. Connections time out after ``read_timeout``
seconds, so a slow client cannot hold a thread forever. Log lines name a request by where it
came from, never by its body; only a refusal's reasons, like any ParameterError's, may quote
the value refused.

**Exactly once.** A client that did not hear the answer and sends its request again starts a
second run, unless both carry the same ``Idempotency-Key`` header: such keys are remembered
beside the run journal (for this port) and a repeat is answered 200, without a run.
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import os
import socket
import threading
from typing import Any, Literal
from urllib.parse import urlsplit

from headwater.errors import ListenerError
from headwater.listeners.base import Admission, Event, EventSink, Listener

__all__ = ["TOKEN_ENV", "WebhookListener"]

logger = logging.getLogger("headwater.listeners")

TOKEN_ENV = "HEADWATER_WEBHOOK_TOKEN"
"""The environment variable a WebhookListener reads its token from when none is given."""

MAX_KEY_LENGTH = 200
"""The longest ``Idempotency-Key`` header accepted."""

DRAIN_BYTES = 1 << 20
"""How much of an unread body is read and dropped after an early answer (401, 413...), so the
client hears the answer instead of a connection reset."""

_ANSWERS: dict[str, int] = {
    "accepted": 202,
    "duplicate": 200,
    "refused": 422,
    "busy": 503,
    "stopped": 503,
}


class WebhookListener(Listener):
    """Run the flow once for each authorized HTTP POST of a JSON object of parameters.

    ``curl -X POST -H "Authorization: Bearer $TOKEN" -d '{"n": 3}' http://127.0.0.1:8080/``
    starts a run with ``n=3``; the module's note lists every answer.

    Args:
        host: the address to listen on (loopback by default; ``0.0.0.0`` for every one).
        port: the port; 0 picks a free one (read :attr:`port` once the loop has started).
        token: the bearer token requests must carry; None reads ``$HEADWATER_WEBHOOK_TOKEN``;
            False accepts requests without one (only on a network you trust).
        max_body_bytes: the largest request body read; a larger one is answered 413.
        queue_timeout: how long a request waits for a free run slot before it is answered
            503, in seconds.
        read_timeout: how long a connection may take to send its request, in seconds.

    Raises:
        ListenerError: no token (and authentication not turned off), or an argument refused.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | Literal[False] | None = None,
        *,
        max_body_bytes: int = 65_536,
        queue_timeout: float = 30.0,
        read_timeout: float = 10.0,
    ) -> None:
        problems = []
        if not isinstance(host, str) or not host:
            problems.append(f"host must be an address such as '127.0.0.1', got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            problems.append(f"port must be an int from 0 to 65535, got {port!r}")
        for name, value in (("queue_timeout", queue_timeout), ("read_timeout", read_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                problems.append(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            problems.append(f"max_body_bytes must be an int, got {max_body_bytes!r}")
        elif max_body_bytes < 2:
            problems.append(f"max_body_bytes must be at least 2, got {max_body_bytes}")
        if token is None:
            token = os.environ.get(TOKEN_ENV, "").strip() or None
        if token is None or (token is not False and (not isinstance(token, str) or not token)):
            problems.append(
                f"a token is required: WebhookListener(token='...') or ${TOKEN_ENV}, then send "
                f"'Authorization: Bearer <token>'; token=False accepts unauthenticated requests "
                f"(only on a network you trust)"
            )
        if problems:
            raise ListenerError(f"WebhookListener refused: {'; '.join(problems)}")
        self.host = host
        self.port = port
        self._fixed_port = port != 0
        self.max_body_bytes = max_body_bytes
        self.queue_timeout = float(queue_timeout)
        self.read_timeout = float(read_timeout)
        self._token: str | None = token or None
        self._server: _Server | None = None
        self._sink: EventSink | None = None
        self.listening = threading.Event()
        """Set while requests are served (tests and callers may wait for it)."""

    @property
    def source(self) -> str | None:
        """``webhook <host>:<port>``: Idempotency-Keys are remembered per address (not for
        port 0, a new address each time: there they are remembered while the loop runs)."""
        return f"webhook {self.host}:{self.port}" if self._fixed_port else None

    @property
    def url(self) -> str:
        """The URL to POST to."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def open(self) -> None:
        """Bind the port (port 0 becomes the port bound).

        Raises:
            ListenerError: the address cannot be bound (in use, not this machine's).
        """
        try:
            server = _Server((self.host, self.port), _Handler)
        except OSError as exc:
            raise ListenerError(
                f"WebhookListener cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; "
                f"choose another port (port=0 picks a free one)"
            ) from exc
        server.listener = self
        self._server = server
        self.port = int(server.server_address[1])
        if self._token is None:
            logger.warning(
                "WebhookListener on %s accepts requests without a token (token=False).", self.url
            )

    def listen(self, sink: EventSink, stop: threading.Event) -> None:
        """Serve requests until ``stop`` is set."""
        server = self._server
        if server is None:
            raise ListenerError("WebhookListener.listen() before open(): the port is not bound")
        self._sink = sink
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name="headwater-webhook",
        )
        thread.start()
        self.listening.set()
        logger.info("Listening for webhook requests on %s", self.url)
        try:
            stop.wait()
        finally:
            self.listening.clear()
            server.shutdown()
            thread.join()

    def close(self) -> None:
        """Close the port."""
        if self._server is not None:
            self._server.server_close()
            self._server = None

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the token (always, without a token).

        Args:
            header: the header's value, or None when absent.
        """
        if self._token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self._token.encode())

    def offer(self, parameters: dict[str, Any], key: str | None, client: str) -> Admission:
        """Hand one request's parameters to the loop (what a POST does once it is read).

        Args:
            parameters: the request's JSON object.
            key: its Idempotency-Key header, if any.
            client: the client's address, for the event's label.
        """
        sink = self._sink
        if sink is None:
            return Admission("stopped", "the listener is not serving requests")
        event = Event(
            parameters, key=f"webhook:{key}" if key else None, label=f"POST from {client}"
        )
        return sink.put(event, timeout=self.queue_timeout)

    def __repr__(self) -> str:
        auth = "token=False" if self._token is None else "token=***"
        return f"WebhookListener(host={self.host!r}, port={self.port}, {auth})"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    listener: WebhookListener


class _Handler(http.server.BaseHTTPRequestHandler):
    """One request (see the module's note for the answers)."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "headwater-webhook"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.listener.read_timeout)
        self.body_read = False

    def do_POST(self) -> None:
        listener = self.server.listener
        if urlsplit(self.path).path != "/":
            return self.answer(404, "error", f"no such path {self.path!r}; POST to /")
        if not listener.authorized(self.headers.get("Authorization")):
            return self.answer(
                401,
                "error",
                "an 'Authorization: Bearer <token>' header with the listener's token is required",
                {"WWW-Authenticate": 'Bearer realm="headwater"'},
            )
        body = self.read_body(listener.max_body_bytes)
        if body is None:
            return None
        try:
            parameters = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return self.answer(400, "error", f"the body is not valid JSON: {exc}")
        if not isinstance(parameters, dict):
            return self.answer(
                400,
                "error",
                f'the body must be a JSON object of parameters such as {{"n": 3}}, '
                f"got a JSON {type(parameters).__name__}",
            )
        key = self.headers.get("Idempotency-Key")
        if key is not None and (not key.strip() or len(key) > MAX_KEY_LENGTH):
            return self.answer(
                400,
                "error",
                f"the Idempotency-Key header must have 1 to {MAX_KEY_LENGTH} characters",
            )
        admission = listener.offer(parameters, key.strip() if key else None, self.client_address[0])
        extra = {"Retry-After": "5"} if _ANSWERS[admission.status] == 503 else {}
        body_extra = {"run_id": admission.run_id} if admission.run_id else {}
        return self.answer(
            _ANSWERS[admission.status], admission.status, admission.message, extra, body_extra
        )

    def read_body(self, limit: int) -> bytes | None:
        """The request's body, or None once the request was answered 411/400/413."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.answer(411, "error", "send the body with a Content-Length, not chunked")
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            self.answer(411, "error", "a Content-Length header is required")
            return None
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            self.answer(400, "error", f"bad Content-Length {raw!r}")
            return None
        if length > limit:
            self.answer(413, "error", f"the body has {length} bytes; at most {limit} are read")
            return None
        self.body_read = True
        return self.rfile.read(length)

    def refuse_method(self) -> None:
        self.answer(
            405, "error", f"{self.command} is not served; POST a JSON object", {"Allow": "POST"}
        )

    do_GET = do_PUT = do_DELETE = do_PATCH = refuse_method

    def answer(
        self,
        code: int,
        status: str,
        message: str,
        headers: dict[str, str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """Send a JSON answer and close the connection."""
        payload = json.dumps({"status": status, "message": message, **(fields or {})}).encode()
        self.close_connection = True
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        if not self.body_read:
            self.drain()

    def drain(self) -> None:
        """Answered before the body was read: half-close, then drop what the client still
        sends (up to DRAIN_BYTES, one second), because closing a socket with unread data
        resets the connection and the client may lose the answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            dropped = 0
            while dropped < DRAIN_BYTES:
                chunk = self.connection.recv(65_536)
                if not chunk:
                    break
                dropped += len(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("webhook %s: " + format, self.client_address[0], *args)
