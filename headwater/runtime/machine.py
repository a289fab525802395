"""What a measurement depends on: this machine, its load, and a process's peak memory.

Design note
-----------
Shared by ``headwater bench`` (:mod:`headwater.runtime.bench`) and the project's own suite
(``benchmarks/suite.py``), so both report memory and machine facts the same way.

Peak memory is Linux's ``VmHWM`` (the peak resident set) from ``/proc/self/status``, not
``ru_maxrss``: on Linux a process started from a large one inherits the parent's figure
through fork and exec. :func:`reset_peak_memory` writes ``5`` to ``/proc/self/clear_refs``,
which sets ``VmHWM`` back to the current resident set (Linux 4.0 and later), so the peak of
one stretch of work can be measured inside a long-lived process (a benchmark driver, a Dask
worker). Where ``/proc`` is missing, the figures are None: a benchmark says "unknown" rather
than guessing.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"


def _status_mib(field: str) -> float | None:
    try:
        with open(STATUS, encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_memory_mib() -> float | None:
    """This process's peak resident memory in MiB (``VmHWM``), since it started or since the
    last :func:`reset_peak_memory`; None where the system does not say (not Linux)."""
    return _status_mib("VmHWM")


def resident_memory_mib() -> float | None:
    """This process's resident memory now in MiB (``VmRSS``); None where unknown."""
    return _status_mib("VmRSS")


def reset_peak_memory() -> bool:
    """Set this process's peak memory back to its current resident memory.

    Returns:
        Whether it worked (False where ``/proc/self/clear_refs`` is missing or refused).
    """
    try:
        with open(CLEAR_REFS, "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, rounded; None where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def version_of(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed.

    >>> version_of("no-such-package-here") is None
    True
    """
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict[str, Any]:
    """What numbers measured here depend on: date, host, CPUs, load, Python and the versions
    of headwater, dask and distributed (JSON-safe)."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "cpus": os.cpu_count(),
        "load": load_average(),
        "versions": {
            name: version_of(name) for name in ("headwater", "dask", "distributed", "cloudpickle")
        },
    }


__all__ = [
    "load_average",
    "machine_facts",
    "peak_memory_mib",
    "reset_peak_memory",
    "resident_memory_mib",
    "version_of",
]
