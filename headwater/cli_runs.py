"""``headwater runs``: the past runs in the run journal; and one run of ``headwater run``
(:func:`run_and_report`), which ends with how to resume it when it did not succeed.

Commands (registered on :func:`headwater.cli.main`)::

    headwater runs list [--limit N] [--flow NAME]
    headwater runs show RUN_ID [--timeline FILE.html] [--children/--no-children]

``runs show`` ends with what a resume of the run would do (:func:`headwater.runtime.resume.describe_resume`).

The helpers of :mod:`headwater.cli` are imported when a command runs, not when this module
loads, so ``python -m headwater.cli`` (which runs that module as ``__main__``) works too.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click


@click.group()
def runs() -> None:
    """Past runs, from the run journal ($HEADWATER_JOURNAL_DIR or ~/.headwater/runs)."""


@runs.command("list")
@click.option("--limit", default=20, show_default=True, help="How many runs, newest first.")
@click.option("--flow", "flow_name", default=None, help="Only runs of this flow.")
def list_command(limit: int, flow_name: str | None) -> None:
    """List past runs, newest first."""
    from headwater.cli import duration_text, format_table
    from headwater.runtime import journal

    found = journal.list_runs(limit, flow_name=flow_name)
    if not found:
        click.echo(f"No runs in {journal.journal_dir()}")
        return
    rows = []
    for r in found:
        counts = ", ".join(f"{n} {s}" for s, n in r.counts.items())
        start = f"{r.start:%Y-%m-%d %H:%M:%S}" if r.start else "-"
        rows.append([r.run_id[:8], start, r.flow_name, r.state, duration_text(r.duration), counts])
    click.echo(format_table(rows, ["run", "started (UTC)", "flow", "state", "duration", "tasks"]))


@runs.command("show")
@click.argument("run_id")
@click.option("--timeline", "timeline_file", default=None, help="Write the run's timeline (HTML).")
@click.option("--children/--no-children", default=True, help="Show mapped children.")
def show_command(run_id: str, timeline_file: str | None, children: bool) -> None:
    """Show one past run: its parameters, the final state of each task, and whether (and
    how) it can be resumed: what a resume would keep, read back and run again."""
    from headwater.cli import fail, task_table
    from headwater.runtime import journal
    from headwater.runtime.resume import describe_resume

    try:
        record = journal.load_run(run_id)
    except journal.JournalError as exc:
        fail(str(exc))
    start = f"{record.start:%Y-%m-%d %H:%M:%S} UTC" if record.start else "-"
    click.echo(f"Run {record.run_id} of flow {record.flow_name!r}, started {start}")
    click.echo(f"{record.state}: {record.message}")
    if record.parameters:
        click.echo(
            "Parameters: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in record.parameters.items())
        )
    click.echo("")
    click.echo(task_table(record.tasks, children))
    click.echo("")
    click.echo("\n".join(describe_resume(record)))
    if timeline_file is not None:
        from headwater.viz.timeline import timeline

        try:
            timeline(record, timeline_file)
        except OSError as exc:
            fail(f"Cannot write {timeline_file!r}: {exc}")
        click.echo(f"\nWrote {timeline_file}")


def run_and_report(
    flow: Any,
    values: dict[str, Any],
    executor: Any,
    children: bool,
    progress: Any,
    resume: str | None = None,
    target: str = "FILE.py",
) -> None:
    """Run ``flow`` once (resuming the run ``resume``, if given), print its task table and
    final state, and exit non-zero unless it succeeded (what ``headwater run`` does without
    a schedule or listener); a run that did not succeed is followed by how to resume it."""
    from headwater import errors
    from headwater.cli import FLOW_FAILED, fail, task_table
    from headwater.runtime import journal

    run_id = str(uuid.uuid4())
    refused = (errors.ParameterError, errors.FlowValidationError, errors.SchedulerConnectionError)
    try:
        state = flow.run(
            parameters=values,
            executor=executor,
            context={"flow_run_id": run_id},
            progress=progress,
            resume=resume,
        )
    except (*refused, errors.JournalError, errors.ResumeError) as exc:
        fail(str(exc).replace("\n  - ", " - "))
    tasks = journal.task_records(state)
    click.echo(task_table(tasks, children))
    click.echo(f"\nFlow {flow.name!r}: {type(state).__name__}: {state.message}")
    if journal.is_enabled():
        click.echo(f"Run {run_id} (headwater runs show {run_id[:8]})")
    if not state.is_successful():
        if journal.is_enabled():
            click.echo(f"Resume it with: headwater run {target} --resume {run_id[:8]}")
        sys.exit(FLOW_FAILED)


__all__ = ["run_and_report", "runs"]
