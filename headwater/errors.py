"""The exception tree of headwater.

Every error headwater raises on purpose derives from :class:`HeadwaterError`, and also from a
builtin exception where one fits, so ``except ValueError`` keeps working::

    HeadwaterError
    ├── FlowValidationError (ValueError)     a flow's definition has problems
    ├── FlowDefinitionError (ValueError)     a task was called or bound wrongly in a flow body
    ├── ParameterError (ValueError)          flow parameters refused before anything runs
    ├── FlowRunError (RuntimeError)          ``my_flow(...)`` when the flow run failed
    ├── SerializationError (TypeError)       a serializer cannot handle a value
    ├── ScheduleError (ValueError)           a schedule or its parts refused, or no event found
    ├── ListenerError (ValueError)           a listener refused, or it cannot listen (port taken)
    ├── JournalError (LookupError)           a run is not in the run journal, or is unreadable
    ├── ResumeError (ValueError)             a journaled run cannot be resumed (still going,
    │                                        another flow, the flow changed...)
    ├── GraphvizNotFoundError (RuntimeError) drawing needs the Graphviz `dot` program
    ├── SchedulerConnectionError (ConnectionError) a Dask scheduler cannot be reached
    ├── WorkerLostError (RuntimeError)       the worker process running a task died
    └── ResultError                          reading or writing a Result failed
        ├── ResultLocationError (ValueError) a rendered location is unsafe or incomplete
        ├── ResultIntegrityError             a stored payload is tampered with or truncated
        │   ├── ResultUnverifiedError        unsigned, or not signed with our key: not read
        │   └── ResultIdentityError          whole and signed, but written for another
        │                                    location or another task run
        ├── SigningKeyError                  no usable signing key (key file unsafe, unwritable)
        └── ResultStorageError (OSError)     the storage backend failed

This module imports nothing of headwater's, so every layer may use it. Errors carry their
context as attributes and survive pickling: they travel back from Dask workers.
"""

from __future__ import annotations

from typing import Any


class HeadwaterError(Exception):
    """Base class of every error headwater raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep subclass attributes across pickling: rebuild from args, then restore __dict__.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[HeadwaterError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class FlowValidationError(HeadwaterError, ValueError):
    """A flow's definition has one or more problems; ``problems`` lists them all."""

    def __init__(self, flow_name: str, problems: list[str]) -> None:
        self.flow_name = flow_name
        self.problems = list(problems)
        n = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Flow {flow_name!r} has {n} problem{'s' if n != 1 else ''}:\n{lines}")


class FlowDefinitionError(HeadwaterError, ValueError):
    """A task was called, bound or used wrongly while a flow was being defined."""


class ParameterError(HeadwaterError, ValueError):
    """Flow parameters were refused before anything ran."""


class FlowRunError(HeadwaterError, RuntimeError):
    """Calling a flow returned no value because the flow run did not succeed."""

    def __init__(self, message: str, state: Any = None) -> None:
        super().__init__(message)
        self.state = state


class SerializationError(HeadwaterError, TypeError):
    """A serializer cannot handle a value (or bytes)."""


class ScheduleError(HeadwaterError, ValueError):
    """A schedule, clock, filter or adjustment was refused, or a schedule found no event."""


class ListenerError(HeadwaterError, ValueError):
    """A listener was refused (a bad URL, no token), or it cannot listen (a port is taken,
    another listener of the same flow already watches the same folder)."""


class JournalError(HeadwaterError, LookupError):
    """A run is not in the run journal (or is ambiguous), or a journal file is unreadable."""


class ResumeError(HeadwaterError, ValueError):
    """A journaled run cannot be resumed: it was journaled without what a resume needs, it
    is a run of another flow or still going, or the flow's task graph changed since."""


class GraphvizNotFoundError(HeadwaterError, RuntimeError):
    """Drawing a flow needs the Graphviz ``dot`` program, which is not installed."""


class ResultError(HeadwaterError):
    """Reading, writing or checking a Result failed."""


class ResultLocationError(ResultError, ValueError):
    """A Result location is unsafe (it leaves the Result's root) or cannot be rendered."""


class ResultIntegrityError(ResultError):
    """A stored result failed its integrity check (tampered with or truncated)."""


class ResultUnverifiedError(ResultIntegrityError):
    """A stored result is unsigned or not signed with the key in force, and reading it would
    run code (unpickling), so it is refused unread; ``trust_unverified`` opts in."""


class ResultIdentityError(ResultIntegrityError):
    """A stored result is whole and verified, but was written for another location, or by
    another task run than the one asking (a checkpoint of another run, a copied file)."""


class SigningKeyError(ResultError):
    """No signing key can be used: the key file is unsafe or cannot be made, or the run's key
    did not reach this process."""


class ResultStorageError(ResultError, OSError):
    """The storage behind a Result failed (endpoint down, permission denied, bucket missing)."""


class SchedulerConnectionError(HeadwaterError, ConnectionError):
    """A Dask scheduler could not be reached (nothing was started)."""


class WorkerLostError(HeadwaterError, RuntimeError):
    """The worker process running a task died under it (killed, out of memory, ``os._exit``).

    LocalDaskExecutor("processes") hands it back as the value of the task it was running;
    the flow runner then runs the task again while it has retries, else ends it Crashed.
    """
