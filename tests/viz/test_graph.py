"""flow.visualize: Graphviz pictures of the DAG, colored by a run's states."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from headwater.errors import GraphvizNotFoundError
from headwater.model.states import Failed, Mapped, State, Success, TriggerFailed
from headwater.viz.graph import build_graph, dot_available, svg
from tests.flows import observed


def test_the_picture_has_every_task_and_edge() -> None:
    text = svg(observed.etl)
    for name in ("extract", "transform", "load", "token", "fail_at"):
        assert f">{name}<" in text, name
    assert "x (mapped)" in text and ">ys<" in text
    source = build_graph(observed.etl).source
    assert "peripheries=2" in source  # the mapped task is drawn as a stack
    assert "shape=ellipse" in source  # parameters


def test_a_run_colors_tasks_by_state_and_stripes_a_map(failed_run: State) -> None:
    source = build_graph(observed.etl, failed_run).source
    assert f'fillcolor="{Success.color}"' in source
    assert f'fillcolor="{TriggerFailed.color}"' in source
    mapped = failed_run.result[observed.ys]
    assert isinstance(mapped, Mapped) and len(mapped.map_states) == 5
    # a light stack, the name readable, over a bar striped 4:1 by the children's states
    assert f'BGCOLOR="{Success.color}" WIDTH="96"' in source and 'TITLE="4 Success"' in source
    assert f'BGCOLOR="{Failed.color}" WIDTH="24"' in source and 'TITLE="1 Failed"' in source
    assert "transform ×5</TD>" in source and "transform: 4 Success, 1 Failed" in source
    assert source.count("peripheries=2") == 1  # still drawn as a stack
    text = svg(observed.etl, failed_run)
    assert Success.color in text and TriggerFailed.color in text


def test_visualize_writes_the_file_in_the_format_asked(tmp_path: Path, failed_run: State) -> None:
    png = tmp_path / "dag.png"
    graph = observed.etl.visualize(flow_state=failed_run, filename=str(png), format="png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "transform" in graph.source
    out = tmp_path / "dag.svg"
    observed.etl.visualize(filename=str(out))
    assert out.read_text().lstrip().startswith("<?xml") and "extract" in out.read_text()


def test_a_missing_dot_program_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a real run of graphviz, with no `dot` to find
    with pytest.raises(
        GraphvizNotFoundError,
        match="apt-get install graphviz.*brew install graphviz.*conda install graphviz",
    ):
        observed.etl.visualize()
    assert not dot_available()


def test_a_state_that_is_not_a_flow_run_is_refused() -> None:
    with pytest.raises(TypeError, match="flow run's State"):
        observed.etl.visualize(flow_state=Success("one task"))


def test_names_with_graphviz_and_html_characters_survive(tmp_path: Path) -> None:
    from headwater import Flow, task

    @task(name='a<b>&"c\\d')
    def odd() -> int:
        return 1

    with Flow("odd <flow>") as f:
        odd()
    text = svg(f)
    assert "a&lt;b&gt;&amp;&quot;c\\d" in text
    assert shutil.which("dot") is not None
    dot_file = tmp_path / "odd.dot"
    dot_file.write_text(build_graph(f).source)
    subprocess.run(["dot", "-Tsvg", str(dot_file)], check=True, capture_output=True)
