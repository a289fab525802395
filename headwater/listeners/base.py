"""What every listener shares: the Event, the sink a listener hands events to, and the
Listener base class.

Design note
-----------
A listener is a source of events, and each event holds the parameters of one flow run
(PIN-14, which superseded PIN-8; the reasons are in docs/notices/0014-listeners.md). Listeners
know events, not flows: this package imports nothing of the model, the engine or the runtime.
The runtime's listening loop (``headwater.runtime.listening``) owns the rest: validating each
event's parameters, remembering which events ran, run slots, Ctrl-C.

**Lifecycle.** The loop calls :meth:`Listener.open` in the calling thread (fail fast: bind the
port, check the folder), then :meth:`Listener.listen` on a thread of its own until ``stop`` is
set or the source runs out, then :meth:`Listener.close`. A listener serves one loop at a time.

**Handing over.** ``sink.put(event)`` blocks until a run slot takes the event, ``timeout``
seconds pass, or the loop stops, and returns an :class:`Admission`: ``accepted`` (a run has
started, with its run id), ``duplicate`` (an event with the same key already ran or is
running), ``refused`` (its parameters, with the reason; it will never run as it is), ``busy``
(no slot within the timeout) or ``stopped``. So events are taken only as fast as runs finish,
and a listener acknowledges an event at its source only when it was accepted or a duplicate
(PIN-8's ``ack``): a file not taken is looked at again, a request not taken is answered 503.

**Keys.** An event's ``key`` names it: two events with the same key are one event, run once.
The loop remembers the keys that ran in a file beside the run journal when the listener has
a ``source`` (a folder, a webhook port), so a restarted listener does not run them again;
events without a key always run.
"""

from __future__ import annotations

import datetime as _dt
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

__all__ = ["Admission", "Event", "EventSink", "Listener"]

AdmissionStatus = Literal["accepted", "duplicate", "refused", "busy", "stopped"]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(frozen=True)
class Event:
    """One event: the parameters of one flow run.

    Args:
        parameters: parameter values for the run; they win over the values given to
            ``flow.run()``, which every run of the loop shares.
        key: names the event: events with the same key run once (None: always runs).
        label: what the event is, for log lines and the command line's output (a file's
            URL, ``POST from 10.0.0.7``).
        time: when it happened (now by default); the run's ``scheduled_start_time``.
    """

    parameters: Mapping[str, Any]
    key: str | None = None
    label: str = ""
    time: _dt.datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if not isinstance(self.parameters, Mapping):
            raise TypeError(
                f"Event parameters must be a mapping of parameter names to values, "
                f"got {type(self.parameters).__name__} {self.parameters!r}"
            )
        bad = [k for k in self.parameters if not isinstance(k, str)]
        if bad:
            raise TypeError(f"Event parameter names must be strings, got {bad[0]!r}")
        if self.key is not None and not isinstance(self.key, str):
            raise TypeError(f"Event key must be a string or None, got {self.key!r}")
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))


@dataclass(frozen=True)
class Admission:
    """What became of an event handed to a sink (see the module's note).

    Args:
        status: ``accepted``, ``duplicate``, ``refused``, ``busy`` or ``stopped``.
        message: why, in a sentence (the parameters' problems when refused).
        run_id: the id of the run an accepted event started.
    """

    status: AdmissionStatus
    message: str = ""
    run_id: str | None = None

    @property
    def taken(self) -> bool:
        """Whether the event is dealt with: accepted, or a duplicate of one that was."""
        return self.status in ("accepted", "duplicate")


class EventSink(Protocol):
    """Where a listener puts its events: the listening loop gives one to each listener."""

    def put(self, event: Event, *, timeout: float | None = None) -> Admission:
        """Offer ``event`` to the loop and wait until a run slot takes it.

        Args:
            event: the event.
            timeout: the longest wait for a free run slot, in seconds (None: until the
                loop stops).

        Returns:
            What became of it.
        """
        ...


class Listener(ABC):
    """A source of events, each with the parameters of one flow run; subclass it for a new
    source and implement :meth:`listen`.

    ``parameter_names`` is the set of parameters every event of the listener sets, or None
    when events may set any (a webhook): the loop checks them against the flow before it
    starts. ``source`` names what is listened to (``folder s3://bucket/in``); a listener with
    a source has its events' keys remembered across restarts (see the module's note).
    """

    parameter_names: frozenset[str] | None = None

    @property
    def source(self) -> str | None:
        """What this listener listens to, for the record of events that ran (None: nothing
        is remembered across restarts)."""
        return None

    def open(self) -> None:  # noqa: B027 - optional hook
        """Get ready to listen (bind a port, check a folder); raise ListenerError if it
        cannot. Called in the loop's thread, before any event is taken."""

    @abstractmethod
    def listen(self, sink: EventSink, stop: threading.Event) -> None:
        """Put events into ``sink`` until ``stop`` is set (return soon after) or the source
        has no more events. Runs on a thread of its own.

        Args:
            sink: where events go; ``sink.put`` blocks until a run slot takes the event.
            stop: set when the loop stops.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` took (the port); called once the loop has stopped."""
