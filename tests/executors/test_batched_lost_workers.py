"""A batch of mapped children lost with its worker (docs/notices/0010-batched-maps.md): every
child of that batch is Crashed, by index; the other batches and the reduce's trigger go on."""

from __future__ import annotations

from headwater import Flow, unmapped
from headwater.executors import DaskExecutor
from headwater.model import states as S
from tests.flows import batched_flows as B
from tests.support.cluster import fragile_cluster


def test_a_lost_batch_crashes_its_children_and_the_rest_runs() -> None:
    with Flow("lost batch") as f:
        xs = B.die_at.map(list(range(8)), fatal=unmapped(5), batch_size=4)
        ys = B.plus_index.map(xs, batch_size=4)
        counted = B.count_finished(ys)
    with fragile_cluster() as client:
        state = f.run(executor=DaskExecutor(client=client))
    children = state.result[xs]
    assert children.counts() == {"Success": 4, "Crashed": 4}
    assert children.failed_indices() == [4, 5, 6, 7]
    assert "Task 'die_at'[4] was lost" in children.failures()[4]
    assert [c.result for c in children.children(range(4))] == [0, 1, 2, 3]
    after = state.result[ys]
    assert [type(c) for c in after.map_states] == [S.Success] * 4 + [S.TriggerFailed] * 4
    assert state.result[counted].result == 8  # all_finished: the reduce runs anyway
