"""The events a listener of a flow has run, remembered beside the run journal.

Design note
-----------
One file per (flow, listener source) in ``<journal folder>/listeners/``: ``<flow>-<hash of
flow and source>.jsonl`` (the journal folder is ``HEADWATER_JOURNAL_DIR``, else
``~/.headwater/runs``; the journal's own listing ignores the sub-folder). It is kept even when
``HEADWATER_JOURNAL=false``, because it is what makes a restart safe, not a record.

**Format** (JSON lines, append-only): a first line naming the flow and the source
(``"kind": "listener"``), then a line when an event's run starts (``"state": "started"``) and
one when it finishes (``"state": "finished"``, with the run's final state), each with the
event's key and the run id. Each line is flushed and fsynced before the loop goes on, so a
key is never forgotten once its run finished. A key that started but never finished belongs
to a run that was in flight when the process died (SIGKILL, power loss): it is *not* counted
as run, so a restart runs that event again, with a warning naming it. A line cut short by a
crash is skipped. When the file holds far more lines than keys it is rewritten (to a
temporary file, then renamed) with one line per key.

**One listener at a time.** The loop holds an exclusive ``flock`` on ``<file>.lock`` while it
listens, so a second process listening to the same source for the same flow is refused
instead of running every event a second time. The lock goes with the process, however it
ends. Where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from headwater.errors import ListenerError
from headwater.runtime.journal import journal_dir

__all__ = ["SeenEvents", "seen_path"]

logger = logging.getLogger("headwater.listeners")

FOLDER = "listeners"
"""The sub-folder of the journal folder holding the files."""


def seen_path(flow_name: str, source: str, directory: Path | None = None) -> Path:
    """The file remembering the events ``source`` started for flow ``flow_name``.

    Args:
        flow_name: the flow's name.
        source: the listener's source (``folder s3://bucket/in``).
        directory: the journal folder (:func:`~headwater.runtime.journal.journal_dir` by
            default).
    """
    digest = hashlib.sha256(f"{flow_name}\0{source}".encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", flow_name).strip("-.")[:40] or "flow"
    folder = Path(directory) if directory is not None else journal_dir()
    return folder / FOLDER / f"{slug}-{digest}.jsonl"


def _lock(path: Path, what: str) -> Any:
    """Take the exclusive lock on ``path``; return the open file holding it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ListenerError(
            f"{what} is already being listened to by {holder} (it holds {path}); stop it "
            f"first: two listeners would each run every event"
        ) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


class SeenEvents:
    """The keys of the events one listener source ran for one flow (see the module's note).

    Use :meth:`open`; ``key in seen`` tells whether an event ran.

    Args:
        path: the file.
        flow_name: the flow's name.
        source: the listener's source.
    """

    def __init__(self, path: Path, flow_name: str, source: str) -> None:
        self.path = path
        self.flow_name = flow_name
        self.source = source
        self.finished: dict[str, tuple[str, str]] = {}
        """key -> (run id, final state) of every event that ran."""
        self.interrupted: dict[str, str] = {}
        """key -> run id of events whose run started but never finished (run again)."""
        self._lines = 0
        self._write_lock = threading.Lock()
        self._file: Any = None
        self._lock_file: Any = None

    @classmethod
    def open(cls, flow_name: str, source: str, directory: Path | None = None) -> SeenEvents:
        """Lock, read and open the file of ``source`` for ``flow_name``.

        Args:
            flow_name: the flow's name.
            source: the listener's source.
            directory: the journal folder (the journal's by default).

        Raises:
            ListenerError: another process listens to the same source for the same flow, or
                the file cannot be read or written.
        """
        path = seen_path(flow_name, source, directory)
        seen = cls(path, flow_name, source)
        what = f"{source} for flow {flow_name!r}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            seen._lock_file = _lock(path.with_suffix(".lock"), what)
            seen._read()
            if seen._lines > 2 * len(seen.finished) + 64:
                seen._compact()
            seen._file = path.open("a", encoding="utf-8")
            if seen._lines == 0:
                seen._append({"kind": "listener", "flow": flow_name, "source": source})
        except OSError as exc:
            seen.close()
            raise ListenerError(f"Cannot keep the record of {what} in {path}: {exc}") from exc
        for key, run_id in list(seen.interrupted.items())[:10]:
            logger.warning(
                "Event %s of %s started run %s, which never finished (the listener was killed); "
                "it runs again.",
                key,
                source,
                run_id[:8],
            )
        return seen

    def _read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for number, text in enumerate(fh, 1):
                self._lines += 1
                try:
                    line = json.loads(text)
                    if line.get("kind") != "event":
                        continue
                    key, state, run_id = str(line["key"]), line["state"], str(line["run_id"])
                except (ValueError, KeyError, AttributeError, TypeError):
                    logger.warning("Skipping unreadable line %d of %s", number, self.path)
                    continue
                if state == "started":
                    self.interrupted[key] = run_id
                elif state == "finished":
                    self.interrupted.pop(key, None)
                    self.finished[key] = (run_id, str(line.get("final", "")))

    def _compact(self) -> None:
        tmp = self.path.with_name(f".tmp-{self.path.name}")
        with tmp.open("w", encoding="utf-8") as fh:
            header = {"kind": "listener", "flow": self.flow_name, "source": self.source}
            fh.write(json.dumps(header) + "\n")
            for key, (run_id, final) in self.finished.items():
                fh.write(json.dumps(self._line(key, "finished", run_id, final)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._lines = 1 + len(self.finished)

    @staticmethod
    def _line(key: str, state: str, run_id: str, final: str | None = None) -> dict[str, Any]:
        line = {"kind": "event", "key": key, "state": state, "run_id": run_id}
        if final is not None:
            line["final"] = final
        line["at"] = _dt.datetime.now(_dt.UTC).isoformat()
        return line

    def _append(self, line: dict[str, Any]) -> None:
        with self._write_lock:
            self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._lines += 1

    def __contains__(self, key: object) -> bool:
        return key in self.finished

    def started(self, key: str, run_id: str) -> None:
        """Record that the run ``run_id`` for the event ``key`` starts (before it starts).

        Args:
            key: the event's key.
            run_id: the run's id.
        """
        self._append(self._line(key, "started", run_id))

    def finished_run(self, key: str, run_id: str, final: str) -> None:
        """Record that the event ``key`` ran: from now on it is seen.

        Args:
            key: the event's key.
            run_id: the run's id.
            final: the name of the run's final state.
        """
        self._append(self._line(key, "finished", run_id, final))
        self.finished[key] = (run_id, final)

    def close(self) -> None:
        """Close the file and release the lock."""
        for handle in (self._file, self._lock_file):
            if handle is not None:
                handle.close()
        self._file = self._lock_file = None
