"""LocalDaskExecutor("threads"): its dispatcher runs a node as soon as its own inputs are
computed, whatever else its batch or an earlier batch still runs (notice 0016)."""

from __future__ import annotations

import threading

from headwater.executors import LocalDaskExecutor


def test_a_later_batch_runs_its_ready_nodes_while_an_earlier_node_still_runs() -> None:
    """Batch 2 holds a node reading a running node of batch 1 and a node with no input; the
    second runs (and lets batch 1's node finish) without waiting for the first's input."""
    released = threading.Event()

    def slow() -> str:
        return "released" if released.wait(timeout=20) else "waited 20 s"

    def free() -> str:
        released.set()
        return "free"

    def after(x: str) -> str:
        return f"after {x}"

    ex = LocalDaskExecutor("threads", num_workers=2)
    with ex.start():
        ex.submit({"slow": (slow,)})
        ex.submit({"after": (after, "slow"), "free": (free,)})
        values = ex.gather(["slow", "after", "free"])
    assert values == {"slow": "released", "after": "after released", "free": "free"}


def test_a_chain_of_batches_runs_on_two_threads_without_a_deadlock() -> None:
    """Each link comes in its own batch, submitted before the previous link ran."""
    gate = threading.Event()

    def first() -> int:
        gate.wait(timeout=20)
        return 0

    def inc(x: int) -> int:
        return x + 1

    ex = LocalDaskExecutor("threads", num_workers=2)
    with ex.start():
        ex.submit({"l0": (first,)})
        for i in range(1, 50):
            ex.submit({f"l{i}": (inc, f"l{i - 1}")})
        gate.set()
        assert ex.gather(["l49"]) == {"l49": 49}
