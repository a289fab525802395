"""A batch of mapped children lost with its worker (docs/notices/0010-batched-maps.md) runs
again split, one child per node: only the child that kills its worker is Crashed, by index;
its siblings, the other batches and the reduce's trigger go on."""

from __future__ import annotations

from headwater import Flow, unmapped
from headwater.executors import DaskExecutor
from headwater.model import states as S
from tests.flows import batched_flows as B
from tests.support.cluster import fragile_cluster


def test_a_lost_batch_crashes_only_the_child_that_kills_its_worker() -> None:
    with Flow("lost batch") as f:
        xs = B.die_at.map(list(range(8)), fatal=unmapped(5), batch_size=4)
        ys = B.plus_index.map(xs, batch_size=4)
        counted = B.count_finished(ys)
    with fragile_cluster() as client:
        state = f.run(executor=DaskExecutor(client=client))
    children = state.result[xs]
    assert children.counts() == {"Success": 7, "Crashed": 1}
    assert children.failed_indices() == [5]
    assert "Task 'die_at'[5] was lost (lost 2 times): KilledWorker" in children.failures()[5]
    assert [c.result for c in children.children([0, 1, 2, 3, 4, 6, 7])] == [0, 1, 2, 3, 4, 6, 7]
    after = state.result[ys]
    assert [type(c) for c in after.map_states] == [S.Success] * 5 + [S.TriggerFailed] + [
        S.Success
    ] * 2
    assert state.result[counted].result == 8  # all_finished: the reduce runs anyway
