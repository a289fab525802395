"""``headwater bench``: benchmark a flow on several executors, or compare two benchmarks.

Design note
-----------
Commands (registered on :func:`headwater.cli.main`)::

    headwater bench FILE.py[:FLOW] [-p NAME=VALUE]... [--executor NAME]... [--repeats N]
                    [--warmup N] [--json PATH] [--html PATH] [--progress/--no-progress]
    headwater bench compare A.json B.json

``--executor`` takes ``local``, ``threads``, ``processes``, ``dask`` (a local Dask cluster on
127.0.0.1, its dashboard on 127.0.0.1 only, started for the benchmark and closed after) or
``dask=ADDRESS`` (a running scheduler), once per executor; without it, every local one and a
local Dask cluster. The measuring is :mod:`headwater.runtime.bench`'s; the table, JSON and
comparison :mod:`headwater.runtime.bench_report`'s; the page :mod:`headwater.viz.bench`'s.
With ``--html PATH``, Dask's own performance reports go to the folder ``PATH``'s stem +
``-dask-reports`` next to it, and the page links to them.

Exit codes: 0 when every executor gave the first one's results and every timed run
succeeded; 1 otherwise (each mismatch is printed on a line starting ``MISMATCH:``); 2 for
bad input, as for ``headwater run`` (one line, no traceback). Task logs are shown from
WARNING up unless ``--log-level`` says otherwise.

``bench`` is a group whose default command is ``run``: anything but a subcommand's name
first (``headwater bench flows.py ...``) means ``headwater bench run flows.py ...``. Names
of :mod:`headwater.cli` are imported when a command runs, not when this module loads, so
``python -m headwater.cli`` (which runs that module as ``__main__``) works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


class DefaultToRun(click.Group):
    """A group that runs its ``run`` command when the first argument names no command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put ``run`` in front of arguments that do not start with a command's name."""
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToRun)
def bench() -> None:
    """Benchmark a flow on several executors (headwater bench FILE.py[:FLOW] ...), or compare
    two benchmarks' JSON files (headwater bench compare A.json B.json)."""


@bench.command("run")
@click.argument("target", metavar="FILE.py[:FLOW]")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A parameter.")
@click.option(
    "--executor",
    "executors",
    multiple=True,
    metavar="NAME",
    help="local, threads, processes, dask (a local cluster) or dask=ADDRESS; repeat it for "
    "several (default: every local one and a local Dask cluster).",
)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--json", "json_path", default=None, metavar="PATH", help="Write the rows as JSON.")
@click.option("--html", "html_path", default=None, metavar="PATH", help="Write an HTML page.")
@click.option("--log-level", default=None, help="Task logs from this level (default: WARNING).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr (default: as for headwater run).",
)
def run_bench(
    target: str,
    params: tuple[str, ...],
    executors: tuple[str, ...],
    repeats: int,
    warmup: int,
    json_path: str | None,
    html_path: str | None,
    log_level: str | None,
    progress: bool | None,
) -> None:
    """Run FILE.py's flow on each executor and print how it fared: wall times, task runs,
    tasks per second, concurrency, engine overhead per task, memory, and whether the results
    of its reference tasks agree."""
    import sys

    from headwater.cli import BadInput, find_flow, load_module, parse_parameters, split_target
    from headwater.runtime.bench import bench as measure
    from headwater.runtime.bench_executors import parse_executor
    from headwater.runtime.logs import configure_logging

    try:
        configure_logging(log_level or "WARNING")
        for executor in executors:
            parse_executor(executor)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    path, flow_name = split_target(target)
    flow = find_flow(load_module(path), path, flow_name)
    values = parse_parameters(flow, params)
    report_dir = None
    if html_path is not None:
        page = Path(html_path)
        report_dir = page.parent / f"{page.stem}-dask-reports"
    result = _measured(measure, flow, values, executors, repeats, warmup, progress, report_dir)
    click.echo(result.table())
    try:
        if json_path is not None:
            click.echo(f"\nWrote {result.write_json(json_path)}")
        if html_path is not None:
            click.echo(f"Wrote {result.write_html(html_path)}")
    except OSError as exc:
        raise BadInput(f"Cannot write {exc.filename!r}: {exc.strerror or exc}") from exc
    if not result.ok:
        sys.exit(1)


def _measured(
    measure: Any,
    flow: Any,
    values: dict[str, Any],
    executors: tuple[str, ...],
    repeats: int,
    warmup: int,
    progress: bool | None,
    report_dir: Path | None,
) -> Any:
    """``measure(...)``, with the errors of bad input turned into one-line messages."""
    from headwater.cli import BadInput
    from headwater.errors import FlowValidationError, ParameterError, SchedulerConnectionError

    try:
        return measure(
            flow,
            list(executors) or None,
            parameters=values,
            repeats=repeats,
            warmup=warmup,
            progress=progress,
            report_dir=report_dir,
        )
    except (ParameterError, FlowValidationError, SchedulerConnectionError, ValueError) as exc:
        raise BadInput(str(exc).replace("\n  - ", " - ")) from exc


@bench.command("compare")
@click.argument("first", metavar="A.json")
@click.argument("second", metavar="B.json")
def compare_command(first: str, second: str) -> None:
    """Set two benchmarks' JSON files side by side: their machines, and for each executor in
    both, each figure of A and B and B/A."""
    from headwater.cli import BadInput
    from headwater.runtime.bench_report import compare, load_report

    try:
        a, b = load_report(first), load_report(second)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    names = (Path(first).name, Path(second).name)
    click.echo(compare(a, b, names if names[0] != names[1] else (first, second)))


__all__ = ["DefaultToRun", "bench", "compare_command", "run_bench"]
