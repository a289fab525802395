"""A flow whose tasks let a Secret's raw value out in escaped forms: a repr in an error
message, JSON in a log line and an error message (tests/model/test_secrets.py)."""

from __future__ import annotations

from headwater import Flow, get_logger, task
from headwater.model.secrets import Secret

QUOTED_SECRET = "it's a \"quoted\" \\ sëcret\ttoken"
"""A secret that repr and JSON escape (quotes, a backslash, a tab, non-ASCII letters)."""


@task
def leak_repr(token: object) -> None:
    """Fail with the raw value's repr in the message (as ``ValueError(repr(x))`` does)."""
    raise ValueError(repr(token.get()))  # type: ignore[attr-defined]


@task
def leak_json(token: object) -> None:
    """Fail with the raw value JSON-escaped in the message."""
    import json

    get_logger().warning("payload %s", json.dumps({"token": token.get()}))  # type: ignore[attr-defined]
    raise ValueError(json.dumps({"token": token.get()}))  # type: ignore[attr-defined]


with Flow("escaped-leaks") as escaped_leaks:
    quoted = Secret("token", default="a-placeholder-token")
    leak_repr(quoted)
    leak_json(quoted)
    leak_repr.map([quoted, quoted])
