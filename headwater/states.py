"""Public home of headwater's states (implemented in :mod:`headwater.model.states`)."""

from __future__ import annotations

from headwater.model.states import *  # noqa: F403
from headwater.model.states import __all__ as __all__  # noqa: F401
