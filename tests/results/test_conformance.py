"""The conformance suite every persisting Result passes: a local folder, fsspec memory://,
S3 on moto's server and GCS on the emulator, all real."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from headwater.errors import (
    ResultIdentityError,
    ResultIntegrityError,
    ResultLocationError,
    ResultStorageError,
    ResultUnverifiedError,
    SerializationError,
)
from headwater.results import FSSpecResult, GCSResult, LocalResult, S3Result
from headwater.results._payload import seal
from headwater.results.signing import SIGNING_KEY_ENV
from headwater.serializers import CompressedSerializer, JSONSerializer, MsgPackSerializer
from tests.results.child import RawBytes, is_whole
from tests.results.conftest import BUCKET, Backend, gcs_options
from tests.support import servers

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "{flow_name}/{task_name}/{map_index}.pkl"
CONTEXT: dict[str, Any] = {"flow_name": "etl", "task_name": "load", "map_index": 3}


# -- write, exists, read ----------------------------------------------------------------------


def test_write_then_exists_then_read(backend: Backend) -> None:
    result = backend.make(TEMPLATE)
    assert not result.exists("etl/load/3.pkl")
    written = result.write({"rows": [1, 2]}, **CONTEXT)
    assert type(written) is type(result)
    assert written.location == "etl/load/3.pkl" and written.value == {"rows": [1, 2]}
    assert result.location == TEMPLATE and result.value is None  # the original is unchanged
    assert result.exists("etl/load/3.pkl")
    assert result.exists(TEMPLATE, **CONTEXT)
    back = result.read("etl/load/3.pkl")
    assert back.value == {"rows": [1, 2]} and back.location == "etl/load/3.pkl"
    assert written.read(written.location).value == {"rows": [1, 2]}


def test_a_second_write_replaces_the_first(backend: Backend) -> None:
    result = backend.make("v.pkl")
    result.write("one")
    result.write("two")
    assert result.read("v.pkl").value == "two"


def test_templates_fill_from_the_run_context(backend: Backend) -> None:
    result = backend.make(
        "{flow_name}/{date:%Y-%m-%d}/{flow_run_id}/{task_run_id}/{parameters[n]}-{task_hash}.json",
        JSONSerializer(),
    )
    context = {
        "flow_name": "etl",
        "date": dt.datetime(2024, 5, 17, 12, 30, tzinfo=dt.UTC),
        "flow_run_id": "run-1",
        "task_run_id": "task-9",
        "parameters": {"n": 10},
        "task_hash": "abc123",
        "map_index": None,
    }
    written = result.write([1, "x"], **context)
    assert written.location == "etl/2024-05-17/run-1/task-9/10-abc123.json"
    assert result.read(written.location).value == [1, "x"]
    assert backend.get_raw(result, written.location).endswith(b'[1, "x"]')


def test_mapped_children_get_their_own_locations(backend: Backend) -> None:
    result = backend.make("{task_name}/{map_index}-{parameters[run]}.mp", MsgPackSerializer())
    for i in range(3):
        result.write((i, {i}), task_name="square", map_index=i, parameters={"run": "a"})
    for i in range(3):
        assert result.read(f"square/{i}-a.mp").value == (i, {i})
    assert not result.exists("square/3-a.mp")


def test_without_a_template_a_fresh_location_is_used(backend: Backend) -> None:
    result = backend.make()
    first = result.write(1, flow_name="etl", task_name="load", map_index=0).location
    second = result.write(2, flow_name="etl", task_name="load", map_index=0).location
    assert first is not None and second is not None
    assert first.startswith("etl/load/") and first != second
    assert result.read(first).value == 1 and result.read(second).value == 2
    bare = result.write(3)
    assert bare.location is not None and "/" not in bare.location
    assert result.read(bare.location).value == 3


def test_a_folder_is_not_a_result(backend: Backend) -> None:
    result = backend.make("a/b.pkl")
    result.write(1)
    assert result.exists("a/b.pkl") and not result.exists("a")


def test_validators_run_on_the_value(backend: Backend) -> None:
    result = backend.make("n.pkl", validators=[lambda v: v > 0, lambda v: v < 10])
    assert result.write(5).validate()
    assert result.read("n.pkl").validate()
    assert not result.write(50).validate()


# -- locations --------------------------------------------------------------------------------


def test_a_missing_field_names_it_and_the_fields_there_are(backend: Backend) -> None:
    result = backend.make(TEMPLATE)
    with pytest.raises(
        ResultLocationError,
        match=r"uses the field 'map_index'.*fields available: flow_name, task_name\)",
    ):
        result.write(1, flow_name="etl", task_name="load")
    with pytest.raises(ResultLocationError, match="uses the field 'flow_name'"):
        result.exists(TEMPLATE, task_name="load")


@pytest.mark.parametrize(
    ("parameter", "problem"),
    [
        ("../../escape", "has a '..' segment"),
        ("..", "has a '..' segment"),
        ("a/../../escape", "has a '..' segment"),
        ("..\\..\\escape", "has a '..' segment"),
        ("/etc/escape", "absolute path"),
    ],
)
def test_a_location_that_would_leave_the_root_is_refused(
    backend: Backend, tmp_path: Path, parameter: str, problem: str
) -> None:
    result = backend.make("{parameters[name]}/out.pkl")
    with pytest.raises(ResultLocationError, match=problem):
        result.write("x", parameters={"name": parameter})
    with pytest.raises(ResultLocationError, match=problem):
        result.exists("{parameters[name]}/out.pkl", parameters={"name": parameter})
    with pytest.raises(ResultLocationError, match=problem):
        result.read(f"{parameter}/out.pkl")
    assert not list(tmp_path.rglob("out.pkl")) and not Path("/etc/escape").exists()


# -- integrity --------------------------------------------------------------------------------


def test_signed_results_round_trip(backend: Backend) -> None:
    result = backend.make("s.pkl", signing_key="s3cret")
    result.write({"a": 1})
    assert result.read("s.pkl").value == {"a": 1}
    assert backend.get_raw(result, "s.pkl")[:5] == b"HWR\x02\x01"  # format 2, signed


def test_results_are_signed_by_default(backend: Backend) -> None:
    result = backend.make("d.pkl")
    result.write([1, 2])
    assert backend.get_raw(result, "d.pkl")[:5] == b"HWR\x02\x01"
    assert result.read("d.pkl").value == [1, 2]
    with pytest.raises(ResultUnverifiedError, match="not with the key in force"):
        backend.make(signing_key="another key").read("d.pkl")


def test_the_signing_key_comes_from_the_environment(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "from-env")
    result = backend.make("e.pkl")
    result.write(7)
    assert backend.get_raw(result, "e.pkl")[4] == 1
    assert result.read("e.pkl").value == 7
    assert backend.make(signing_key="from-env").read("e.pkl").value == 7
    with pytest.raises(ResultUnverifiedError, match=r"not with the key in force \(from signing_key"):
        backend.make(signing_key="another key").read("e.pkl")
    monkeypatch.delenv(SIGNING_KEY_ENV)
    with pytest.raises(ResultUnverifiedError, match=r"not with the key in force \(from the key file"):
        result.read("e.pkl")


class Trap:
    """Unpickling this creates a folder: proof that bytes were (or were not) unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("key", [None, "k"], ids=["default-key", "explicit-key"])
