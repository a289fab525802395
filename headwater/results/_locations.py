"""Location templates: rendering them from the run context, and keeping them inside the root.

Design note
-----------
A location is a ``str.format`` template relative to a Result's root (a folder, a bucket):
``{flow_name}/{task_name}/{map_index}.pkl``, ``{date:%Y-%m-%d}/{parameters[n]}.json``,
``{task_hash}.pkl``. :func:`render` fills it from the run context, which the task runner
passes as keyword arguments (flow_name, task_name, map_index, flow_run_id, task_run_id,
date, parameters, task_hash and the task's inputs). A template may use only named fields;
a field the context lacks raises :class:`~headwater.errors.ResultLocationError` naming it
and the fields there are.

A rendered location must stay inside the root, whatever a parameter's value is
(:func:`check_inside`): it may not be empty, absolute (``/x``, ``\\x``, ``C:\\x``), contain
a NUL byte, name a folder (end with ``/`` or ``/.``), or have a ``..`` segment (``/`` and ``\\``
both separate segments, so the check means the same on every platform and store). The
check is on the text alone, never on the file system, so it is the same for every backend
and costs nothing; symbolic links inside a local root are the owner's business.
"""

from __future__ import annotations

import re
import string
import uuid
from collections.abc import Mapping
from typing import Any

from headwater.errors import ResultLocationError

_SEGMENTS = re.compile(r"[\\/]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def template_fields(template: str) -> list[str]:
    """Return the names of the context fields a template uses, in order, without repeats.

    Args:
        template: a location template.

    Raises:
        ResultLocationError: when the template is not valid ``str.format`` syntax or uses a
            positional field (``{}``, ``{0}``).

    >>> template_fields("{flow_name}/{date:%Y}/{parameters[n]}-{flow_name}.pkl")
    ['flow_name', 'date', 'parameters']
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ResultLocationError(
            f"Location template {template!r} is not a valid template: {exc}. Write fields "
            "as {name} and a literal brace as {{ or }}."
        ) from exc
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = re.split(r"[.\[]", field, maxsplit=1)[0]
        if root == "" or root.isdigit():
            raise ResultLocationError(
                f"Location template {template!r} has a positional field {{{field}}}; "
                "templates take named fields from the run context, e.g. {task_name}."
            )
        if root not in names:
            names.append(root)
    return names


def render(template: str, context: Mapping[str, Any]) -> str:
    """Fill ``template`` from ``context`` and check that the result stays inside the root.

    Args:
        template: a location template.
        context: the run context (field name -> value).

    Returns:
        The rendered, checked location.

    Raises:
        ResultLocationError: when a field is missing or cannot be rendered, or the rendered
            location leaves the root.

    >>> render("{flow_name}/{map_index}-{parameters[n]}.pkl",
    ...        {"flow_name": "etl", "map_index": 3, "parameters": {"n": 10}})
    'etl/3-10.pkl'
    """
    fields = template_fields(template)
    missing = [name for name in fields if name not in context]
    if missing:
        available = ", ".join(sorted(context)) or "none"
        raise ResultLocationError(
            f"Location template {template!r} uses the field {missing[0]!r}, which the run "
            f"context does not have (fields available: {available}). Use one of these, a "
            "task input by its name, or a flow parameter as {parameters[name]}."
        )
    try:
        rendered = template.format_map(context)
    except (KeyError, IndexError) as exc:
        raise ResultLocationError(
            f"Location template {template!r} could not be rendered: {_lookup(template, context)}"
            f"has no item {exc.args[0]!r}. Check the parameter or key name."
        ) from exc
    except (AttributeError, TypeError, ValueError) as exc:
        raise ResultLocationError(
            f"Location template {template!r} could not be rendered: {type(exc).__name__}: "
            f"{exc}. Check the fields' format specs (e.g. {{date:%Y-%m-%d}})."
        ) from exc
    return check_inside(rendered, template)


def _lookup(template: str, context: Mapping[str, Any]) -> str:
    """Describe the container a failed ``[key]`` lookup looked in, for the message."""
    for _, field, _, _ in string.Formatter().parse(template):
        if field and "[" in field:
            root = field.split("[", 1)[0]
            value = context.get(root)
            if isinstance(value, Mapping):
                keys = ", ".join(repr(k) for k in sorted(value, key=str)) or "no keys"
                return f"{root} (which has {keys}) "
    return "a field "


def check_inside(location: str, template: str | None = None) -> str:
    """Return ``location`` if it stays inside the Result's root, else raise.

    Args:
        location: a rendered location, relative to the root.
        template: the template it came from, for the message.

    Raises:
        ResultLocationError: when the location is empty, absolute, names a folder, contains
            a NUL byte or has a ``..`` segment.

    >>> check_inside("etl/../../etc/passwd")
    Traceback (most recent call last):
    ...
    headwater.errors.ResultLocationError: Location 'etl/../../etc/passwd' leaves the Result's root: it has a '..' segment...
    """
    origin = f" (from the template {template!r})" if template and template != location else ""
    problem = None
    if not isinstance(location, str) or not location:
        problem = "it is empty"
    elif "\x00" in location:
        problem = "it contains a NUL byte"
    elif location[0] in "/\\" or _DRIVE.match(location):
        problem = "it is an absolute path"
    elif ".." in _SEGMENTS.split(location):
        problem = "it has a '..' segment"
    elif _SEGMENTS.split(location)[-1] in ("", "."):
        problem = "it names a folder, not an object (it ends with '/' or '.')"
    if problem is None:
        return location
    raise ResultLocationError(
        f"Location {location!r}{origin} leaves the Result's root: {problem}. Locations are "
        "relative to the root; remove '..' (if a parameter or input supplies it, check or "
        "clean that value first)."
        if problem == "it has a '..' segment"
        else f"Location {location!r}{origin} is refused: {problem}. Give a relative path "
        "inside the Result's root, such as '{flow_name}/{task_name}.pkl'."
    )


def default_location(context: Mapping[str, Any]) -> str:
    """The location for a Result written without a template.

    Inside a task run (the context has ``flow_run_id`` and ``task_slug``):
    ``<flow_name>/<task_name>/<flow_run_id>/<task_slug>[-<map_index>]``, the same for every
    try of that task in that flow run, so a result computed again after its worker was lost
    finds its own checkpoint. Elsewhere ``<flow_name>/<task_name>/<random hex>``. Names are
    made safe (and left out when the context lacks them), so unrelated writes never collide.

    Args:
        context: the run context.

    >>> default_location({"flow_name": "etl/v2", "task_name": ".."})[:9]
    'etl_v2/_/'
    >>> default_location({"flow_name": "etl", "task_name": "load", "flow_run_id": "r1",
    ...                   "task_slug": "load-2", "map_index": 7})
    'etl/load/r1/load-2-7'
    """
    parts = []
    for key in ("flow_name", "task_name"):
        value = context.get(key)
        if value is not None:
            parts.append(_safe(value))
    run, slug = context.get("flow_run_id"), context.get("task_slug")
    if run is None or slug is None:
        parts.append(uuid.uuid4().hex)
        return "/".join(parts)
    index = context.get("map_index")
    parts.append(_safe(run))
    parts.append(_safe(slug if index is None else f"{slug}-{index}"))
    return "/".join(parts)


def _safe(value: object) -> str:
    """A name made safe to be one path segment."""
    return _UNSAFE.sub("_", str(value)).strip(".") or "_"


__all__ = ["check_inside", "default_location", "render", "template_fields"]
