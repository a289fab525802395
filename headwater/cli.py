"""The ``headwater`` command line.

Design note
-----------
Commands (click)::

    headwater run FILE.py[:FLOW] [-p NAME=VALUE]... [--executor local|threads|processes|dask]
                                 [--address ADDRESS] [--tls-ca-file CA --tls-cert CERT
                                 --tls-key KEY] [--dask-config FILE]
                                 [--log-level LEVEL] [--progress/--no-progress]
                                 [--schedule | --schedule-json FILE] [--max-runs N]
                                 [--resume [RUN_ID]]
                                 [--listen-folder URL ... | --listen-webhook [HOST:]PORT ...]
    headwater visualize FILE.py[:FLOW] -o dag.svg
    headwater runs list [--limit N] [--flow NAME]
    headwater runs show RUN_ID [--timeline out.html]
    headwater bench ...                  (headwater.cli_bench)

Exit codes: 0 when the flow run succeeded, 1 when it did not, 2 for bad input (a file that is
not there or fails to import, no flow in it, several flows and none named, an unknown
parameter or a value its type refuses, an unknown run id), always with a one-line message
and never a traceback. On a schedule (``--schedule``), one line is printed per run (with the
task table of a run that did not succeed) and a summary at the end; the exit code is 1 when any
run failed, else 130 when Ctrl-C stopped the schedule, else 0 (also when ``--max-runs`` was
reached or the schedule has no more events). A flow without a schedule is bad input (2).
The listener options (``--listen-folder``, ``--listen-webhook``: :mod:`headwater._cli_listen`)
run the flow once per event, with the same lines, summary and exit codes (130 also for SIGTERM).
``--resume [RUN_ID]`` runs once, resuming a journaled run of the flow (the last one without an
id; docs/engine.md, "Resuming runs"); a run that did not succeed prints how to resume it. A
run that cannot be resumed (not journaled, still going, the flow changed, other parameters)
is bad input (2).

A Dask scheduler that cannot be reached at ``--address`` is bad input too (2), said in one
paragraph naming the address and the fix (an address without a port, ``tls://`` without
TLS settings, nothing listening...). ``--tls-ca-file``, ``--tls-cert`` and ``--tls-key`` give
the TLS settings of a ``tls://`` scheduler; ``--dask-config FILE`` merges a YAML file of Dask
settings into the run's. ``--executor dask`` without ``--address`` starts a LocalCluster
whose dashboard listens on 127.0.0.1 only, and logs its link. While a flow
runs, its progress bar (``--progress``/``--no-progress``, else the rule of
:func:`headwater.runtime.progress.wants_progress`) and the tasks' log lines go to stderr.

``-p`` values are strings. For a parameter with a type annotation the string is tried first
and then, if the type refuses it, the string read as JSON (so ``-p xs='[1,2]'`` fits
``list[int]`` and ``-p n=5`` fits ``int``); pydantic checks and coerces. Without an
annotation a value that reads as JSON is used as JSON (``5``, ``true``, ``[1, 2]``), and any
other value as the string. A :class:`~headwater.model.secrets.Secret` always gets the string.

Without ``--executor`` the flow runs on its own executor (``Flow(executor=...)``, as in
Prefect Core 1), else on ``local``. The executors other than ``local`` come from
:mod:`headwater.executors` by name, imported only when asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import uuid
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import click

from headwater._cli_listen import event_line, listen_options, listeners_from_options, run_listening

BAD_INPUT = 2
"""The exit code for bad input (click uses it for usage errors too)."""

FLOW_FAILED = 1
"""The exit code when the flow run did not succeed."""

INTERRUPTED = 130
"""The exit code when Ctrl-C stopped a run on a schedule and no run failed."""

EXECUTORS = ("local", "threads", "processes", "dask")
"""The ``--executor`` choices."""


class BadInput(click.ClickException):
    """Bad input: a one-line message on stderr and exit code 2."""

    exit_code = BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    def show(self, file: Any = None) -> None:
        """Print ``Error: <message>`` on one line."""
        click.echo(f"Error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    """Refuse bad input: print ``message`` on one line and exit with :data:`BAD_INPUT`."""
    raise BadInput(message)


# -- finding the flow ---------------------------------------------------------------------
def split_target(target: str) -> tuple[Path, str | None]:
    """Split ``FILE.py[:FLOW]`` into the file and the flow's name.

    >>> split_target("flows/etl.py:daily")
    (PosixPath('flows/etl.py'), 'daily')
    >>> split_target("etl.py")
    (PosixPath('etl.py'), None)
    """
    if Path(target).exists() or ":" not in target:
        return Path(target), None
    path, _, name = target.rpartition(":")
    return Path(path), name or None


def load_module(path: Path) -> Any:
    """Import the Python file ``path`` as a module (its folder goes first on ``sys.path``)."""
    if not path.exists():
        fail(f"File {str(path)!r} not found")
    if not path.is_file():
        fail(f"{str(path)!r} is not a file")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"headwater_cli_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        fail(f"Cannot import {str(path)!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        fail(f"Importing {str(path)!r} failed: {type(exc).__name__}: {exc}")
    try:  # tasks defined in the file travel to Dask workers by value: they cannot import it
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
    except Exception:
        pass
    return module


def find_flow(module: Any, path: Path, name: str | None) -> Any:
    """Return the flow called ``name`` in ``module`` (the only flow when ``name`` is None).

    Args:
        module: the imported file.
        path: the file, for messages.
        name: a flow's name or the variable holding it.
    """
    from headwater.model.flow import Flow

    found: dict[int, tuple[str, Flow]] = {}
    for var, value in vars(module).items():
        if isinstance(value, Flow) and not var.startswith("_"):
            found.setdefault(id(value), (var, value))
    flows = list(found.values())
    if not flows:
        fail(f"No flow in {str(path)!r} (define one with `with Flow(...)` or @flow)")
    if name is not None:
        matches = [f for var, f in flows if name in (var, f.name)]
        if not matches:
            names = ", ".join(sorted(f.name for _, f in flows))
            fail(f"No flow {name!r} in {str(path)!r}; its flows: {names}")
        return matches[0]
    if len(flows) > 1:
        names = ", ".join(sorted(f.name for _, f in flows))
        fail(f"{str(path)!r} has several flows ({names}); choose one with {path}:NAME")
    return flows[0][1]


# -- parameters ---------------------------------------------------------------------------
def _fits(annotation: Any, value: Any) -> bool:
    from pydantic import TypeAdapter

    try:
        TypeAdapter(annotation).validate_python(value)
    except Exception:
        return False
    return True


def parse_parameters(flow: Any, given: Sequence[str]) -> dict[str, Any]:
    """Turn ``NAME=VALUE`` strings into parameter values for ``flow`` (see the module's note).

    Raises:
        BadInput: for a malformed pair or an unknown parameter.
    """
    from headwater.model.secrets import Secret

    params = {p.name: p for p in flow.parameters()}
    values: dict[str, Any] = {}
    for item in given:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(f"Bad parameter {item!r}: expected NAME=VALUE")
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            fail(f"Unknown parameter {name!r} for flow {flow.name!r} (its parameters: {known})")
        p = params[name]
        try:
            as_json: Any = json.loads(raw)
            parsed = True
        except ValueError:
            as_json, parsed = None, False
        if isinstance(p, Secret):
            values[name] = raw
        elif p.has_annotation():
            if _fits(p.annotation, raw) or not parsed or not _fits(p.annotation, as_json):
                values[name] = raw
            else:
                values[name] = as_json
        else:
            values[name] = as_json if parsed else raw
    return values


def make_executor(kind: str | None, address: str | None, security: Any = None) -> Any:
    """Return the executor for ``--executor kind`` (None without ``--executor``: the flow's
    own executor, else a LocalExecutor, is chosen when the flow runs).

    Args:
        kind: one of :data:`EXECUTORS`.
        address: a Dask scheduler's address (``--address``).
        security: a ``distributed.Security`` for the connection (the ``--tls-*`` options).

    Raises:
        BadInput: when the executor is not available, or ``address`` is given for one that
            takes none.
    """
    if address is not None and kind is None:
        fail("--address is for --executor dask: add --executor dask")
    if address is not None and kind != "dask":
        fail(f"--address is for --executor dask, not {kind!r}")
    if kind is None:
        return None
    module = importlib.import_module("headwater.executors")
    if kind == "local":
        return module.LocalExecutor()
    class_name = "DaskExecutor" if kind == "dask" else "LocalDaskExecutor"
    cls = getattr(module, class_name, None)
    if cls is None:
        fail(f"--executor {kind} needs headwater.executors.{class_name}, which is not available")
    if kind == "dask":
        if not address:
            return cls()
        return cls(address=address, client_kwargs={"security": security} if security else None)
    return cls(scheduler=kind)


def make_security(
    kind: str | None, address: str | None, ca_file: str | None, cert: str | None, key: str | None
) -> Any:
    """The ``distributed.Security`` of the ``--tls-*`` options, or None when none is given.

    Raises:
        BadInput: when they are given without ``--executor dask --address``.
    """
    if not (ca_file or cert or key):
        return None
    if kind != "dask" or not address:
        fail("--tls-ca-file, --tls-cert and --tls-key are for --executor dask --address tls://...")
    from distributed import Security

    return Security(
        tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True
    )


def load_dask_config(path: str) -> None:
    """Merge the Dask settings of the YAML file ``path`` into this process's Dask config.

    Raises:
        BadInput: when the file cannot be read or is not a mapping of settings.
    """
    import dask
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        fail(f"Cannot read the Dask config file {path!r}: {exc}")
    if not isinstance(data, dict):
        fail(
            f"{path!r} is not a Dask config file: it must hold a YAML mapping such as "
            "'distributed: {comm: {tls: {ca-file: ca.pem}}}'"
        )
    dask.config.update(dask.config.config, data, priority="new")


# -- output -------------------------------------------------------------------------------
def duration_text(seconds: float | None) -> str:
    """A duration for tables: milliseconds below a second, else seconds; ``-`` for None."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def format_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Format rows as a plain-text table.

    >>> print(format_table([["a", "Success"]], ["task", "state"]))
    task  state
    ----  -------
    a     Success
    """
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _short(text: str | None, limit: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def task_table(tasks: Sequence[Any], children: bool = False) -> str:
    """A table of task records: one row per task (and per mapped child when ``children``)."""
    rows = []
    for t in tasks:
        if t.map_index is not None and not children:
            continue
        rows.append([t.label, t.state, duration_text(t.duration), _short(t.message)])
    return format_table(rows, ["task", "state", "duration", "message"])


# -- commands -----------------------------------------------------------------------------
def _file_option(name: str, help_text: str) -> Any:
    path = click.Path(exists=True, dir_okay=False)
    return click.option(name, type=path, default=None, metavar="FILE", help=help_text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="headwater", prog_name="headwater")
def main() -> None:
    """headwater: run flows, draw them, and look at past runs."""


@main.command()
@click.argument("target", metavar="FILE.py[:FLOW]")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A parameter.")
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default=None,
    help="Where tasks run (default: the flow's own executor, else local).",
)
@click.option(
    "--address", default=None, help="A dask.distributed scheduler (with --executor dask)."
)
@click.option(
    "--log-level", default=None, help="DEBUG, INFO, ... (default: $HEADWATER_LOG_LEVEL or INFO)."
)
@_file_option("--tls-ca-file", "With --address tls://...: the CA that signed the scheduler's.")
@_file_option("--tls-cert", "With --address tls://...: this client's certificate.")
@_file_option("--tls-key", "With --address tls://...: this client's private key.")
@_file_option(
    "--dask-config",
    "A YAML file of Dask settings (as in ~/.config/dask/), e.g. distributed.comm.tls.*.",
)
@click.option("--children/--no-children", default=False, help="Show mapped children in the table.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr (default: on in a terminal, off under CI; "
    "$HEADWATER_PROGRESS=true/false forces it).",
)
@click.option(
    "--schedule",
    "on_schedule",
    is_flag=True,
    help="Run at each event of the flow's schedule, until Ctrl-C or --max-runs.",
)
@click.option(
    "--schedule-json",
    "schedule_json",
    default=None,
    metavar="FILE",
    help="Run on the schedule in FILE (a Schedule's JSON) instead of the flow's; "
    "implies --schedule.",
)
@click.option(
    "--max-runs",
    type=click.IntRange(min=0),
    default=None,
    help="With --schedule or a listener: stop after N runs.",
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="last",
    default=None,
    metavar="[RUN_ID]",
    help="Resume a journaled run of the flow (the last one without RUN_ID): what finished is "
    "kept or read back from its checkpoints, the rest runs again.",
)
@listen_options
def run(
    target: str,
    params: tuple[str, ...],
    executor: str | None,
    address: str | None,
    log_level: str | None,
    tls_ca_file: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    dask_config: str | None,
    children: bool,
    progress: bool | None,
    on_schedule: bool,
    schedule_json: str | None,
    max_runs: int | None,
    resume: str | None,
    **listen: Any,
) -> None:
    """Run a flow from FILE.py and print the final state of each task.

    With --schedule (or --schedule-json FILE) the flow runs at each event of its schedule, and
    with --listen-folder or --listen-webhook once for each event, printing one line per run
    (and the task table of a run that did not succeed). With --resume it runs once, resuming
    a journaled run (its parameters are the run's; -p may only repeat them).
    """
    from headwater.errors import ListenerError
    from headwater.runtime.logs import configure_logging

    try:
        configure_logging(log_level)
        listeners, slots = listeners_from_options(**listen)
    except (ValueError, ListenerError) as exc:
        fail(str(exc))
    if resume is not None and (on_schedule or schedule_json or listeners):
        fail("--resume runs the flow once: drop --schedule, --schedule-json and the listeners")
    if max_runs is not None and not (on_schedule or schedule_json or listeners):
        fail(
            "--max-runs is for runs on a schedule: add --schedule (or --schedule-json FILE), "
            "or a listener (--listen-folder, --listen-webhook)"
        )
    path, name = split_target(target)
    flow = find_flow(load_module(path), path, name)
    schedule = load_schedule(schedule_json) if schedule_json else None
    if on_schedule and schedule is None and flow.schedule is None:
        fail(
            f"Flow {flow.name!r} has no schedule: give it one with "
            f"Flow(..., schedule=Schedule([...])) or @flow(schedule=...), "
            f"or pass --schedule-json FILE"
        )
    values = parse_parameters(flow, params)
    if dask_config is not None:
        load_dask_config(dask_config)
    security = make_security(executor, address, tls_ca_file, tls_cert, tls_key)
    chosen = make_executor(executor, address, security)
    if listeners:
        listening = (listeners, slots, bool(on_schedule or schedule is not None))
        maker = partial(make_executor, executor, address, security)
        run_scheduled(flow, values, maker, schedule, max_runs, children, progress, listening)
    if on_schedule or schedule is not None:
        run_scheduled(flow, values, chosen, schedule, max_runs, children, progress)
    from headwater.cli_runs import run_and_report

    run_and_report(flow, values, chosen, children, progress, resume, target)


def load_schedule(path: str) -> Any:
    """Read a :class:`~headwater.schedules.Schedule` from the JSON file ``path``.

    Raises:
        BadInput: when the file cannot be read or is not a Schedule's JSON.
    """
    from headwater.errors import ScheduleError
    from headwater.schedules import Schedule

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"Cannot read the schedule file {path!r}: {exc.strerror or exc}")
    try:
        return Schedule.model_validate_json(text)
    except (ScheduleError, ValueError) as exc:
        fail(
            f"{path!r} is not a schedule's JSON (write one with schedule.model_dump_json()): "
            + str(exc).replace("\n  - ", " - ")
        )


def run_scheduled(
    flow: Any,
    values: dict[str, Any],
    executor: Any,
    schedule: Any,
    max_runs: int | None,
    children: bool,
    progress: bool | None = None,
    listening: tuple[list[Any], int | None, bool] | None = None,
) -> NoReturn:
    """Run ``flow`` on ``schedule`` (its own when None), print a line per run, and exit.
    ``progress`` is each run's progress bar switch (the ``--progress`` option). With
    ``listening`` (listeners, ``--max-concurrent-runs``, ``--schedule``), run it for the
    listeners' events instead; ``executor`` is then a function making the executor.

    Exit code: 1 when any run failed; otherwise 130 when Ctrl-C stopped it; otherwise 0.
    """
    from headwater.errors import FlowValidationError, ListenerError, ParameterError, ScheduleError
    from headwater.runtime import journal
    from headwater.runtime.scheduled import ScheduledRun, run_flow_on_schedule

    recorded = journal.is_enabled()

    def on_run(run: ScheduledRun) -> None:
        state = run.state
        where = f" (run {run.run_id[:8]})" if recorded else ""
        click.echo(
            f"{event_line(run.event)}  Flow "
            f"{flow.name!r}: {type(state).__name__}: {state.message}{where}"
        )
        if not state.is_successful() and isinstance(state.result, dict) and state.result:
            click.echo(task_table(journal.task_records(state), children))

    options: dict[str, Any] = {"max_runs": max_runs, "on_run": on_run, "progress": progress}
    try:
        if listening is not None:
            runs = run_listening(flow, values, executor, schedule, listening, **options)
        else:
            runs = run_flow_on_schedule(
                flow, values, schedule=schedule, executor=executor, **options
            )
    except (ParameterError, FlowValidationError, ScheduleError, ListenerError) as exc:
        fail(str(exc).replace("\n  - ", " - "))
    counts: dict[str, int] = {}
    for state in runs.states:
        counts[type(state).__name__] = counts.get(type(state).__name__, 0) + 1
    detail = ": " + ", ".join(f"{n} {s}" for s, n in counts.items()) if counts else ""
    stopped = " (stopped by Ctrl-C)" if runs.interrupted and listening is None else ""
    stopped = " (stopped by a signal)" if runs.interrupted and listening is not None else stopped
    kind = "run" if listening is not None else "scheduled run"
    plural = "" if len(runs) == 1 else "s"
    click.echo(f"\nFlow {flow.name!r}: {len(runs)} {kind}{plural}{detail}{stopped}")
    if any(state.is_failed() for state in runs.states):
        sys.exit(FLOW_FAILED)
    sys.exit(INTERRUPTED if runs.interrupted else 0)


@main.command()
@click.argument("target", metavar="FILE.py[:FLOW]")
@click.option(
    "-o", "--output", required=True, help="The picture's file; its extension sets the format."
)
@click.option("--format", "fmt", default=None, help="svg, png, pdf... (default: from --output).")
def visualize(target: str, output: str, fmt: str | None) -> None:
    """Draw the DAG of a flow in FILE.py with Graphviz."""
    from headwater.errors import GraphvizNotFoundError
    from headwater.viz.graph import visualize as draw

    path, name = split_target(target)
    flow = find_flow(load_module(path), path, name)
    fmt = fmt or Path(output).suffix.lstrip(".") or "svg"
    try:
        draw(flow, filename=output, format=fmt)
    except GraphvizNotFoundError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(str(exc))
    except Exception as exc:  # graphviz refuses the format, or the file cannot be written
        fail(f"Cannot draw flow {flow.name!r} to {output!r}: {exc}")
    click.echo(f"Wrote {output}")


main.add_command(importlib.import_module("headwater.cli_runs").runs)
main.add_command(importlib.import_module("headwater.cli_bench").bench)

if __name__ == "__main__":
    main()
