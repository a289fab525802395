"""Map over records, keep the good ones, then branch on how many there were.

Run it with ``python examples/map_and_case.py`` (or ``... --min 6`` to take the other branch).
"""

from __future__ import annotations

import argparse
import sys

from headwater import Flow, Parameter, case, filter_results, merge, signals, task


@task
def read_lines() -> list[str]:
    """Pretend to read a file: some lines are numbers, some are not."""
    return ["3", "1", "oops", "4", "", "1", "5"]


@task(task_run_name="parse-{map_index}")
def parse(line: str) -> int:
    """Parse one line; a blank line is skipped, a bad one fails (only this child)."""
    if not line.strip():
        raise signals.SKIP("blank line")
    return int(line)


@task
def enough(values: list[int], minimum: int) -> bool:
    return len(values) >= minimum


@task
def summarize(values: list[int]) -> str:
    return f"{len(values)} values, total {sum(values)}"


@task
def complain(values: list[int]) -> str:
    return f"only {len(values)} values: not enough to summarize"


def build() -> tuple[Flow, dict[str, object]]:
    with Flow("map-and-case") as flow:
        minimum = Parameter("minimum", default=3)
        parsed = parse.map(read_lines())  # one child per line
        good = filter_results(parsed)  # drops the skipped and failed children
        ok = enough(good, minimum)
        with case(ok, True):
            summary = summarize(good)
        with case(ok, False):
            warning = complain(good)
        report = merge(summary, warning)
    flow.set_reference_tasks([report])  # the bad line is expected: judge the run by the report
    return flow, {"parsed": parsed, "good": good, "report": report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", type=int, default=3, help="values needed for a summary")
    args = parser.parse_args(argv)
    flow, tasks = build()
    state = flow.run(parameters={"minimum": args.min})
    parsed = state.result[tasks["parsed"]]
    for child in parsed.map_states:
        print(f"  parse[{child.map_index}]: {type(child).__name__:<8} {child.message}")
    print("kept:", state.result[tasks["good"]].result)
    print("report:", state.result[tasks["report"]].result)
    print("flow:", state)
    return 0 if state.is_successful() else 1


if __name__ == "__main__":
    sys.exit(main())
