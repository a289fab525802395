"""Listeners (PIN-14): run a flow once for each event that arrives, each event with the
parameters of one run.

Design note
-----------
The reasons are in docs/notices/0014-listeners.md; each module's design note covers its part:

- :mod:`~headwater.listeners.base` — Event, Admission, EventSink, the Listener base class;
- :mod:`~headwater.listeners.folder` — FolderListener (new files in a folder, through fsspec);
- :mod:`~headwater.listeners.webhook` — WebhookListener (an HTTP POST of parameters);
- :mod:`~headwater.listeners.python` — QueueListener, IterableListener (events made in Python).

The loop that runs the flow for each event is the runtime's (``headwater.runtime.listening``),
reached through ``flow.run(listen=...)``, ``Schedule(..., listeners=[...])`` with
``flow.run(run_on_schedule=True)``, or ``headwater run --listen-folder/--listen-webhook``.
The names below load on first use: ``import headwater.listeners`` loads neither fsspec nor
http.server until a listener that needs them is made.

>>> from headwater.listeners import IterableListener
>>> IterableListener([{"n": 1}, {"n": 2}])
IterableListener(<list>)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.errors import ListenerError
    from headwater.listeners.base import Admission, Event, EventSink, Listener
    from headwater.listeners.folder import FolderListener
    from headwater.listeners.python import END, IterableListener, QueueListener
    from headwater.listeners.webhook import WebhookListener

__all__ = [
    "END",
    "Admission",
    "Event",
    "EventSink",
    "FolderListener",
    "IterableListener",
    "Listener",
    "ListenerError",
    "QueueListener",
    "WebhookListener",
]

_HOMES = {
    "END": "headwater.listeners.python",
    "Admission": "headwater.listeners.base",
    "Event": "headwater.listeners.base",
    "EventSink": "headwater.listeners.base",
    "FolderListener": "headwater.listeners.folder",
    "IterableListener": "headwater.listeners.python",
    "Listener": "headwater.listeners.base",
    "ListenerError": "headwater.errors",
    "QueueListener": "headwater.listeners.python",
    "WebhookListener": "headwater.listeners.webhook",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
