"""Resource managers: set something up before a block of tasks and clean it up after them,
even when they fail (Prefect 1's ``resource_manager``).

Design note
-----------
``@resource_manager`` turns a class with ``setup()`` (optional) and ``cleanup(resource)`` into
a :class:`ResourceManager`. Calling it inside a flow adds three tasks: *init* (makes the
class's instance from the arguments, which may be tasks), *setup* (calls ``setup()``; its
result is what ``with ... as resource`` gives the block) and *cleanup* (calls
``cleanup(resource)``). Leaving the ``with`` block wires the tasks created inside it:

- a block task with no upstream task in the block waits for *setup* (so a failed setup makes
  the block TriggerFailed, and a skipped one skips it, through the ordinary triggers);
- a block task with no downstream task in the block is waited for by *cleanup*.

*cleanup* runs once every task it waits for has finished, whatever their states (its trigger
is ``all_finished``), unless *init* or *setup* did not succeed: then there is nothing to clean
up and it is Skipped, saying which. Init and cleanup are ``auxiliary`` tasks: they never
decide the flow's state by default, and a block task whose only downstream task is a cleanup
still counts as terminal, so a failure inside the block fails the flow.

The manager instance and the resource travel from task to task like any result: on
LocalDaskExecutor("processes") and DaskExecutor they are pickled between workers, so a
resource that cannot leave its process (an open connection) needs LocalExecutor or threads,
or a ``setup`` that returns what is needed to reconnect.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from headwater.errors import FlowDefinitionError
from headwater.model import triggers
from headwater.model.builtin_tasks import Constant
from headwater.model.parameter import Parameter
from headwater.model.signals import SKIP
from headwater.model.states import State
from headwater.model.task import Task, active_flow


class ResourceInit(Task):
    """Make the resource manager's instance from the arguments given to it.

    Args:
        resource_class: the decorated class.
        **options: the options of :class:`~headwater.model.task.Task`.
    """

    auxiliary = True

    def __init__(self, resource_class: Callable[..., Any], **options: Any) -> None:
        self.resource_class = resource_class
        super().__init__(**options)

    def run(self, **kwargs: Any) -> Any:
        """Return ``resource_class(**kwargs)``."""
        return self.resource_class(**kwargs)

    def signature(self) -> inspect.Signature:
        """The class's signature (what the manager is called with)."""
        return inspect.signature(self.resource_class)


class ResourceSetup(Task):
    """Call the manager's ``setup()``; its result is the resource the block uses."""

    def run(self, mgr: Any) -> Any:  # type: ignore[override]
        """Return ``mgr.setup()``."""
        return mgr.setup()


class ResourceCleanup(Task):
    """Call the manager's ``cleanup(resource)`` once the block has finished.

    It receives the states of *init* and *setup*, and skips when either did not succeed.
    """

    auxiliary = True
    wants_states = True

    def run(self, mgr: State, resource: State | None = None) -> None:  # type: ignore[override]
        """Call ``cleanup`` with the resource (None without a setup step).

        Raises:
            SKIP: when the manager's init or setup did not succeed.
        """
        for step, state in (("init", mgr), ("setup", resource)):
            if state is None or state.is_successful():
                continue
            why = "skipped" if state.is_skipped() else f"ended {type(state).__name__}"
            raise SKIP(f"Nothing to clean up: the resource manager's {step} {why}.")
        mgr.result.cleanup(resource.result if resource is not None else None)


class ResourceBlock:
    """The ``with`` block of a resource manager: wires the tasks created inside it to its
    setup and cleanup when it ends (see the module's note).

    Args:
        init_task: the task making the manager's instance.
        setup_task: the task calling ``setup()`` (None when the class has none).
        cleanup_task: the task calling ``cleanup(resource)``.
        flow: the flow the tasks are in.
    """

    def __init__(
        self, init_task: Task, setup_task: Task | None, cleanup_task: Task, flow: Any
    ) -> None:
        self.init_task = init_task
        self.setup_task = setup_task
        self.cleanup_task = cleanup_task
        self.flow = flow
        self._before: set[Task] | None = None

    def __enter__(self) -> Task | None:
        if self._before is not None:
            raise FlowDefinitionError(
                f"The block of resource {self.init_task.name!r} is already open; call the "
                "resource manager again for a second block"
            )
        self._before = set(self.flow.tasks)
        return self.setup_task

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        before, self._before = self._before or set(), None
        if exc_type is not None:
            return
        flow, setup, cleanup = self.flow, self.setup_task, self.cleanup_task
        block = [
            t for t in flow.tasks if t not in before and not isinstance(t, Constant | Parameter)
        ]
        inside = set(block)
        for child in block:
            upstream = flow.upstream_tasks(child)
            if setup is not None and setup not in upstream and not inside.intersection(upstream):
                flow.add_edge(setup, child)
            downstream = flow.downstream_tasks(child)
            if cleanup not in downstream and not inside.intersection(downstream):
                flow.add_edge(child, cleanup)


