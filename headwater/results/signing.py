"""Signing keys: which key signs a stored result, where it comes from, and how a flow run
hands it to the processes that run its tasks.

Design note
-----------
Every result a Result writes is signed with HMAC-SHA256 (:mod:`headwater.results._payload`),
so that a reader can tell bytes it wrote from bytes anyone else put there before it unpickles
them. The key for one read or write is the first of:

1. ``signing_key=`` given to the Result (it travels with the pickled Result);
2. the key of the flow run the code runs in: resolved once on the driver when the run
   starts (3, else 4, as the driver sees them at that moment), and installed by the executor
   in every process that runs the run's tasks, under a random run token (:class:`RunKey`);
   the task runner looks it up by that token (:func:`using`). A worker's own environment
   never decides, so a key set on the driver after the workers started still reaches them;
3. ``HEADWATER_RESULT_SIGNING_KEY``: a key a team shares;
4. the per-user key file: ``HEADWATER_SIGNING_KEY_FILE``, else ``~/.headwater/signing-key``,
   made on the first write with 32 random bytes written as 64 hex characters, mode 0600 in a
   0700 folder (:func:`key_file_key`). A key file that others may read or write is refused:
   whoever can read it can forge results.

The key bytes are the text of the variable or of the file (stripped), so the file's content
can be copied into ``HEADWATER_RESULT_SIGNING_KEY`` to share it.

Reading never makes a key file (a fresh key verifies nothing). Reading a result that is
unsigned, or signed with another key, runs code only if its serializer unpickles; such a
read is refused unless the reader opts in: ``trust_unverified=True`` on the Result, or
``HEADWATER_TRUST_UNVERIFIED_RESULTS=true`` (read on the driver when a run starts, and where
the result is read outside a run).

No key is ever logged, put in a repr, a task graph or the journal: :class:`Signing` and
:class:`RunKey` show where the key came from, never the key.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
import stat
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from headwater.errors import SigningKeyError

SIGNING_KEY_ENV = "HEADWATER_RESULT_SIGNING_KEY"
"""The environment variable holding a shared (team) signing key."""

KEY_FILE_ENV = "HEADWATER_SIGNING_KEY_FILE"
"""The environment variable naming the per-user key file."""

DEFAULT_KEY_FILE = "~/.headwater/signing-key"
"""The per-user key file when ``HEADWATER_SIGNING_KEY_FILE`` is not set."""

TRUST_ENV = "HEADWATER_TRUST_UNVERIFIED_RESULTS"
"""Set to ``true`` to read results that are unsigned or signed with another key."""

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class Signing:
    """A signing key and where it came from (shown instead of the key).

    Args:
        key: the key's bytes.
        source: where it came from, for messages (``"HEADWATER_RESULT_SIGNING_KEY"``...).
        trust_unverified: whether reads accept results not verified with this key.
    """

    key: bytes = field(repr=False)
    source: str
    trust_unverified: bool = False

    def __repr__(self) -> str:
        return f"Signing(source={self.source!r}, trust_unverified={self.trust_unverified})"


def key_file_path() -> Path:
    """The per-user key file: ``HEADWATER_SIGNING_KEY_FILE``, else ``~/.headwater/signing-key``."""
    return Path(os.path.expanduser(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE))


def trust_from_environment() -> bool:
    """Whether ``HEADWATER_TRUST_UNVERIFIED_RESULTS`` opts in to unverified reads here."""
    return os.environ.get(TRUST_ENV, "").strip().lower() in _TRUE


def key_file_key(path: Path, create: bool) -> bytes | None:
    """Read the key in ``path``, making the file first when ``create`` and it is missing.

    Args:
        path: the key file.
        create: make it (random key, mode 0600) when it does not exist.

    Returns:
        The key, or None when the file does not exist and ``create`` is False.

    Raises:
        SigningKeyError: when the file may be read or written by others, is empty, or
            cannot be made.
    """
    try:
        return _read_key_file(path)
    except (FileNotFoundError, NotADirectoryError):
        if not create:
            return None
    except OSError as exc:
        raise SigningKeyError(
            f"The signing key file {str(path)!r} cannot be read ({type(exc).__name__}: "
            f"{exc}). Make it readable by you only (chmod 600), or set {KEY_FILE_ENV} to "
            "another file."
        ) from exc
    try:
        _make_key_file(path)
        return _read_key_file(path)
    except OSError as exc:
        raise SigningKeyError(
            f"No signing key could be made at {str(path)!r} ({type(exc).__name__}: {exc}). "
            f"Set {KEY_FILE_ENV} to a file in a folder you may write, or set "
            f"{SIGNING_KEY_ENV} to a key."
        ) from exc


def _read_key_file(path: Path) -> bytes:
    with open(path, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        text = f.read().strip()
    if os.name != "nt" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(
            f"The signing key file {str(path)!r} may be read or written by others (mode "
            f"{stat.S_IMODE(mode):04o}): whoever reads it can forge results. Run: chmod 600 "
            f"{path}"
        )
    if not text:
        raise SigningKeyError(
            f"The signing key file {str(path)!r} is empty. Delete it (a new key is made on "
            "the next write), or write a key into it."
        )
    return text


def _make_key_file(path: Path) -> None:
    """Write a new random key to ``path`` unless another process made it first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it: keep theirs
            os.link(temp, path)
    finally:
        os.unlink(temp)


