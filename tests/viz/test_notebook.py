"""In a real Jupyter kernel (nbclient + ipykernel): flows, runs and timelines display as HTML,
and the example notebook runs a flow on a Dask cluster."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from headwater.model.states import Skipped, Success

ROOT = Path(__file__).resolve().parents[2]

CELLS = [
    "from tests.flows import observed\n"
    "state = observed.etl.run(parameters={'n': 4, 'fail_at': 1, 'token': observed.SECRET})",
    "observed.etl",
    "state",
    "state.result[observed.ys].map_states[1]",
    "from headwater.viz import timeline\ntimeline(state)",
    "observed.etl.visualize(flow_state=state)",
    "from headwater.runtime import journal\njournal.load_run(journal.list_runs()[0].run_id)",
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


EXAMPLE = ROOT / "examples" / "dask_in_jupyter.ipynb"


def _cell(nb: Any, start: str) -> Any:
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)]
    return cell


def _result(cell: Any, mime: str) -> str:
    (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return str(out.data[mime])


def _state_of(html: str, task: str) -> str:
    found = re.search(rf"<b>{task}</b></td><td[^>]*><span[^>]*>(\w+)</span>", html)
    assert found, f"no row for task {task!r}"
    return found.group(1)


def test_the_dask_example_notebook_runs_on_a_real_kernel(
    journal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/dask_in_jupyter.ipynb: a LocalCluster, a Client, a flow run on
    DaskExecutor(client=client) with its progress widget and worker logs, the DAG, the
    timeline, and the cluster closed."""
    monkeypatch.setenv("HEADWATER_PROGRESS", "true")  # CI sets CI=true, which turns it off
    nb = nbformat.read(EXAMPLE, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLE.parent)}},
    )
    client.execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, errors
    assert _cell(nb, "import sys").outputs[0].text.strip() == sys.executable  # the venv's kernel
    assert _result(_cell(nb, "from distributed"), "text/plain") == "2"  # two workers

    flow_html = _result(_cell(nb, "from headwater import Flow"), "text/html")
    assert "<b>Flow squares</b>" in flow_html and "<svg" in flow_html

    run = _cell(nb, "state = squares.run")
    html = _result(run, "text/html")
    assert "All reference tasks succeeded." in html
    assert "Success: 13" in html and "Skipped: 2" in html and "15 task runs" in html
    for task, state in [("total", "Success"), ("celebrate", "Success"), ("shrug", "Skipped")]:
        assert _state_of(html, task) == state, task
    assert all(f"square[{i}]" in html for i in range(5))
    # the worker's log lines, shown under the cell that ran the flow
    logs = "".join(o.text for o in run.outputs if o.output_type == "stream")
    for i in range(5):
        assert f"| INFO    | squares/square[{i}] | squaring {i + 1}" in logs, logs
    # the progress bar is a widget; its final text is in the saved widget state
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in run.outputs)
    widgets = json.dumps(nb.metadata["widgets"])
    assert "15/15" in widgets and "Success=13\\u2007Failed=0\\u2007Skipped=2" in widgets

    assert _result(_cell(nb, "state.result"), "text/plain") == "(55, 'big: 55')"
    picture = _result(_cell(nb, "squares.visualize"), "image/svg+xml")
    for name in ("square ×5", "numbers", "total", "celebrate", "shrug", "merge"):
        assert f">{name}</text>" in picture, name
    assert Success.color in picture and Skipped.color in picture
    chart = _result(_cell(nb, "from headwater.viz import timeline"), "text/html")
    assert 'data-task="square[4]"' in chart and 'data-state="Skipped"' in chart


ASYNC_CELLS = [
    "import asyncio\n"
    "from headwater import Flow, task\n"
    "from headwater.executors import LocalDaskExecutor\n"
    "print('loop running:', asyncio.get_running_loop().is_running())",
    "@task\n"
    "async def fetch(x):\n"
    "    await asyncio.sleep(0.01)\n"
    "    return x * 2\n"
    "\n"
    "@task(timeout=5, max_retries=1)\n"
    "async def fetch_in_time(x):\n"
    "    await asyncio.sleep(0.01)\n"
    "    return x + 100\n"
    "\n"
    "with Flow('async-in-a-notebook') as f:\n"
    "    ys = fetch.map([1, 2, 3])\n"
    "    z = fetch_in_time(1)",
    "state = f.run()\n"
    "print('local', [c.result for c in state.result[ys].map_states], state.result[z].result)",
    "state = f.run(executor=LocalDaskExecutor('threads', num_workers=2))\n"
    "print('threads', [c.result for c in state.result[ys].map_states], state.result[z].result)",
]


def test_an_async_task_runs_in_a_notebook() -> None:
    """A kernel's main thread runs an event loop (so asyncio.run would raise there): async
    tasks are awaited in a loop of their own, with and without a timeout."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in ASYNC_CELLS]
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], outputs
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    assert "loop running: True" in printed
    assert "local [2, 4, 6] 101" in printed
    assert "threads [2, 4, 6] 101" in printed


BENCH = ROOT / "examples" / "bench_in_jupyter.ipynb"


def test_the_bench_example_notebook_measures_three_executors_on_a_real_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """examples/bench_in_jupyter.ipynb: headwater.bench on local, threads and a Dask cluster
    through the notebook's client; the result shows its table and one timeline per executor."""
    monkeypatch.setenv("HEADWATER_PROGRESS", "true")
    nb = nbformat.read(BENCH, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(BENCH.parent)}}
    )
    client.execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, errors
    shown = _result(_cell(nb, "import headwater"), "text/html")
    assert "Benchmark of flow squares" in shown and "Problems" not in shown
    for label in ("local", "threads", "dask"):
        assert f'id="executor-{label}"' in shown, label
    assert shown.count('class="headwater-timeline"') == 3
    assert 'data-task="slow_square[7]"' in shown
    text = "".join(o.text for o in _cell(nb, "print(result.table())").outputs)
    assert [line.split()[-1] for line in text.splitlines()[4:7]] == ["reference", "same", "same"]
    assert _result(_cell(nb, "result.ok"), "text/plain") == "(True, [])"
    concurrency, runs, children = eval(_result(_cell(nb, 'row = result.row("dask")'), "text/plain"))
    assert 0 < concurrency <= 1 and (runs, children) == (12, 8)
