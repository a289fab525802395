"""Public home of headwater's signals (implemented in :mod:`headwater.core.signals`)."""

from __future__ import annotations

from headwater.core.signals import *  # noqa: F403
from headwater.core.signals import __all__ as __all__  # noqa: F401
