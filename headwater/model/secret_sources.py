"""Where a Secret's value comes from when a run does not give it: the environment, then a
private secrets file.

Design note
-----------
A :class:`~headwater.model.secrets.Secret` named ``NAME`` that a run does not give in
``parameters=`` is looked up, on the driver, before anything runs, in this order:

1. the environment variable ``HEADWATER_SECRET_<NAME>``, where ``<NAME>`` is the name in
   capitals with every character other than a letter, a digit or ``_`` made ``_``
   (``"db-password"`` -> ``HEADWATER_SECRET_DB_PASSWORD``);
2. Prefect 1's variable ``PREFECT__CONTEXT__SECRETS__<name>`` (the name exactly as written,
   as Prefect read it), so a ported deployment's environment keeps working;
3. the secrets file: ``$HEADWATER_SECRETS_FILE`` or else ``~/.headwater/secrets.toml``; a
   TOML file (JSON when its name ends in ``.json``) whose top-level keys are secret names.
   It must be a regular file open to its owner only (``chmod 600``), like an SSH key: one
   that others can read or write is refused, as is a ``$HEADWATER_SECRETS_FILE`` that does not
   exist. The default file may be absent.

Values from the environment are strings as written (Prefect 1 turned ``"42"`` into ``42`` and
parsed JSON; nothing is guessed here); a file's values keep their TOML/JSON types. Messages
name variables, files and keys, never values. Looking up happens on the driver only: the value
then travels with the run's parameters, masked (:mod:`headwater.model.secrets`), so workers
need neither the variables nor the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.errors import ParameterError

ENV_PREFIX = "HEADWATER_SECRET_"
"""headwater's environment variable for secret ``NAME``: ``HEADWATER_SECRET_NAME``."""

PREFECT_ENV_PREFIX = "PREFECT__CONTEXT__SECRETS__"
"""Prefect 1's environment variable for secret ``NAME`` (read too, for ported flows)."""

FILE_VARIABLE = "HEADWATER_SECRETS_FILE"
"""The environment variable naming the secrets file."""

DEFAULT_FILE = "~/.headwater/secrets.toml"
"""The secrets file when ``HEADWATER_SECRETS_FILE`` is not set (it may be absent)."""


def env_variables(name: str) -> tuple[str, str]:
    """The environment variables a secret is read from, in order.

    >>> env_variables("db-password")
    ('HEADWATER_SECRET_DB_PASSWORD', 'PREFECT__CONTEXT__SECRETS__db-password')
    """
    return ENV_PREFIX + re.sub(r"[^A-Z0-9_]", "_", name.upper()), PREFECT_ENV_PREFIX + name


@dataclass(frozen=True)
class Lookup:
    """What looking a secret up found.

    Args:
        found: whether a value was found.
        value: the value (None when not found).
        looked_at: where it looked, in order, for a message (``$VAR``, ``the secrets file ...``).
    """

    found: bool
    value: Any
    looked_at: tuple[str, ...]


def look_up(name: str) -> Lookup:
    """Look for secret ``name`` in the environment, then in the secrets file.

    Raises:
        ParameterError: when the secrets file must be read and is refused (open to other
            users, missing though named, unreadable or not valid TOML/JSON).
    """
    variables = env_variables(name)
    for variable in variables:
        if variable in os.environ:
            return Lookup(True, os.environ[variable], ())
    looked = tuple(f"${v}" for v in variables)
    path, named = secrets_file()
    if path is None:
        return Lookup(False, None, (*looked, f"no secrets file (${FILE_VARIABLE} is not set)"))
    table = read_secrets_file(path, named)
    if table is None:
        return Lookup(False, None, (*looked, f"the secrets file {path} (absent)"))
    if name in table:
        return Lookup(True, table[name], ())
    return Lookup(False, None, (*looked, f"the secrets file {path} (no key {name!r})"))


def secrets_file() -> tuple[Path | None, bool]:
    """The secrets file's path (None when there is no home to find the default in), and
    whether ``$HEADWATER_SECRETS_FILE`` named it."""
    named = os.environ.get(FILE_VARIABLE, "")
    if named:
        return Path(named).expanduser(), True
    try:
        return Path(DEFAULT_FILE).expanduser(), False
    except RuntimeError:  # no home directory to expand ~ in
        return None, False


def read_secrets_file(path: Path, named: bool) -> dict[str, Any] | None:
    """The secrets in ``path``: None when it is the default file and absent.

    Args:
        path: the file.
        named: whether ``$HEADWATER_SECRETS_FILE`` named it (then it must exist).

    Raises:
        ParameterError: the file is open to other users, missing though named, not a
            regular file, unreadable, not valid TOML/JSON, or not a table of names.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        if named:
            raise ParameterError(
                f"${FILE_VARIABLE} names the secrets file {path}, which does not exist; "
                f"create it (chmod 600) or unset ${FILE_VARIABLE}"
            ) from None
        return None
    except OSError as exc:
        raise ParameterError(f"the secrets file {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ParameterError(f"the secrets file {path} is not a regular file")
    if os.name == "posix" and info.st_mode & 0o077:
        raise ParameterError(
            f"the secrets file {path} is open to other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}), so it is not read; make it private with "
            f"`chmod 600 {path}`"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"the secrets file {path} cannot be read: {exc.strerror}") from None
    return _parse(path, data)


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    is_json = path.suffix.lower() == ".json"
    kind = "JSON" if is_json else "TOML"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError(f"the secrets file {path} is not UTF-8 text") from None
    try:
        table = json.loads(text) if is_json else tomllib.loads(text)
    except ValueError as exc:  # JSONDecodeError, TOMLDecodeError
        # only where: a parser's message may quote a character of a secret
        raise ParameterError(f"the secrets file {path} is not valid {kind}{_where(exc)}") from None
    if not isinstance(table, dict):
        raise ParameterError(
            f"the secrets file {path} must hold an object of secret names and values, "
            f"not a {type(table).__name__}"
        )
    return table


def _where(exc: ValueError) -> str:
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if line is None:  # tomllib keeps the place in its message only
        found = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, column = found.groups() if found else (None, None)
    return f" (line {line}, column {column})" if line is not None else ""


__all__ = [
    "DEFAULT_FILE",
    "ENV_PREFIX",
    "FILE_VARIABLE",
    "PREFECT_ENV_PREFIX",
    "Lookup",
    "env_variables",
    "look_up",
    "read_secrets_file",
    "secrets_file",
]
