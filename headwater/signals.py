"""Public home of headwater's signals (implemented in :mod:`headwater.model.signals`)."""

from __future__ import annotations

from headwater.model.signals import *  # noqa: F403
from headwater.model.signals import __all__ as __all__  # noqa: F401
