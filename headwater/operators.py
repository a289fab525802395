"""Public home of the operator tasks (implemented in :mod:`headwater.model.operators`):
what ``x + 1``, ``x > y``, ``x & y``, ``x.is_equal(y)`` or ``x.not_()`` on a task makes, as
Prefect 1's ``prefect.tasks.core.operators``."""

from __future__ import annotations

from headwater.model.operators import *  # noqa: F403
from headwater.model.operators import __all__ as __all__  # noqa: F401
