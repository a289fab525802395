"""The Result interface, MemoryResult, the backends' arguments, and the package surface."""

from __future__ import annotations

import importlib.abc
import pickle
import sys
from typing import Any

import pytest

import headwater.results
from headwater.errors import ResultLocationError, ResultStorageError
from headwater.results import FSSpecResult, GCSResult, LocalResult, MemoryResult, Result, S3Result
from headwater.serializers import JSONSerializer, PickleSerializer


def test_the_public_surface_is_pinned() -> None:
    assert headwater.results.__all__ == [
        "FSSpecResult",
        "GCSResult",
        "LocalResult",
        "MemoryResult",
        "Result",
        "S3Result",
    ]


def test_importing_results_loads_no_storage_library() -> None:
    import subprocess

    code = (
        "import sys, headwater.results, headwater.serializers; "
        "print(sorted(m for m in ('fsspec', 's3fs', 'gcsfs', 'msgpack', 'lz4', 'zstandard', "
        "'distributed', 'click', 'cloudpickle') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_result_holds_a_value_a_template_and_a_serializer() -> None:
    result = Result(1, "{task_name}.pkl")
    assert result.value == 1 and result.location == "{task_name}.pkl"
    assert result.serializer == PickleSerializer() and result.validators == ()
    with pytest.raises(NotImplementedError, match="Result does not implement write"):
        result.write(2)


def test_memory_result_keeps_values_and_persists_nothing() -> None:
    result = MemoryResult(location="{task_name}.pkl", serializer=JSONSerializer())
    written = result.write([1], task_name="t")
    assert written.value == [1] and written is not result and result.value is None
    assert not result.exists("t.pkl") and not written.exists("t.pkl")
    with pytest.raises(ResultStorageError, match="MemoryResult stores nothing.*'t.pkl'"):
        result.read("t.pkl")
    assert pickle.loads(pickle.dumps(written)).value == [1]


def test_validate_runs_every_validator() -> None:
    calls: list[Any] = []

    def record(value: Any) -> bool:
        calls.append(value)
        return True

    result = MemoryResult(4, validators=[record, lambda v: v % 2 == 0])
    assert result.validate() and calls == [4]
    assert not result.write(3).validate()
    assert MemoryResult(None).validate()  # no validators: valid


def test_copies_share_the_value_but_not_the_settings() -> None:
    value = {"big": list(range(10))}
    result = MemoryResult(value, "a")
    copy = result.copy()
    copy.location = "b"
    assert copy.value is value and result.location == "a"


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: LocalResult("/data/r", "x"), "<LocalResult dir='/data/r' location='x'>"),
        (
            lambda: S3Result("s3://b/p", key="AKIA", secret="shh"),
            "<S3Result bucket='b/p' location=None>",
        ),
        (lambda: GCSResult("b", token="tok"), "<GCSResult bucket='b' location=None>"),
        (
            lambda: FSSpecResult("memory://m", signing_key="k"),
            "<FSSpecResult root='memory://m' location=None>",
        ),
    ],
)
def test_repr_shows_where_but_no_secrets(make: Any, text: str) -> None:
    assert repr(make()) == text


def test_buckets_may_carry_a_scheme_and_a_prefix() -> None:
    assert S3Result("s3://bucket/pre/").root_url == "s3://bucket/pre"
    assert GCSResult("gs://bucket").root_url == "gcs://bucket"
    assert S3Result("b").uri("x/y.pkl") == "s3://b/x/y.pkl"
    for bad in ("", "/", "s3://"):
        with pytest.raises(ResultLocationError, match="needs a bucket name"):
            S3Result(bad)


def test_an_unknown_protocol_is_refused_clearly() -> None:
    with pytest.raises(ResultLocationError, match=r"cannot use the root 'nosuch://x'.*fsspec URL"):
        FSSpecResult("nosuch://x").exists("a")


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".")[0] in ("s3fs", "gcsfs"):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@pytest.mark.parametrize(
    ("make", "extra"),
    [
        (lambda: S3Result("b"), r"'s3fs' package: pip install 'headwater\[s3\]'"),
        (lambda: GCSResult("b"), r"'gcsfs' package: pip install 'headwater\[gcs\]'"),
    ],
)
def test_a_missing_storage_package_says_how_to_install_it(
    make: Any, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    registry = importlib.import_module("fsspec.registry")
    for name in list(sys.modules):
        if name.split(".")[0] in ("s3fs", "gcsfs"):
            monkeypatch.delitem(sys.modules, name)
    # fsspec keeps the classes it imported once: forget them, as a machine without them would
    for protocol in ("s3", "s3a", "gs", "gcs"):
        monkeypatch.delitem(registry._registry, protocol, raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Block(), *sys.meta_path])
    with pytest.raises(ImportError, match=extra):
        make().exists("x")


def test_storage_errors_carry_their_location_across_pickling(tmp_path: Any) -> None:
    with pytest.raises(ResultStorageError) as info:
        LocalResult(tmp_path).read("missing.pkl")
    err = pickle.loads(pickle.dumps(info.value))
    assert isinstance(err, OSError) and err.location == "missing.pkl"  # type: ignore[attr-defined]
    assert str(err) == str(info.value)
