"""Public home of headwater's states (implemented in :mod:`headwater.core.states`)."""

from __future__ import annotations

from headwater.core.states import *  # noqa: F403
from headwater.core.states import __all__ as __all__  # noqa: F401
