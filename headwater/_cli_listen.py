"""The listener options of ``headwater run``, kept beside the command line's module.

Design note
-----------
::

    headwater run FILE.py[:FLOW] --listen-folder URL [--pattern GLOB] [--param-name NAME]
                                 [--poll SECONDS]
                                 --listen-webhook [HOST:]PORT [--no-webhook-token]
                                 [--max-concurrent-runs N] [--max-runs N] [--schedule]

Both listeners may be given at once, and with ``--schedule`` the flow's schedule (its clocks
and listeners) starts runs too. The webhook's token comes from ``$HEADWATER_WEBHOOK_TOKEN``,
never from the command line, where other users of the machine could read it in the process
list; ``--no-webhook-token`` turns authentication off. An object store's options come from its
usual environment (``AWS_*`` credentials) or fsspec's (``FSSPEC_S3_ENDPOINT_URL=...`` sets
``endpoint_url`` for ``s3://``). Listener options that are refused are bad input (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import click

from headwater.errors import ListenerError

__all__ = ["event_line", "listen_options", "listeners_from_options", "run_listening"]


def listen_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the listener options to a click command (they arrive as keyword arguments)."""
    options = [
        click.option(
            "--listen-folder",
            metavar="URL",
            default=None,
            help="Run once for each new file in URL (a folder, s3://bucket/prefix/, gs://...).",
        ),
        click.option(
            "--pattern",
            metavar="GLOB",
            default=None,
            help="With --listen-folder: only these names.",
        ),
        click.option(
            "--param-name",
            metavar="NAME",
            default=None,
            help="With --listen-folder: the parameter that gets each file's path (default: path).",
        ),
        click.option(
            "--poll",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="With --listen-folder: seconds between listings (default: 2).",
        ),
        click.option(
            "--listen-webhook",
            metavar="[HOST:]PORT",
            default=None,
            help="Run for each POST of a JSON object of parameters to http://HOST:PORT/ "
            "(HOST 127.0.0.1 by default; token from $HEADWATER_WEBHOOK_TOKEN).",
        ),
        click.option(
            "--no-webhook-token",
            is_flag=True,
            help="With --listen-webhook: accept requests without a token (trusted networks only).",
        ),
        click.option(
            "--max-concurrent-runs",
            type=click.IntRange(min=1),
            default=None,
            help="With a listener: how many runs at once (default: 1).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def listeners_from_options(
    listen_folder: str | None = None,
    pattern: str | None = None,
    param_name: str | None = None,
    poll: float | None = None,
    listen_webhook: str | None = None,
    no_webhook_token: bool = False,
    max_concurrent_runs: int | None = None,
) -> tuple[list[Any], int | None]:
    """The listeners the options ask for, and ``--max-concurrent-runs``.

    Args:
        listen_folder: ``--listen-folder``.
        pattern: ``--pattern``.
        param_name: ``--param-name``.
        poll: ``--poll``.
        listen_webhook: ``--listen-webhook``.
        no_webhook_token: ``--no-webhook-token``.
        max_concurrent_runs: ``--max-concurrent-runs``.

    Raises:
        ListenerError: an option without the one it goes with, or a listener refused.
    """
    listeners: list[Any] = []
    folder_only = {"--pattern": pattern, "--param-name": param_name, "--poll": poll}
    if listen_folder is not None:
        from headwater.listeners.folder import FolderListener

        given: dict[str, Any] = {"pattern": pattern, "parameter": param_name, "poll": poll}
        listeners.append(
            FolderListener(listen_folder, **{k: v for k, v in given.items() if v is not None})
        )
    else:
        _needs("--listen-folder", {k: v for k, v in folder_only.items() if v is not None})
    if listen_webhook is not None:
        from headwater.listeners.webhook import WebhookListener

        host, _, port = listen_webhook.rpartition(":")
        if not port.isdigit():
            raise ListenerError(
                f"--listen-webhook takes [HOST:]PORT, e.g. 8080, got {listen_webhook!r}"
            )
        token: Literal[False] | None = False if no_webhook_token else None
        listeners.append(WebhookListener(host or "127.0.0.1", int(port), token=token))
    else:
        _needs("--listen-webhook", {"--no-webhook-token": True} if no_webhook_token else {})
    if max_concurrent_runs is not None and not listeners:
        _needs("--listen-folder or --listen-webhook", {"--max-concurrent-runs": True})
    return listeners, max_concurrent_runs


def _needs(option: str, given: dict[str, Any]) -> None:
    if given:
        raise ListenerError(
            f"{', '.join(given)} {'goes' if len(given) == 1 else 'go'} with {option}"
        )


def event_line(event: Any) -> str:
    """What a run's line starts with: the schedule event's time, or a listener event's time
    and label.

    Args:
        event: a ScheduleEvent or a listener's Event.
    """
    start = getattr(event, "start_time", None)
    if start is not None:
        return str(start.isoformat(sep=" ", timespec="seconds"))
    when = event.time.astimezone().isoformat(sep=" ", timespec="seconds")
    return f"{when}  {event.label}" if event.label else when


def run_listening(
    flow: Any,
    values: dict[str, Any],
    make_executor: Callable[[], Any],
    schedule: Any,
    listening: tuple[list[Any], int | None, bool],
    **options: Any,
) -> Any:
    """Run ``flow`` for the listeners' events (and its schedule's, when asked for).

    Args:
        flow: the flow.
        values: the ``-p`` parameters.
        make_executor: makes the ``--executor`` executor.
        schedule: the ``--schedule-json`` schedule, or None.
        listening: the listeners, ``--max-concurrent-runs``, and whether ``--schedule`` (or
            ``--schedule-json``) was given.
        **options: ``max_runs``, ``on_run``, ``progress``.
    """
    from headwater.runtime.listening import run_flow_listening

    listeners, slots, on_schedule = listening
    executor: Any = make_executor()
    if slots is not None and slots > 1:
        executor = make_executor  # an executor runs one flow run at a time: one per run
    return run_flow_listening(
        flow,
        values,
        listeners=listeners,
        schedule=(schedule or flow.schedule) if on_schedule else None,
        max_concurrent_runs=slots or 1,
        executor=executor,
        **options,
    )
