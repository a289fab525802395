"""Public home of headwater's triggers (implemented in :mod:`headwater.core.triggers`)."""

from __future__ import annotations

from headwater.core.triggers import *  # noqa: F403
from headwater.core.triggers import __all__ as __all__  # noqa: F401
