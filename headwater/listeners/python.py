"""Listeners for events made in Python: items of a queue, items of an iterable.

Design note
-----------
An item is a mapping of parameters, an :class:`~headwater.listeners.base.Event`, or, with
``parameter="name"``, the value of that one parameter. An item that is none of these is
reported (a warning on the ``headwater.listeners`` logger) and skipped; a bad parameter value
is the loop's to report. These listeners have no ``source``: events made in Python are the
caller's to de-duplicate across restarts, and an Event's key de-duplicates within one loop.

A :class:`QueueListener` ends when it takes :data:`END` from its queue (or when the loop
stops); an item it took but that no run slot took before the loop stopped is put back at the
end of the queue, so nothing taken from the queue is lost. An :class:`IterableListener` ends
when its iterable is exhausted; items not reached when the loop stops are not run, and an
iterator that blocks is only noticed stopping once it yields.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from headwater.listeners.base import Event, EventSink, Listener

__all__ = ["END", "IterableListener", "QueueListener", "as_event"]

logger = logging.getLogger("headwater.listeners")


class _End:
    """The type of :data:`END`."""

    def __repr__(self) -> str:
        return "END"


END = _End()
"""Put it into a :class:`QueueListener`'s queue to end the listener."""


def as_event(item: Any, parameter: str | None, label: str) -> Event | None:
    """Turn an item into an Event, or report it and return None.

    Args:
        item: a mapping of parameters, an Event, or the value of ``parameter``.
        parameter: the one parameter every item is the value of (None: items are mappings).
        label: the event's label (what it came from).
    """
    if isinstance(item, Event):
        return item
    if parameter is not None:
        return Event({parameter: item}, label=label)
    if isinstance(item, Mapping) and all(isinstance(k, str) for k in item):
        return Event(item, label=label)
    shown = repr(item)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    logger.warning(
        "Skipping %s, %s: it is not a dict of parameters; give parameter='name' to pass "
        "each item as the value of one parameter.",
        label,
        shown,
    )
    return None


def _check_parameter(owner: str, parameter: str | None) -> None:
    if parameter is not None and (not isinstance(parameter, str) or not parameter.isidentifier()):
        raise TypeError(f"{owner}: parameter must be a parameter's name or None, got {parameter!r}")


class QueueListener(Listener):
    """Run the flow once for each item put into a queue, until :data:`END` is put.

    Args:
        q: a ``queue.Queue`` (or anything with ``get(timeout=...)`` raising ``queue.Empty``).
        parameter: when given, each item is the value of this parameter; otherwise each item
            is a dict of parameters (or an Event).
    """

    def __init__(self, q: Any, parameter: str | None = None) -> None:
        if not callable(getattr(q, "get", None)) or not callable(getattr(q, "put", None)):
            raise TypeError(f"QueueListener needs a queue (queue.Queue()), got {q!r}")
        _check_parameter("QueueListener", parameter)
        self.queue = q
        self.parameter = parameter
        self.parameter_names = frozenset({parameter}) if parameter else None

    def listen(self, sink: EventSink, stop: threading.Event) -> None:
        """Hand each item to ``sink`` until END or ``stop``."""
        while not stop.is_set():
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is END:
                return
            event = as_event(item, self.parameter, "a queue item")
            if event is None:
                continue
            if sink.put(event).status == "stopped":
                self.queue.put(item)  # not run: give it back rather than lose it
                return

    def __repr__(self) -> str:
        extra = f", parameter={self.parameter!r}" if self.parameter else ""
        return f"QueueListener({self.queue!r}{extra})"


class IterableListener(Listener):
    """Run the flow once for each item of an iterable, then end.

    Args:
        iterable: the items (read lazily, one item per free run slot).
        parameter: when given, each item is the value of this parameter; otherwise each item
            is a dict of parameters (or an Event).
    """

    def __init__(self, iterable: Iterable[Any], parameter: str | None = None) -> None:
        if isinstance(iterable, str | bytes | Mapping) or not isinstance(iterable, Iterable):
            raise TypeError(
                f"IterableListener needs an iterable of items (a list, a generator), got "
                f"{type(iterable).__name__}"
            )
        _check_parameter("IterableListener", parameter)
        self.iterable = iterable
        self.parameter = parameter
        self.parameter_names = frozenset({parameter}) if parameter else None

    def listen(self, sink: EventSink, stop: threading.Event) -> None:
        """Hand each item to ``sink`` until the iterable ends or ``stop``."""
        for number, item in enumerate(self.iterable):
            if stop.is_set():
                return
            event = as_event(item, self.parameter, f"item {number}")
            if event is not None and sink.put(event).status == "stopped":
                return

    def __repr__(self) -> str:
        extra = f", parameter={self.parameter!r}" if self.parameter else ""
        return f"IterableListener(<{type(self.iterable).__name__}>{extra})"