class ResourceManager:
    """A resource's setup and cleanup around a block of tasks (what ``@resource_manager``
    makes); call it inside a flow with the class's arguments and use the result in a
    ``with`` statement.

    Args:
        resource_class: a class (any callable) whose instances have ``cleanup(resource)``
            and, optionally, ``setup()``.
        name: the resource's name (the class name by default); the tasks are called
            ``name``, ``name.setup`` and ``name.cleanup``.
        init_task_kwargs: options of the init task (``max_retries``, ``tags``...).
        setup_task_kwargs: options of the setup task.
        cleanup_task_kwargs: options of the cleanup task.

    Raises:
        TypeError: when the class has no ``cleanup`` method.
    """

    def __init__(
        self,
        resource_class: Callable[..., Any],
        name: str | None = None,
        init_task_kwargs: dict[str, Any] | None = None,
        setup_task_kwargs: dict[str, Any] | None = None,
        cleanup_task_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not callable(getattr(resource_class, "cleanup", None)):
            raise TypeError(
                f"@resource_manager needs a class with a cleanup(self, resource) method; "
                f"{resource_class!r} has none"
            )
        self.resource_class = resource_class
        self.name = name or getattr(resource_class, "__name__", "resource")
        self.__doc__ = resource_class.__doc__
        self.init_task_kwargs = {"name": self.name, "checkpoint": False, **(init_task_kwargs or {})}
        self.setup_task_kwargs = {
            "name": f"{self.name}.setup",
            "checkpoint": False,
            **(setup_task_kwargs or {}),
        }
        self.cleanup_task_kwargs = {
            "name": f"{self.name}.cleanup",
            "checkpoint": False,
            "trigger": triggers.all_finished,
            **(cleanup_task_kwargs or {}),
        }

    def __call__(self, *args: Any, flow: Any = None, **kwargs: Any) -> ResourceBlock:
        """Add the resource's tasks to the flow; ``with`` the result around the tasks that
        use it.

        Args:
            *args: arguments of the class (tasks or plain values).
            flow: the flow to add to (the active flow by default).
            **kwargs: keyword arguments of the class.

        Returns:
            The block; entering it gives the setup task (None without ``setup()``).

        Raises:
            FlowDefinitionError: outside a flow.
        """
        target = flow or active_flow()
        if target is None:
            raise FlowDefinitionError(
                f"Resource {self.name!r} can only be used while defining a flow (inside "
                "`with Flow(...):` or a @flow function), or with flow=..."
            )
        init = ResourceInit(self.resource_class, **self.init_task_kwargs)(
            *args, flow=target, **kwargs
        )
        setup: Task | None = None
        if callable(getattr(self.resource_class, "setup", None)):
            setup = ResourceSetup(**self.setup_task_kwargs)(init, flow=target)
            cleanup = ResourceCleanup(**self.cleanup_task_kwargs)(init, setup, flow=target)
        else:
            cleanup = ResourceCleanup(**self.cleanup_task_kwargs)(init, flow=target)
        return ResourceBlock(init, setup, cleanup, target)

    def __repr__(self) -> str:
        return f"<ResourceManager: {self.name}>"


def resource_manager(
    resource_class: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    init_task_kwargs: dict[str, Any] | None = None,
    setup_task_kwargs: dict[str, Any] | None = None,
    cleanup_task_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Turn a class with ``setup()`` and ``cleanup(resource)`` into a resource manager:
    ``@resource_manager`` or ``@resource_manager(name=...)``.

    Args:
        resource_class: the class (when used bare).
        name: the resource's name (the class name by default).
        init_task_kwargs: options of the task making the instance.
        setup_task_kwargs: options of the setup task.
        cleanup_task_kwargs: options of the cleanup task.

    Returns:
        A :class:`ResourceManager`, or a decorator making one.
    """

    def make(cls: Callable[..., Any]) -> ResourceManager:
        return ResourceManager(cls, name, init_task_kwargs, setup_task_kwargs, cleanup_task_kwargs)

    return make if resource_class is None else make(resource_class)


__all__ = ["ResourceBlock", "ResourceManager", "resource_manager"]
