"""With the storage down, each storage operation gives up within seconds and says the
storage is unreachable (issue 12.15): moto's real S3 server is stopped mid-run."""

from __future__ import annotations

import statistics
import threading
from typing import Any

from headwater.results import S3Result
from tests.flows import trust as T
from tests.support import servers

TASKS = 6


def test_with_s3_down_each_checkpoint_fails_within_seconds_naming_the_outage(
    cloud_env: dict[str, str],
) -> None:
    box: dict[str, Any] = {}
    T.STARTED.clear()
    T.GO.clear()
    with servers.start_moto() as server:
        server.create_bucket("storage-down")
        flow = T.storage_down_flow(S3Result("storage-down/run", endpoint_url=server.url), TASKS)
        runner = threading.Thread(target=lambda: box.update(state=flow.run()), daemon=True)
        runner.start()
        try:
            assert T.STARTED.wait(60), "the flow did not start"
            server.stop()  # the first checkpoint is written; every one after it fails
        finally:
            T.GO.set()
            runner.join(600)
    assert not runner.is_alive()
    state = box["state"]
    (first,) = flow.get_tasks("first_write")
    assert state.result[first].is_successful()
    failed = [state.result[t] for t in flow.get_tasks("stored")]
    assert len(failed) == TASKS and all(s.is_failed() for s in failed), failed
    for s in failed:
        assert "the storage is down or unreachable" in (s.message or ""), s.message
        assert "gave up after 2 attempts" in s.message and server.url in s.message
    # botocore's own retries around s3fs's took 5-11 s per operation; bounded, about one
    durations = [s.run_info.duration for s in failed]
    assert statistics.median(durations) < 4.5, durations
