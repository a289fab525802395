"""Public home of the run journal: every run's record, read back with :func:`list_runs` and
:func:`load_run` (implemented in :mod:`headwater.runtime.journal`)."""

from __future__ import annotations

from headwater.runtime.journal import *  # noqa: F403
from headwater.runtime.journal import __all__ as __all__  # noqa: F401
