"""No code runs from bytes nobody vouched for (issue 12.4), and a signed result is refused
anywhere but where it was written (issue 12.5): pickles planted at a task's target or cache
location, in a folder or a bucket (moto's S3 server, the GCS emulator), as a hostile user would."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from headwater.results import FSSpecResult
from tests.flows import trust as T
from tests.results.conftest import Backend, make_backend


@pytest.fixture(params=["local", "s3", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A folder, or a prefix of a bucket on moto's S3 server or the GCS emulator."""
    return make_backend(request.param, request, tmp_path)


def test_a_pickle_planted_at_a_target_is_refused_unread(store: Backend, tmp_path: Path) -> None:
    calls, marker = tmp_path / "calls.txt", tmp_path / "unpickled"
    result = store.make()
    flow = T.targets_flow(result)
    assert flow.run(parameters={"calls": str(calls)}).is_successful()
    store.put_raw(result, "targets/a.pkl", T.planted_pickle(marker))
    state = flow.run(parameters={"calls": str(calls)})
    assert not marker.exists(), "the planted pickle was unpickled"
    (a,) = [t for t in flow.get_tasks("made") if flow.constants[t]["name"] == "a"]
    refused = state.result[a]
    assert refused.is_failed() and "targets/a.pkl" in (refused.message or "")
    assert "is not signed" in refused.message and "trust_unverified=True" in refused.message
    assert T.calls_in(calls) == ["made", "made"]  # nothing ran again: the target was refused
    # opting in reads it (and so runs its code): the proof that the bytes were a trap
    trusting = store.make(trust_unverified=True)
    assert T.targets_flow(trusting).run(parameters={"calls": str(calls)}).is_successful()
    assert marker.exists()


def test_a_pickle_planted_at_a_cache_location_is_refused_unread(
    store: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls, marker = tmp_path / "calls.txt", tmp_path / "unpickled"
    result = store.make()
    flow = T.parameter_flow(result)
    parameters = {"n": 4, "calls": str(calls)}
    assert flow.run(parameters=parameters).is_successful()
    records = _records(store, result)
    assert records, "the first run wrote no cache record"
    for location in records:  # every record replaced by a trap, under its own name
        store.put_raw(result, location, T.planted_pickle(marker))
    with caplog.at_level(logging.WARNING, logger="headwater"):
        state = flow.run(parameters=parameters)
    assert state.is_successful()
    (task,) = flow.get_tasks("cached_double")
    assert not state.result[task].is_cached() and state.result[task].result == 8
    assert not marker.exists()
    assert len(T.calls_in(calls)) == 2
    assert "is not signed" in caplog.text and "trust_unverified=True" in caplog.text


def test_a_signed_target_copied_over_another_is_refused(store: Backend, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    result = store.make()
    flow = T.targets_flow(result)
    assert flow.run(parameters={"calls": str(calls)}).is_successful()
    store.put_raw(result, "targets/a.pkl", store.get_raw(result, "targets/b.pkl"))
    state = flow.run(parameters={"calls": str(calls)})
    (a,) = [t for t in flow.get_tasks("made") if flow.constants[t]["name"] == "a"]
    assert state.result[a].is_failed(), state.result[a]
    assert "written for the location 'targets/b.pkl', not 'targets/a.pkl'" in (
        state.result[a].message or ""
    )


def _records(store: Backend, result: FSSpecResult) -> list[str]:
    """Every cache record the Result's backend holds, listed around the engine."""
    fs, path = store.raw_fs(result, "headwater-cache")
    fs.invalidate_cache()
    base = path.strip("/")[: -len("headwater-cache")]
    found = [p.strip("/") for p in fs.find(path)]
    return [p[len(base) :] for p in found if p.endswith(".cache")]
