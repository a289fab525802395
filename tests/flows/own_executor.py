"""A flow that names its own executor (``Flow(executor=...)``, as in Prefect Core 1), for
``flow.run()`` and ``headwater run``: its task reports where it ran."""

from __future__ import annotations

import os
import threading

from headwater import Flow, Parameter, task
from headwater.executors import LocalDaskExecutor


@task
def where(out: str = "") -> tuple[int, str]:
    """Return this process's id and this thread's name; append them to ``out`` if given."""
    here = (os.getpid(), threading.current_thread().name)
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"{here[0]} {here[1]}\n")
    return here


with Flow("threaded", executor=LocalDaskExecutor("threads", num_workers=2)) as threaded:
    where(Parameter("out", default=""))
