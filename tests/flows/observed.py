"""Flows for the observability tests (logging, journal, pictures, HTML, CLI, secrets).

``etl`` maps over ``extract(n)`` and one child fails when ``fail_at`` is one of its inputs;
``token`` is a Secret that every child logs, prints and (when failing) puts in its error.
``typed`` is a ``@flow`` with annotated parameters, for the command line's coercion.
"""

from __future__ import annotations

from headwater import Flow, Parameter, flow, get_logger, task, unmapped
from headwater.model.secrets import Secret

SECRET = "s3cr3t-Tok3n-for-tests"
"""The token the tests run ``etl`` with; it must never appear in any output."""


@task
def extract(n: int) -> list[int]:
    """Return ``range(n)`` as a list."""
    return list(range(n))


@task(log_stdout=True)
def transform(x: int, token: object, fail_at: int) -> int:
    """Multiply by ten; fail at ``fail_at``, putting the raw token in the error."""
    log = get_logger()
    log.info("transforming %s with token %s", x, token)
    print(f"printing the token: {token}")
    if x == fail_at:
        raw = token.get()  # type: ignore[attr-defined]
        log.warning("about to fail with %s", raw)
        raise ValueError(f"login with {raw} failed for {x}")
    return x * 10


@task
def load(ys: list[int]) -> int:
    """Sum the results."""
    return sum(ys)


with Flow("etl") as etl:
    n = Parameter("n", default=3, annotation=int)
    fail_at = Parameter("fail_at", default=-1)
    token = Secret("token", default="not-the-real-token")
    xs = extract(n)
    ys = transform.map(xs, token=unmapped(token), fail_at=unmapped(fail_at))
    total = load(ys)


@task
def total_of(xs: list[int], scale: float) -> float:
    """Sum and scale."""
    return sum(xs) * scale


@flow(name="typed")
def typed(xs: list[int], scale: float = 1.0, label: str = "x") -> float:
    """Annotated parameters, for the command line."""
    return total_of(xs, scale)


@task
def speak(x: int) -> int:
    """Log at INFO and WARNING, naming the process (to tell a worker from the driver)."""
    import os

    log = get_logger()
    log.info("speaking %s in pid %s", x, os.getpid())
    log.warning("warning %s in pid %s", x, os.getpid())
    return x


with Flow("chatty") as chatty:
    speak.map([0, 1])
