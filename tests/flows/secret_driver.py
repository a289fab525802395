"""A driver to be killed: runs a flow with a Secret parameter on LocalDaskExecutor("processes")
whose task waits for a file. ``python -m tests.flows.secret_driver SECRET STARTED RELEASE``."""

from __future__ import annotations

import sys

from headwater import Flow, Secret
from headwater.executors import LocalDaskExecutor
from tests.flows import reliability as R


def main(secret: str, started: str, release: str) -> None:
    with Flow("holds a secret") as f:
        token = Secret("token")
        R.hold_secret(token, started, release)
    f.run(parameters={"token": secret}, executor=LocalDaskExecutor("processes", num_workers=1))


if __name__ == "__main__":
    main(*sys.argv[1:4])
