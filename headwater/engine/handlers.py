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

The other handlers of Prefect 1 take the same path (:func:`call_handler`): ``on_failure`` /
``on_success`` callbacks (``fn(obj, state)``, made state handlers by :func:`callback`, called
when the state entered is failed / successful) and a flow's ``terminal_state_handler``
(``handler(flow, state, reference_task_states)``, :func:`call_terminal_state_handler`),
called once with the flow run's final state before its state handlers; a State it returns
replaces the final state, anything else but None fails the run naming it.
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
    for handler in handlers:
        replaced = call_handler(
            handler,
            (owner, old, new),
            what=what,
            during=f"on {type(old).__name__} -> {type(new).__name__}",
            fields=fields,
        )
        if isinstance(replaced, State):
            new = replaced
    return new


def call_handler(
    handler: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    what: str,
    during: str,
    kind: str = "State handler",
    fields: Mapping[str, Any] | None = None,
) -> Any:
    """Call one handler of a task or flow and return what it returned.

    Args:
        handler: the handler.
        args: its arguments.
        what: its owner for messages, e.g. ``"flow 'etl'"``.
        during: when it was called, for messages, e.g. ``"on Running -> Success"``.
        kind: what the handler is, for messages.
        fields: fields for the state a failing handler ends in.

    Raises:
        ENDRUN: with a Failed state naming the handler when it raised an exception, or the
            state a signal it raised asks for.
    """
    extra = dict(fields or {})
    try:
        return handler(*args)
    except (signals.RETRY, signals.LOOP) as sig:
        why = f"; a {kind.lower()} cannot ask for another run, raise it in the task's function"
        raise signals.ENDRUN(_failed(handler, sig, kind, what, during + why, extra)) from sig
    except signals.HeadwaterSignal as sig:
        raise signals.ENDRUN(sig.to_state(**extra)) from sig
    except Exception as exc:
        raise signals.ENDRUN(_failed(handler, exc, kind, what, during, extra)) from exc


def _failed(
    handler: Callable[..., Any],
    exc: BaseException,
    kind: str,
    what: str,
    during: str,
    fields: Mapping[str, Any],
) -> Failed:
    """The Failed state of a run whose handler raised ``exc``."""
    name = getattr(handler, "__name__", repr(handler))
    return Failed(
        f"{kind} {name!r} of {what} raised {type(exc).__name__}: {exc} ({during})",
        exception=exc,
        traceback="".join(_traceback.format_exception(type(exc), exc, exc.__traceback__)),
        **fields,
    )


def callback(fn: Callable[[Any, State], Any], when: Callable[[State], bool]) -> StateHandler:
    """A state handler calling ``fn(obj, new_state)`` when ``when(new_state)`` (what Prefect 1's
    ``on_failure`` / ``on_success`` are); it never replaces the state.

    Args:
        fn: the callback.
        when: which states it is called for, e.g. ``State.is_failed``.
    """

    def handler(owner: Any, old: State, new: State) -> None:
        if when(new):
            fn(owner, new)

    handler.__name__ = getattr(fn, "__name__", repr(fn))
    return handler


def call_terminal_state_handler(
    flow: Any,
    handler: Callable[[Any, State, set[State]], Any],
    state: State,
    reference_states: set[State],
) -> State:
    """Call a flow's ``terminal_state_handler`` with its run's final state; return the state
    the run ends in (the handler's State, or ``state`` when it returned None).

    Args:
        flow: the flow.
        handler: ``handler(flow, state, reference_task_states)``.
        state: the final state, as the reference tasks decide it.
        reference_states: the reference tasks' states (a mapped task's children's).

    Raises:
        ENDRUN: with a Failed state naming the handler when it raised or returned something
            that is neither a State nor None (or the state a signal it raised asks for).
    """
    what = f"flow {getattr(flow, 'name', flow)!r}"
    kind = "Terminal state handler"
    replaced = call_handler(
        handler,
        (flow, state, reference_states),
        what=what,
        during=f"with the final state {type(state).__name__}",
        kind=kind,
    )
    if replaced is None:
        return state
    if not isinstance(replaced, State):
        name = getattr(handler, "__name__", repr(handler))
        raise signals.ENDRUN(
            Failed(
                f"{kind} {name!r} of {what} returned {replaced!r}, which is not a State; "
                "return a State to replace the final state, or None to keep it."
            )
        )
    return replaced


__all__ = [
    "StateHandler",
    "call_handler",
    "call_state_handlers",
    "call_terminal_state_handler",
    "callback",
]
