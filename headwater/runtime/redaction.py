"""Redaction: secrets masked in what a flow run hands back.

Design note
-----------
A task may let a secret's raw value slip into an exception message or a traceback
(:mod:`headwater.model.secrets` explains how values are known). Before ``flow.run`` returns,
:class:`RedactionHook` masks every known secret value in the messages and tracebacks of the
flow state, of each task state it holds and of mapped children (:func:`redact_state`). It runs
before the journal hook, so the journal never sees a raw value either. Logs are masked where
they are made (:class:`headwater.model.secrets.RedactingFilter`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.engine.hooks import RunHook
from headwater.model.flow import Flow
from headwater.model.secrets import has_secrets, redact
from headwater.model.states import Mapped, State


class RedactionHook(RunHook):
    """A run hook that returns the flow run's state with secrets masked (:func:`redact_state`)."""

    def on_run_finished(self, *, flow: Flow, state: State, counts: Mapping[str, int]) -> State:
        """Mask secrets in ``state`` and the states it holds."""
        return redact_state(state)


def redact_state(state: State) -> State:
    """Return ``state`` with secrets masked in its message and traceback, and in those of
    the task states it holds (a flow run's ``result``) and of mapped children.

    The same object is returned when nothing needed masking (and at once when no secret
    exists in this process).
    """
    if not has_secrets():
        return state
    return _redact_state(state)


def _redact_state(state: State) -> State:
    changes: dict[str, Any] = {}
    for field in ("message", "traceback"):
        text = getattr(state, field)
        if isinstance(text, str):
            masked = redact(text)
            if masked != text:
                changes[field] = masked
    if isinstance(state, Mapped):
        compact = getattr(state.map_states, "map_exceptional", None)
        if compact is not None:  # a batched map: only children kept whole can hold a secret
            redacted = compact(_redact_state)
            if redacted is not state.map_states:
                changes["map_states"] = redacted
        else:
            children = tuple(_redact_state(c) for c in state.map_states)
            if any(a is not b for a, b in zip(children, state.map_states, strict=True)):
                changes["map_states"] = children
    value = state.result_object.value
    if isinstance(value, dict) and value and all(hasattr(k, "slug") for k in value):
        inner = {k: _redact_state(v) if isinstance(v, State) else v for k, v in value.items()}
        if any(inner[k] is not value[k] for k in value):
            changes["result"] = inner
    return state.with_(**changes) if changes else state


__all__ = ["RedactionHook", "redact_state"]
