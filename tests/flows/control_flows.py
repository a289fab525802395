"""Tasks and flows for the control-flow tests (module-level, so every executor can pickle them)."""

from __future__ import annotations

from typing import Any

from headwater import Flow, Parameter, case, merge, signals, task, triggers


@task
def give(x: Any) -> Any:
    """Return the value it is given (conditions, branch results)."""
    return x


@task
def label(name: str, x: Any = None) -> str:
    """Return ``name`` (a branch marker; ``x`` only makes a data edge)."""
    return name


@task
def boom(x: Any = None) -> Any:
    raise ValueError("boom")


@task
def skipper(x: Any = None) -> Any:
    raise signals.SKIP("not today")


@task
def skip_with_result(x: Any = None) -> Any:
    raise signals.SKIP("skipped, but with a result", result="not a value")


@task
def inc(x: int) -> int:
    return x + 1


@task
def collect(xs: Any) -> Any:
    return xs


@task
def skip_odd(x: int) -> int:
    if x % 2:
        raise signals.SKIP(f"{x} is odd")
    return x


@task
def fail_on_one(x: int) -> int:
    if x == 1:
        raise ValueError("one")
    return x


@task(trigger=triggers.no_failed)
def join(**branches: Any) -> str:
    """A join after branches: runs when none of them failed (skips are fine)."""
    return "joined"


@task
def join_default(**branches: Any) -> str:
    """The same join with the default trigger (all_successful)."""
    return "joined"


@task(trigger=triggers.always_run)
def always(x: Any = None) -> str:
    return "ran"


def back_to_back_flow() -> tuple[Flow, dict[str, Any]]:
    """Two conditions in a row: the second branches on the merge of the first.

    ``route`` picks "a" or "b"; branch a gives 1, branch b gives 2; the second condition
    branches on that number.
    """
    tasks: dict[str, Any] = {}
    with Flow("back-to-back") as f:
        route = Parameter("route", default="a")
        with case(route, "a"):
            tasks["a"] = give(1, task_args={"name": "branch_a"})
        with case(route, "b"):
            tasks["b"] = give(2, task_args={"name": "branch_b"})
        tasks["first"] = merge(tasks["a"], tasks["b"], name="first_merge")
        with case(tasks["first"], 1):
            tasks["one"] = label("after one", tasks["first"])
        with case(tasks["first"], 2):
            tasks["two"] = label("after two", tasks["first"])
        tasks["second"] = merge(tasks["one"], tasks["two"], name="second_merge")
    return f, tasks


def skipped_maps_flow() -> tuple[Flow, dict[str, Any]]:
    """Maps in a branch not taken (unbatched, batched, empty, and downstream of them), next to
    maps whose children skipped for other reasons (issue 12, item 3)."""
    with Flow("skipped-maps") as f:
        route = Parameter("route", default="b")
        with case(route, "a"):
            plain = inc.map([1, 2, 3])
            batched = inc.map(list(range(7)), batch_size=3)
            empty = inc.map([])
        after = inc.map(plain)  # outside the case: every child's upstream child skipped
        reduced = collect(plain)
        self_skipped = skipper.map([1, 2])  # each child ran and raised SKIP
        after_self_skipped = inc.map(self_skipped)
        mixed = skip_odd.map([0, 1, 2])
    return f, {
        "plain": plain,
        "batched": batched,
        "empty": empty,
        "after": after,
        "reduced": reduced,
        "self_skipped": self_skipped,
        "after_self_skipped": after_self_skipped,
        "mixed": mixed,
    }
