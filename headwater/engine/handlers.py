"""State handlers: one code path for a task's and a flow's, as Prefect 1's
``call_state_handlers``.

Design note
-----------
A state handler is ``handler(obj, old_state, new_state)``, called on each transition of the
task or flow ``obj`` it belongs to; when it returns a State, that State replaces
``new_state`` for the handlers after it and for the run. A handler that raises never escapes
the run (docs/notices/0003-runner-pipeline.md): :func:`call_state_handlers` raises
``ENDRUN`` with the state the run ends in instead:

- an exception: a Failed state naming the handler, the exception and the transition;
- a signal (``FAIL``, ``SKIP``, ``SUCCESS``, ``PAUSE``, ``ENDRUN``...): the state the signal
  asks for;
- ``RETRY`` or ``LOOP``: a Failed state naming the handler, as an exception's. They ask for
  another run, which only the task's own function can ask for (the runner's retry and loop
  steps act on what the function raises); ending there would leave a Retrying or Looped
  state that nothing runs again.

The task runner lets that ``ENDRUN`` end its pipeline like any step's; the flow runner turns
it into the flow run's final state, keeping the task states it has.
"""

from __future__ import annotations

import traceback as _traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from headwater.model import signals
from headwater.model.states import Failed, State

StateHandler = Callable[[Any, State, State], Any]
"""``handler(task_or_flow, old_state, new_state) -> State | None``."""


def call_state_handlers(
    owner: Any,
    handlers: Iterable[StateHandler],
    old: State,
    new: State,
    *,
    what: str,
    fields: Mapping[str, Any] | None = None,
) -> State:
    """Call each handler on the transition ``old -> new``; return the State it ends in.

    Args:
        owner: the task or flow passed to each handler.
        handlers: the handlers, in order.
        old: the state left.
        new: the state entered (a handler's returned State replaces it).
        what: the owner for messages, e.g. ``"task 'load'"``.
        fields: fields for the state a failing handler ends in (``run_count``, ``map_index``).

    Raises:
        ENDRUN: with the state the run ends in when a handler raised (see the module's note).
    """
    extra = dict(fields or {})
    for handler in handlers:
        try:
            replaced = handler(owner, old, new)
        except (signals.RETRY, signals.LOOP) as sig:
            why = "a state handler cannot ask for another run; raise it in the task's function"
            raise signals.ENDRUN(_failed(handler, sig, what, old, new, why, extra)) from sig
        except signals.HeadwaterSignal as sig:
            raise signals.ENDRUN(sig.to_state(**extra)) from sig
        except Exception as exc:
            raise signals.ENDRUN(_failed(handler, exc, what, old, new, "", extra)) from exc
        if isinstance(replaced, State):
            new = replaced
    return new


def _failed(
    handler: StateHandler,
    exc: BaseException,
    what: str,
    old: State,
    new: State,
    why: str,
    fields: Mapping[str, Any],
) -> Failed:
    """The Failed state of a run whose handler raised ``exc``."""
    name = getattr(handler, "__name__", repr(handler))
    because = f"; {why}" if why else ""
    return Failed(
        f"State handler {name!r} of {what} raised {type(exc).__name__}: {exc} "
        f"(on {type(old).__name__} -> {type(new).__name__}){because}",
        exception=exc,
        traceback="".join(_traceback.format_exception(type(exc), exc, exc.__traceback__)),
        **fields,
    )


__all__ = ["StateHandler", "call_state_handlers"]
