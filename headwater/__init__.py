"""headwater: flows of Python tasks on Dask, with the semantics of Prefect Core 1.

>>> from headwater import Flow, task
>>> @task
... def add(x, y):
...     return x + y
>>> with Flow("sum") as f:
...     total = add(1, 2)
>>> f.run().result[total].result
3
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater import schedules
from headwater.errors import (
    FlowDefinitionError,
    FlowRunError,
    FlowValidationError,
    HeadwaterError,
    ParameterError,
)
from headwater.model import signals, states, triggers
from headwater.model.apply_map import apply_map
from headwater.model.context import context, get_logger
from headwater.model.control import (
    all_conditions,
    any_condition,
    case,
    conditional,
    filter_results,
    ifelse,
    merge,
    switch,
)
from headwater.model.flow import Edge, Flow
from headwater.model.function_flow import flow
from headwater.model.parameter import Parameter
from headwater.model.resources import resource_manager
from headwater.model.retries import exponential_backoff
from headwater.model.secrets import Secret, SecretValue
from headwater.model.states import Resume
from headwater.model.task import Task, flatten, task, unmapped
from headwater.runtime.logs import configure_logging

if TYPE_CHECKING:
    from headwater.runtime.bench import bench

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # bench loads the engine's runner and the viz only when used: import headwater stays light
    if name == "bench":
        from headwater.runtime.bench import bench

        globals()["bench"] = bench
        return bench
    raise AttributeError(f"module 'headwater' has no attribute {name!r}")


__all__ = [
    "Edge",
    "Flow",
    "FlowDefinitionError",
    "FlowRunError",
    "FlowValidationError",
    "HeadwaterError",
    "Parameter",
    "ParameterError",
    "Resume",
    "Secret",
    "SecretValue",
    "Task",
    "__version__",
    "all_conditions",
    "any_condition",
    "apply_map",
    "bench",
    "case",
    "conditional",
    "configure_logging",
    "context",
    "exponential_backoff",
    "filter_results",
    "flatten",
    "flow",
    "get_logger",
    "ifelse",
    "merge",
    "resource_manager",
    "schedules",
    "signals",
    "states",
    "switch",
    "task",
    "triggers",
    "unmapped",
]
