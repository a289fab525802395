"""A small ETL flow: parameters, a map, retries, a branch, and the states it ends in.

Run it with ``python examples/demo.py``.
"""

from __future__ import annotations

import random
from datetime import timedelta

from headwater import Flow, Parameter, case, merge, task


@task
def extract(n: int) -> list[int]:
    """Pretend to fetch ``n`` records."""
    return list(range(1, n + 1))


@task(max_retries=3, retry_delay=timedelta(milliseconds=10))
def transform(x: int) -> int:
    """Square a record; fails now and then, and is retried."""
    if random.random() < 0.2:
        raise ConnectionError("flaky upstream service")
    return x * x


@task
def load(ys: list[int]) -> int:
    """Pretend to store the records; return how much was stored."""
    return sum(ys)


@task
def size(total: int) -> str:
    return "big" if total > 100 else "small"


@task
def report(label: str, total: int) -> str:
    return f"{label} load: {total}"


with Flow("demo-etl") as demo:
    n = Parameter("n", default=5)
    total = load(transform.map(extract(n)))
    label = size(total)
    with case(label, "big"):
        big = report("BIG", total)
    with case(label, "small"):
        small = report("small", total)
    message = merge(big, small)


if __name__ == "__main__":
    state = demo.run(parameters={"n": 7})
    print(f"flow: {type(state).__name__} - {state.message}")
    for t in demo.sorted_tasks():
        s = state.result[t]
        print(f"  {t.name:<28} {type(s).__name__:<10} {s.message or ''}")
    print(state.result[message].result)
    raise SystemExit(0 if state.is_successful() else 1)