def test_planted_pickles_are_refused_unread(
    backend: Backend, tmp_path: Path, key: str | None
) -> None:
    result = backend.make("t.pkl", signing_key=key)
    uri = result.uri("t.pkl")
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(Trap(marker))
    for forged, reason in [
        (seal(evil, b"guessed key", "t.pkl"), "not with the key in force"),
        (seal(evil, None, "t.pkl"), "is not signed"),
    ]:
        backend.put_raw(result, "t.pkl", forged)
        with pytest.raises(ResultUnverifiedError, match=reason) as info:
            result.read("t.pkl")
        assert uri in str(info.value) and "trust_unverified=True" in str(info.value)
        assert not marker.exists()
    # the trap works: a Result that opts in reads the unsigned forgery, and runs it
    backend.make(signing_key=key, trust_unverified=True).read("t.pkl")
    assert marker.exists()


def test_unsigned_json_is_read_but_an_unsigned_pickle_is_not(backend: Backend) -> None:
    result = backend.make("u.json", JSONSerializer())
    backend.put_raw(result, "u.json", seal(b'{"rows": 3}', None, "u.json"))
    assert result.read("u.json").value == {"rows": 3}
    backend.put_raw(result, "u.pkl", seal(pickle.dumps({"rows": 3}), None, "u.pkl"))
    with pytest.raises(ResultUnverifiedError, match="is not signed"):
        backend.make().read("u.pkl")
    compressed = backend.make("c.json.gz", CompressedSerializer(JSONSerializer(), "gzip"))
    compressed.write([1])
    raw = CompressedSerializer(JSONSerializer(), "gzip").serialize([2])
    backend.put_raw(compressed, "c.json.gz", seal(raw, None, "c.json.gz"))
    assert compressed.read("c.json.gz").value == [2]


