"""Secrets: flow parameters whose values never show.

Design note
-----------
:class:`Secret` is a :class:`~headwater.model.parameter.Parameter` whose value reaches tasks
wrapped in a :class:`SecretValue`: ``repr``, ``str`` and ``format`` give ``'********'`` and
only :meth:`SecretValue.get` returns the raw value. So a secret passed around, logged with
``%s``, put in a location template or a task run name, shows as the mask.

A run that does not give a Secret its value looks for it on the driver, before anything
runs, in the environment and a private secrets file (:mod:`headwater.model.secret_sources`);
a required secret found nowhere refuses the run with the others' problems.

Masking the wrapper is not enough: a task may call ``.get()`` and let the raw value slip into
an exception message, a print or a log line. So every raw value wrapped in this process is
remembered in a process-local registry (a SecretValue unpickled on a Dask worker registers
there too), and :func:`redact` replaces each known value in a text with the mask, in each
form it may take there: as it is, inside a repr or a JSON string (quotes, backslashes and
non-ASCII letters escaped), and those escaped once more (a JSON line holding a repr). It is
applied where text leaves headwater:

- log records made on headwater's loggers (:class:`RedactingFilter`, attached to every
  ``headwater*`` logger once a secret exists, and to the handler of
  :func:`~headwater.runtime.logs.configure_logging`);
- the messages and tracebacks of a flow run's task states (masked by the runtime's
  redaction hook, :mod:`headwater.runtime.redaction`, before ``flow.run`` returns);
- the run journal and the HTML views, which redact what they write.

Raw values shorter than :data:`MIN_REDACTED_LENGTH` characters are masked in reprs but not
searched for in text: masking every ``"a"`` in a log would hide everything and protect
nothing. The exception object kept on a Failed state (``state.exception``) is the task's own
object and is not rewritten.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any

from headwater.errors import ParameterError
from headwater.model.parameter import Parameter
from headwater.model.secret_sources import look_up

MASK = "********"
"""What a secret shows as."""

MIN_REDACTED_LENGTH = 4
"""Shorter raw values are not searched for in text (see the module's design note)."""

_lock = threading.Lock()
_known: set[str] = set()  # every form of every value (see _forms)
_ordered: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


def _escaped(text: str) -> set[str]:
    """``text`` as it shows inside a Python repr and inside a JSON string (ASCII-only or
    not), and those forms escaped once more (a repr's message in a JSON journal line, a
    repr in an exception's repr)."""
    once = {text, repr(text)[1:-1], json.dumps(text)[1:-1]}
    once.add(json.dumps(text, ensure_ascii=False)[1:-1])
    twice = {repr(t)[1:-1] for t in once} | {json.dumps(t)[1:-1] for t in once}
    return once | twice


def _forms(value: Any) -> set[str]:
    """The texts a raw secret value may show as: its str and repr (and, when it is JSON,
    its JSON), each as it is and escaped (:func:`_escaped`); none shorter than
    :data:`MIN_REDACTED_LENGTH`, none holding another."""
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        texts = {raw.decode("utf-8", "replace"), repr(raw)[2:-1]}
    else:
        texts = {str(value), repr(value)}
        with contextlib.suppress(TypeError, ValueError):
            texts.add(json.dumps(value))
            texts.add(json.dumps(value, ensure_ascii=False))
    forms = {form for text in texts for form in _escaped(text)}
    forms = {f for f in forms if len(f) >= MIN_REDACTED_LENGTH}
    # a form holding another (a repr's quotes around the raw text) is masked with it
    return {f for f in forms if not any(g != f and g in f for g in forms)}


def _register(value: Any) -> None:
    global _ordered
    if value is None:
        return
    if isinstance(value, dict | list | tuple):  # a structured secret (from a secrets file)
        for part in value.values() if isinstance(value, dict) else value:
            if not isinstance(part, bool):  # masking every "True" would hide, not protect
                _register(part)  # its values may slip out one by one; its keys are names
    forms = _forms(value)
    if forms <= _known:
        return
    with _lock:
        _known.update(forms)
        _ordered = tuple(sorted(_known, key=len, reverse=True))
    protect_headwater_loggers()  # new values are rare; loggers may have appeared since


def has_secrets() -> bool:
    """Whether any secret value has been wrapped in this process."""
    return bool(_ordered)


def redact(text: str) -> str:
    """Replace every known secret value in ``text`` with the mask: the raw text, and its
    forms in a Python repr and in a JSON string (quotes, backslashes and other characters
    escaped, as ``repr(value)`` or ``json.dumps(value)`` write them).

    >>> _ = SecretValue("hunter2-token")
    >>> redact("login with hunter2-token failed")
    'login with ******** failed'
    >>> quoted = "it's \\"quoted\\" ünïcode"
    >>> _ = SecretValue(quoted)
    >>> redact(repr(quoted)), redact(json.dumps({"token": quoted}))
    ("'********'", '{"token": "********"}')
    """
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class SecretValue:
    """A secret's value: shows as ``'********'``; :meth:`get` returns the raw value.

    Args:
        value: the raw value.

    >>> token = SecretValue("s3cr3t-value")
    >>> token, str(token), f"{token}", token.get()
    (SecretValue(********), '********', '********', 's3cr3t-value')
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        if isinstance(value, SecretValue):
            value = value.get()
        self._value = value
        _register(value)

    def get(self) -> Any:
        """Return the raw value."""
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue({MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and bool(self._value == other._value)

    def __hash__(self) -> int:
        return hash((SecretValue, self._value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretValue, (self._value,))  # registers again where it is unpickled


class Secret(Parameter):
    """A flow parameter whose value is a :class:`SecretValue`: it never shows in logs,
    reprs, state messages, the run journal or the HTML views.

    A run that does not give it in ``parameters=`` reads it, before anything runs, from
    ``$HEADWATER_SECRET_<NAME>``, Prefect 1's ``$PREFECT__CONTEXT__SECRETS__<NAME>``, or the
    secrets file (:mod:`headwater.model.secret_sources`), else its default. Without a
    default it is required: a run that finds it nowhere is refused, naming where it looked.
    Inside a task, ``token.get()`` returns the raw value::

        with Flow("deploy") as f:
            token = Secret("DEPLOY_TOKEN")  # from $HEADWATER_SECRET_DEPLOY_TOKEN
            deploy(token)                   # deploy receives a SecretValue

    Args:
        name: the parameter's name, unique in its flow, and the secret's name.
        default: the value used when the run gives none and none is found.
        required: whether a run must find a value; by default, when there is no default.
            An optional secret found nowhere is None.
        tags: labels, as for any task.
    """

    def __init__(
        self,
        name: str,
        default: Any = None,
        required: bool | None = None,
        *,
        tags: Iterable[str] | None = None,
    ) -> None:
        wrapped = SecretValue(default) if default is not None else None
        if required is None:
            required = default is None
        super().__init__(name, default=wrapped, required=required, tags=tags)

    def value_not_given(self) -> Any:
        """Look the value up in the environment and the secrets file, else take the default.

        Raises:
            ParameterError: when a required secret is found nowhere (naming every variable
                and file looked at), or the secrets file is refused.
        """
        found = look_up(self.name)
        if found.found:
            return found.value
        if self.default is not None or not self.required:
            return self.default
        raise ParameterError(
            f"secret {self.name!r} is required and was found nowhere; looked in: "
            f"parameters=, {', '.join(found.looked_at)}. Set one of them, or make it "
            f"optional: Secret({self.name!r}, required=False)"
        )

    def prepare_value(self, value: Any) -> Any:
        """Wrap ``value`` in a :class:`SecretValue` (once); None stays None."""
        if value is None or isinstance(value, SecretValue):
            return value
        return SecretValue(value)

    def __repr__(self) -> str:
        return f"<Secret: {self.name}>"


class RedactingFilter(logging.Filter):
    """A logging filter that masks known secret values in a record's message and traceback.

    It never drops a record. It is attached to headwater's loggers once a secret exists
    (logger filters run before the record reaches any handler, pytest's caplog included).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in ``record`` in place; always keep it."""
        if not _ordered:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is logging's problem to report, not ours
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def protect_logger(logger: logging.Logger) -> None:
    """Attach the redacting filter to ``logger`` (once)."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


KNOWN_LOGGERS = (
    "headwater",
    "headwater.runner",
    "headwater.flow_runner",
    "headwater.executors",
    "headwater.journal",
    "headwater.cli",
)
"""headwater's module loggers: protected even before their modules are imported."""


def protect_headwater_loggers() -> None:
    """Attach the redacting filter to headwater's module loggers and every existing
    ``headwater.*`` logger (others are covered by the handler of ``configure_logging``)."""
    for name in KNOWN_LOGGERS:
        protect_logger(logging.getLogger(name))
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith("headwater."):
            protect_logger(logger)


__all__ = [
    "MASK",
    "MIN_REDACTED_LENGTH",
    "RedactingFilter",
    "Secret",
    "SecretValue",
    "has_secrets",
    "protect_headwater_loggers",
    "protect_logger",
    "redact",
]
