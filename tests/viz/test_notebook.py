"""In a real Jupyter kernel (nbclient + ipykernel): flows, runs and timelines display as HTML."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]

CELLS = [
    "from tests.flows import observed\n"
    "state = observed.etl.run(parameters={'n': 4, 'fail_at': 1, 'token': observed.SECRET})",
    "observed.etl",
    "state",
    "state.result[observed.ys].map_states[1]",
    "from headwater.viz import timeline\ntimeline(state)",
    "observed.etl.visualize(flow_state=state)",
    "from headwater import journal\njournal.load_run(journal.list_runs()[0].run_id)",
]


def test_rich_display_in_a_notebook(journal_dir: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    outputs = [cell.outputs for cell in nb.cells]
    errors = [o for out in outputs for o in out if o.output_type == "error"]
    assert not errors, errors
    html = [
        next((o.data.get("text/html", "") for o in out if o.output_type == "execute_result"), "")
        for out in outputs
    ]
    flow, run, task, chart, picture, journaled = (
        html[1],
        html[2],
        html[3],
        html[4],
        outputs[5],
        html[6],
    )
    assert "<b>Flow etl</b>" in flow and "<svg" in flow
    assert "Failed: 1" in run and "transform[1]" in run and 'class="headwater-timeline"' in run
    assert "Failed" in task and "ValueError" in task
    assert (
        chart.startswith('<div class="headwater-timeline"') and 'data-task="transform[1]"' in chart
    )
    (result,) = [o for o in picture if o.output_type == "execute_result"]
    assert "image/svg+xml" in result.data and "transform ×4" in result.data["image/svg+xml"]
    assert "transform[1]" in journaled
    everything = str(outputs)
    assert observed_secret() not in everything


def observed_secret() -> str:
    from tests.flows.observed import SECRET

    return SECRET