def test_a_signed_result_copied_over_another_is_refused(backend: Backend) -> None:
    result = backend.make("{name}.pkl")
    result.write("mine", name="a")
    result.write("theirs", name="b")
    backend.put_raw(result, "a.pkl", backend.get_raw(result, "b.pkl"))
    with pytest.raises(ResultIdentityError, match="written for the location 'b.pkl', not 'a.pkl'"):
        result.read("a.pkl")


@pytest.mark.parametrize("key", [None, "k"], ids=["default-key", "explicit-key"])
def test_truncated_and_corrupted_payloads_are_refused(backend: Backend, key: str | None) -> None:
    result = backend.make("c.pkl", signing_key=key)
    result.write(list(range(100)))
    raw = backend.get_raw(result, "c.pkl")
    unsigned = seal(pickle.dumps(list(range(100))), None, "c.pkl")
    cases = [
        (raw[:-1], "is truncated: .* bytes stored"),
        (raw[: len(raw) // 2], "is truncated"),
        (raw[:5], "has no headwater header"),
        (b"", "has no headwater header"),
        (raw + b"\x00", "longer than its header says"),
        (raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:], "tampered with"),
        (unsigned[:-3] + bytes([unsigned[-3] ^ 1]) + unsigned[-2:], "CRC-32 does not match"),
        (b"plain text, not ours", "has no headwater header"),
    ]
    for data, match in cases:
        backend.put_raw(result, "c.pkl", data)
        with pytest.raises(ResultIntegrityError, match=match) as info:
            result.read("c.pkl")
        assert result.uri("c.pkl") in str(info.value)


# -- payloads ---------------------------------------------------------------------------------


def payloads() -> list[bytes]:
    """Random bytes, many ending in \\r (the emulator's multipart bug), some framing-like."""
    rng = random.Random(20240517)
    endings = [b"", b"\r", b"\r\n", b"\n", b"\n\r", b"\r\r", b"\n--==0==\r", b"--==0==--\r"]
    out = [b"", b"\r", b"\n", b"\r\n"]
    for size in (1, 2, 100, 1000, 70_000):
        for end in endings:
            out.append(rng.randbytes(size) + end)
    out += [rng.randbytes(rng.randrange(0, 3000)) for _ in range(40)]
    return out


def test_random_bytes_round_trip_byte_for_byte(backend: Backend) -> None:
    result = backend.make("raw/{map_index}.bin", RawBytes())
    data = payloads()
    assert sum(d.endswith(b"\r") for d in data) >= 20
    for i, blob in enumerate(data):
        result.write(blob, map_index=i)
    for i, blob in enumerate(data):
        assert result.read(f"raw/{i}.bin").value == blob, f"payload {i} ({len(blob)} bytes)"
        assert backend.get_raw(result, f"raw/{i}.bin").endswith(blob)


def test_compressed_results_round_trip(backend: Backend) -> None:
    result = backend.make("{map_index}.zst", CompressedSerializer(MsgPackSerializer(), "zstd"))
    rng = random.Random(7)
    values = [(i, rng.randbytes(rng.randrange(0, 500)), {"x": [i] * i}) for i in range(40)]
    for i, value in enumerate(values):
        result.write(value, map_index=i)
    assert [result.read(f"{i}.zst").value for i in range(40)] == values


# -- pickling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_a_result_works_after_unpickling(backend: Backend, dumps: Any) -> None:
    result = backend.make("{task_name}.pkl", signing_key="k")
    result.write(1, task_name="before")  # the file system exists now
    assert result._fs is not None
    clone = pickle.loads(dumps(result))
    assert clone._fs is None  # never pickled
    assert clone.read("before.pkl").value == 1
    assert clone.write(2, task_name="after").location == "after.pkl"
    assert result.read("after.pkl").value == 2
    assert pickle.loads(dumps(clone.read("after.pkl"))).value == 2


def test_locations_lists_what_a_folder_holds_and_remove_deletes(backend: Backend) -> None:
    result = backend.make("{folder}/{name}")
    assert result.locations("cache") == []
    for folder, name in [("cache/a", "1.x"), ("cache/a", "2.x"), ("cache/b", "3.x"), ("o", "4")]:
        result.write(name, folder=folder, name=name)
    assert result.locations("cache/a") == ["cache/a/1.x", "cache/a/2.x"]
    assert result.locations("cache") == ["cache/a/1.x", "cache/a/2.x", "cache/b/3.x"]
    result.remove("cache/a/1.x")
    result.remove("cache/a/1.x")  # already gone: fine
    assert result.locations("cache/a") == ["cache/a/2.x"]
    assert not result.exists("cache/a/1.x") and result.read("cache/a/2.x").value == "2.x"
    with pytest.raises(ResultLocationError, match="leaves the Result's root"):
        result.locations("../elsewhere")


def test_a_copy_is_independent(backend: Backend) -> None:
    result = backend.make("a.pkl")
    other = result.copy()
    other.location = "b.pkl"
    assert result.location == "a.pkl"
    other.write(1)
    assert not result.exists("a.pkl") and result.exists("b.pkl")


# -- another process --------------------------------------------------------------------------


def child(command: str, result: Any, location: str, arg: str, tmp_path: Path, **kw: Any) -> Any:
    """Start ``tests.results.child`` with a pickled Result."""
    path = tmp_path / f"result-{time.monotonic_ns()}.pkl"
    path.write_bytes(cloudpickle.dumps(result))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.results.child", command, str(path), location, arg],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        **kw,
    )


