"""Public home of headwater's triggers (implemented in :mod:`headwater.model.triggers`)."""

from __future__ import annotations

from headwater.model.triggers import *  # noqa: F403
from headwater.model.triggers import __all__ as __all__  # noqa: F401
