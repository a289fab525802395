"""PIN-12's environment callbacks: an executor's ``on_start`` and ``on_exit`` around a flow run.

Design note
-----------
Prefect 0.x had them on its Environments (gone in Prefect 1.0, which left no replacement);
headwater puts them on the executor, which is what a run's environment is here. The flow
runner calls them on the driver, the same on every executor
(:meth:`~headwater.engine.flow_runner.FlowRunner.run`):

- ``on_start()`` once the executor has started (a cluster it starts exists, so a callback may
  talk to it) and before any task is submitted;
- ``on_exit()`` once every task has finished (or was cancelled by Ctrl-C), before the executor
  stops; only when ``on_start`` returned, as the two bracket the run like a ``with`` block.

An error in either is never swallowed, and never escapes ``flow.run`` (as with state
handlers, notice 0011): it is logged on ``headwater.flow_runner`` and the flow run ends
Failed, carrying the exception and its traceback:

- ``on_start`` raised: no task runs; every task is Pending ("not run"), so the states can be
  given back as ``task_states`` once the environment is fixed;
- ``on_exit`` raised: every task's state is kept as it ended, and the flow's Failed message
  names the callback, then how the run itself ended.

An error escaping the run itself (not a task's: those are states) still calls ``on_exit``;
if that raises too, its error is logged and added as a note to the escaping one.
"""

from __future__ import annotations

import logging
import traceback as _traceback
from dataclasses import dataclass
from typing import Any

from headwater.model import signals
from headwater.model.states import Failed, State

logger = logging.getLogger("headwater.flow_runner")


@dataclass(frozen=True)
class CallbackFailure:
    """An environment callback that raised.

    Args:
        which: ``"on_start"`` or ``"on_exit"``.
        callback: the callback.
        executor: the executor carrying it.
        error: what it raised.
    """

    which: str
    callback: Any
    executor: Any
    error: BaseException

    def describe(self) -> str:
        """One sentence: which callback of which executor raised what."""
        name = getattr(self.callback, "__qualname__", None) or repr(self.callback)
        return (
            f"the {self.which} callback {name!r} of {self.executor!r} raised "
            f"{type(self.error).__name__}: {self.error}"
        )

    def state(self, outcome: State | None) -> Failed:
        """The flow run's Failed state; ``outcome`` is how the run ended before ``on_exit``."""
        if outcome is None:
            message = f"The flow run's tasks did not run: {self.describe()}."
        else:
            message = (
                f"After the run ended {type(outcome).__name__} ({outcome.message}), "
                f"{self.describe()}."
            )
        err = self.error
        return Failed(
            message,
            exception=err,
            traceback="".join(_traceback.format_exception(type(err), err, err.__traceback__)),
        )


def call_callback(executor: Any, which: str) -> CallbackFailure | None:
    """Call the executor's ``on_start`` or ``on_exit`` (if it has one); say what it raised.

    Args:
        executor: the run's executor.
        which: ``"on_start"`` or ``"on_exit"``.

    Returns:
        None when there is no callback or it returned; else what it raised, logged.
    """
    callback = getattr(executor, which, None)
    if callback is None:
        return None
    try:
        callback()
    except (Exception, signals.HeadwaterSignal) as exc:
        failure = CallbackFailure(which, callback, executor, exc)
        logger.error("Flow run: %s", failure.describe(), exc_info=exc)
        return failure
    return None


def exit_after_error(executor: Any, error: BaseException) -> None:
    """Call ``on_exit`` while ``error`` escapes the run; a failure of it becomes a note on
    ``error`` (and a log record), so neither error hides the other."""
    failure = call_callback(executor, "on_exit")
    if failure is not None:
        error.add_note(f"Then {failure.describe()}")


__all__ = ["CallbackFailure", "call_callback", "exit_after_error"]