def from_environment(create: bool) -> Signing | None:
    """The key this process's environment gives: ``HEADWATER_RESULT_SIGNING_KEY``, else the
    key file (made when ``create``).

    Args:
        create: make the key file when it does not exist.

    Raises:
        SigningKeyError: see :func:`key_file_key`.
    """
    trust = trust_from_environment()
    value = os.environ.get(SIGNING_KEY_ENV, "")
    if value:
        return Signing(value.encode(), SIGNING_KEY_ENV, trust)
    path = key_file_path()
    key = key_file_key(path, create)
    return None if key is None else Signing(key, f"the key file {str(path)!r}", trust)


def for_run() -> Signing:
    """The key a flow run signs with, resolved once on the driver (see the module's note).

    Raises:
        SigningKeyError: see :func:`key_file_key`.
    """
    signing = from_environment(create=True)
    assert signing is not None  # create=True makes the file or raises
    return signing


# -- the key of a run, in each process that runs its tasks ------------------------------------

_lock = threading.Lock()
_installed: dict[str, Signing] = {}
_MISSING = Signing(b"", "nothing: the run's key did not reach this process")
_current: contextvars.ContextVar[Signing | None] = contextvars.ContextVar(
    "headwater_run_signing", default=None
)


class RunKey:
    """What an executor runs in each process that runs a flow run's tasks: ``setup`` installs
    the run's key under the run's token, ``teardown`` removes it. Picklable; its repr and
    pickled form are never logged by headwater, and its repr hides the key.

    Args:
        token: the run's token (random; not secret).
        signing: the run's key.
    """

    def __init__(self, token: str, signing: Signing) -> None:
        self.token = token
        self.signing = signing

    @property
    def name(self) -> str:
        """A name unique to the run (for executors that register setups by name)."""
        return f"headwater-run-key-{self.token}"

    def setup(self) -> None:
        """Install the key in this process."""
        with _lock:
            _installed[self.token] = self.signing

    def teardown(self) -> None:
        """Remove the key from this process."""
        with _lock:
            _installed.pop(self.token, None)

    def __repr__(self) -> str:
        return f"RunKey(token={self.token!r}, {self.signing!r})"


def installed(token: str) -> Signing | None:
    """The key installed in this process for the run ``token``, if any.

    Args:
        token: the run's token.
    """
    return _installed.get(token)


@contextlib.contextmanager
def using(token: str | None) -> Iterator[None]:
    """Within the block, Results without ``signing_key=`` use the key of run ``token``; when
    it was not installed in this process, they refuse to read or write, naming the problem.
    ``None`` changes nothing (a run whose executor installs no key).

    Args:
        token: the run's token, or None.
    """
    if token is None:
        yield
        return
    reset = _current.set(_installed.get(token, _MISSING))
    try:
        yield
    finally:
        _current.reset(reset)


def _run() -> Signing | None:
    run = _current.get()
    if run is _MISSING:
        raise SigningKeyError(
            "This process runs a task of a flow run whose signing key did not reach it: the "
            "executor must install the run's key (RunKey) in every process that runs tasks."
        )
    return run


def resolve(explicit: bytes | None, *, create: bool) -> Signing | None:
    """The key one read or write uses (see the module's note for the order).

    Args:
        explicit: the Result's ``signing_key=``.
        create: make the key file when it is needed and missing (writes do, reads do not).

    Returns:
        The key; None when nothing gives one and ``create`` is False.

    Raises:
        SigningKeyError: the run's key did not reach this process, or the key file is unsafe
            or cannot be made.
    """
    run = _run()
    if explicit:
        return Signing(explicit, "signing_key=")
    if run is not None:
        return run
    return from_environment(create)


def trusts_unverified(explicit: bool = False) -> bool:
    """Whether a read accepts a result that is unsigned or not signed with the key in force:
    the Result's ``trust_unverified=``, else the run's opt-in (read on the driver when it
    started), else ``HEADWATER_TRUST_UNVERIFIED_RESULTS`` here.

    Args:
        explicit: the Result's ``trust_unverified=``.

    Raises:
        SigningKeyError: the run's key did not reach this process.
    """
    if explicit:
        return True
    run = _run()
    return run.trust_unverified if run is not None else trust_from_environment()


__all__ = [
    "DEFAULT_KEY_FILE",
    "KEY_FILE_ENV",
    "SIGNING_KEY_ENV",
    "TRUST_ENV",
    "RunKey",
    "Signing",
    "for_run",
    "from_environment",
    "installed",
    "key_file_key",
    "key_file_path",
    "resolve",
    "trust_from_environment",
    "trusts_unverified",
    "using",
]