def test_exists_sees_what_another_process_wrote(shared_backend: Backend, tmp_path: Path) -> None:
    result = shared_backend.make("d/{task_name}.pkl")
    result.write(1, task_name="first")
    fs, _ = result._filesystem()
    folder = result._path("d")[1]
    assert len(fs.ls(folder)) == 1  # the listing is cached now (s3fs, gcsfs)
    proc = child("write", result.copy(), "d/second.pkl", b"hello".hex(), tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    if shared_backend.kind in ("s3", "gcs"):
        assert not fs.exists(result._path("d/second.pkl")[1])  # fsspec alone is stale
    assert result.exists("d/second.pkl")
    assert result.read("d/second.pkl").value == b"hello"


PAYLOAD_SIZE = {"local": 16 * 2**20, "s3": 6 * 2**20, "gcs": 3 * 2**20}
"""Big enough that writing dominates each loop of the writer, so a kill lands mid-write."""


class Writer:
    """A writer process and the lines it printed (one per finished write)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: list[int] = []
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(int(line))

    def kill_when(self, ready: Any) -> int:
        """SIGKILL the writer once ``ready()``; return the last write it finished."""
        deadline = time.monotonic() + 60
        while not ready():
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            assert time.monotonic() < deadline, "the writer never got going"
            time.sleep(0.001)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._pump.join(30)
        return self.lines[-1]


def _temp_files(result: Any) -> list[Path]:
    return list(Path(result.dir).rglob("*.tmp")) if isinstance(result, LocalResult) else []


def _mid_write(writer: Writer, result: Any) -> Any:
    """Ready after two writes, and (locally, where we can see it) while one is under way."""
    if isinstance(result, LocalResult):
        return lambda: len(writer.lines) >= 2 and _temp_files(result)
    return lambda: len(writer.lines) >= 2


def test_a_killed_writer_leaves_no_partial_result(shared_backend: Backend, tmp_path: Path) -> None:
    """Each write goes to a new location; the one under way when the writer is killed is
    either absent or whole, never partial, and no temporary file is taken for it."""
    result = shared_backend.make()
    size = str(PAYLOAD_SIZE[shared_backend.kind])
    writer = Writer(child("write-series", result, "big/{map_index}.pkl", size, tmp_path))
    last = writer.kill_when(_mid_write(writer, result))
    for i in range(last + 1):
        assert is_whole(result.read(f"big/{i}.pkl").value)
    cut = f"big/{last + 1}.pkl"
    if isinstance(result, LocalResult):  # killed while a temporary file was there
        assert _temp_files(result) or result.exists(cut)
    if result.exists(cut):  # finished, killed before it could say so
        assert is_whole(result.read(cut).value)
    else:
        with pytest.raises(ResultStorageError, match="nothing is stored there"):
            result.read(cut)
    assert not result.exists(f"big/{last + 2}.pkl")


def test_a_writer_killed_while_overwriting_leaves_a_whole_result(
    shared_backend: Backend, tmp_path: Path
) -> None:
    result = shared_backend.make()
    size = str(PAYLOAD_SIZE[shared_backend.kind])
    writer = Writer(child("write-loop", result, "big/loop.pkl", size, tmp_path))
    last = writer.kill_when(_mid_write(writer, result))
    value = result.read("big/loop.pkl").value
    assert is_whole(value) and value[0] >= last  # the last finished write, or a later one


# -- storage errors ---------------------------------------------------------------------------


def _missing_bucket(backend: Backend) -> S3Result | GCSResult:
    assert backend.server is not None
    if backend.kind == "s3":
        return S3Result("no-such-bucket", "x.pkl", endpoint_url=backend.server.url)
    return GCSResult("no-such-bucket", "x.pkl", **gcs_options(backend.server))


def test_a_missing_bucket_is_a_storage_error(server_backend: Backend) -> None:
    result = _missing_bucket(server_backend)
    for action, call in [
        ("write", lambda: result.write(1)),
        ("read", lambda: result.read("x.pkl")),
        ("check", lambda: result.exists("x.pkl")),
    ]:
        with pytest.raises(
            ResultStorageError, match=rf"could not {action} the result at 'x.pkl'"
        ) as info:
            call()
        message = str(info.value)
        assert "no-such-bucket" in message and "Check that" in message
        assert info.value.__cause__ is not None
        assert info.value.location == "x.pkl"  # type: ignore[attr-defined]
        assert pickle.loads(pickle.dumps(info.value)).args == info.value.args


FAST_FAIL: dict[str, Any] = {"retries": {"max_attempts": 1}, "connect_timeout": 2}
"""botocore options so an endpoint that is down fails in about a second."""


def test_an_s3_endpoint_that_is_down_is_a_storage_error(cloud_env: dict[str, str]) -> None:
    port = servers.free_port()
    result = S3Result(
        BUCKET, "x.pkl", endpoint_url=f"http://127.0.0.1:{port}", config_kwargs=FAST_FAIL
    )
    for call in (
        lambda: result.write(1),
        lambda: result.read("x.pkl"),
        lambda: result.exists("x.pkl"),
    ):
        with pytest.raises(
            ResultStorageError, match=rf"'x.pkl'.*Could not connect.*127.0.0.1:{port}"
        ):
            call()


def test_permission_denied_is_a_storage_error(cloud_env: dict[str, str]) -> None:
    """moto checks credentials when told to; the test credentials are unknown to it."""
    with servers.start_moto(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        result = S3Result(BUCKET, "x.pkl", endpoint_url=server.url, config_kwargs=FAST_FAIL)
        for action, call in [
            ("write", lambda: result.write(1)),
            ("read", lambda: result.read("x.pkl")),
            ("check", lambda: result.exists("x.pkl")),
        ]:
            with pytest.raises(
                ResultStorageError, match=rf"could not {action} .*'x.pkl'.*PermissionError"
            ) as info:
                call()
            assert isinstance(info.value.__cause__, PermissionError)
            assert "credentials may read and write it" in str(info.value)


def test_a_stopped_server_is_a_storage_error_and_loses_nothing_written_before(
    cloud_env: dict[str, str], tmp_path: Path
) -> None:
    local = LocalResult(tmp_path, "x.pkl")
    local.write("kept")
    with servers.start_moto() as server:
        server.create_bucket(BUCKET)
        result = S3Result(BUCKET, "x.pkl", endpoint_url=server.url, config_kwargs=FAST_FAIL)
        result.write("stored")
        assert result.read("x.pkl").value == "stored"
    with pytest.raises(ResultStorageError, match="could not read the result at 'x.pkl'"):
        result.read("x.pkl")
    with pytest.raises(ResultStorageError, match="could not write the result at 'x.pkl'"):
        result.write(local.read("x.pkl").value)
    assert local.read("x.pkl").value == "kept"


def test_a_failed_serialization_keeps_the_stored_value(backend: Backend) -> None:
    result = backend.make("v.json", JSONSerializer())
    result.write({"v": 1})
    with pytest.raises(SerializationError, match=r"type 'bytes' at value\['v'\]"):
        result.write({"v": b"2"})
    assert result.read("v.json").value == {"v": 1}


def test_the_memory_backend_is_plain_fsspec() -> None:
    result = FSSpecResult("memory://conformance-plain", "k.pkl")
    result.write(1)
    assert result.uri("k.pkl") == "memory://conformance-plain/k.pkl"
    assert result.read("k.pkl").value == 1
