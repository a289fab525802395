"""Pictures of a flow's DAG, drawn with Graphviz.

Design note
-----------
:func:`build_graph` turns a flow (and, optionally, a run's State) into a
``graphviz.Digraph``; :func:`visualize` adds the checks and the file. Drawing conventions:

- a task is a rounded box labelled with its name; a Parameter is an ellipse, a constant a
  small plain note;
- a mapped task is a *stack*: a box with a double border, labelled ``name ×N`` when a run
  says how many children it had;
- data edges carry the argument name, mapped edges are bold, flattened ones say so, and
  state-only edges (``upstream_tasks=``) are dashed;
- given a run's State, each node is filled with the color of its final state
  (:attr:`State.color`); a mapped task whose children ended in different states stays light,
  with a bar under its name striped by its children's states, in proportion (the name stays
  readable, and hovering a stripe says which state and how many).

The Graphviz ``dot`` program is needed to render anything. Its absence is reported once, as a
:class:`~headwater.errors.GraphvizNotFoundError` saying how to install it, not as the
``graphviz`` package's own error at display time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import GraphvizNotFoundError

if TYPE_CHECKING:
    from headwater.model.flow import Flow
    from headwater.model.states import State

INSTALL_HINT = (
    "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS) or `conda install graphviz`, so that `dot` is on the PATH"
)
"""How to get the ``dot`` program."""


def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError as exc:
        raise ImportError(
            "Drawing flows needs the 'graphviz' Python package: pip install graphviz "
            f"(and the Graphviz program itself: {INSTALL_HINT})"
        ) from exc
    return graphviz


def dot_available() -> bool:
    """Whether the Graphviz ``dot`` program can be run."""
    try:
        check_dot()
    except (GraphvizNotFoundError, ImportError):
        return False
    return True


def check_dot() -> None:
    """Check that the Graphviz ``dot`` program can be run.

    Raises:
        GraphvizNotFoundError: saying how to install it.
    """
    graphviz = _graphviz()
    try:
        graphviz.version()
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizNotFoundError(
            f"The Graphviz `dot` program was not found; {INSTALL_HINT}."
        ) from exc


def text_color(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (``#rrggbb``).

    >>> text_color("#2e7d32"), text_color("#ffeb3b")
    ('white', 'black')
    """
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "white"


def _label(text: str) -> Any:
    # Backslashes and <...> mean something to Graphviz (escapes, HTML labels): turn both off.
    return _graphviz().escape(text)


def build_graph(flow: Flow, flow_state: State | None = None) -> Any:
    """Return a ``graphviz.Digraph`` of ``flow``, colored by ``flow_state`` when given.

    Args:
        flow: the flow.
        flow_state: a run's State (what ``flow.run()`` returned).

    Raises:
        TypeError: when ``flow_state`` is not a flow run's State.
    """
    from headwater.runtime.records import is_flow_state

    graphviz = _graphviz()
    states: dict[Any, Any] = {}
    if flow_state is not None:
        if not is_flow_state(flow_state):
            raise TypeError(
                f"flow_state must be a flow run's State (what flow.run() returns), got {flow_state!r}"
            )
        states = dict(flow_state.result_object.value)
    g = graphviz.Digraph(name=_label(flow.name), comment=f"headwater flow {flow.name!r}")
    g.attr(rankdir="TB", fontname="Helvetica", label=_label(flow.name), labelloc="t")
    g.attr("node", fontname="Helvetica", fontsize="11", shape="box", style="rounded")
    g.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")
    for t in flow.tasks:
        label, html_label, attrs = _node_look(t, flow.is_mapped(t), states.get(t))
        g.node(_label(t.slug), html_label or _label(label), **attrs)
    for e in flow.edges:
        attrs = {}
        label = e.key or ""
        if e.mapped:
            attrs["penwidth"] = "2"
            label = f"{label} (mapped)".strip()
        if e.flattened:
            label = f"{label} (flattened)".strip()
        if e.key is None:
            attrs["style"] = "dashed"
        g.edge(
            _label(e.upstream_task.slug),
            _label(e.downstream_task.slug),
            label=_label(label),
            **attrs,
        )
    return g


def _node_look(t: Any, mapped: bool, state: Any) -> tuple[str, Any, dict[str, str]]:
    """A task's label, HTML label (a mapped task's stack of stripes, or None) and attributes:
    its shape by kind, its fill by state."""
    from headwater.model.builtin_tasks import Constant
    from headwater.model.parameter import Parameter
    from headwater.model.states import Mapped

    attrs: dict[str, str] = {}
    label = t.name
    styles = ["rounded"]
    if isinstance(t, Parameter):
        attrs["shape"] = "ellipse"
        styles = []
    elif isinstance(t, Constant):
        attrs.update(shape="note", fontsize="9")
        styles = []
    html_label = None
    if mapped:
        attrs["peripheries"] = "2"
        if isinstance(state, Mapped):
            label = f"{t.name} ×{len(state.map_states)}"
    if state is not None:
        styles.append("filled")
        attrs["tooltip"] = _label(f"{t.name}: {type(state).__name__}")
        attrs["fillcolor"] = state.color
        attrs["fontcolor"] = text_color(state.color)
        if isinstance(state, Mapped) and state.map_states:
            parts = _stripes(state)
            if len(parts) > 1:
                attrs["fillcolor"] = MIXED_FILL
                attrs["fontcolor"] = "black"
                html_label = _stack_label(label, parts)
                summary = ", ".join(f"{n} {name}" for name, _, n in parts)
                attrs["tooltip"] = _label(f"{t.name}: {summary}")
            elif parts:
                attrs["fillcolor"] = parts[0][1]
                attrs["fontcolor"] = text_color(parts[0][1])
    if styles:
        attrs["style"] = ",".join(styles)
    return label, html_label, attrs


MIXED_FILL = "#f5f5f5"
"""The fill of a mapped task whose children ended in different states."""

STRIPE_WIDTH = 120
"""The width, in points, of a mapped task's bar of children's states."""


def _stripes(state: Any) -> list[tuple[str, str, int]]:
    """(state name, color, count) of a mapped state's children, in order of first child."""
    counts: dict[str, int] = {}
    colors: dict[str, str] = {}
    for child in state.map_states:
        name = type(child).__name__
        counts[name] = counts.get(name, 0) + 1
        colors[name] = child.color
    return [(n, colors[n], c) for n, c in counts.items()]


def _stack_label(name: str, parts: list[tuple[str, str, int]]) -> str:
    """An HTML-like label: the name, and under it a bar striped by the children's states.

    >>> print(_stack_label("a<b ×4", [("Success", "#2e7d32", 3), ("Failed", "#c62828", 1)]))
    <<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR><TD COLSPAN="2" CELLPADDING="3">a&lt;b ×4</TD></TR><TR><TD BGCOLOR="#2e7d32" WIDTH="90" HEIGHT="7" FIXEDSIZE="TRUE" TITLE="3 Success"></TD><TD BGCOLOR="#c62828" WIDTH="30" HEIGHT="7" FIXEDSIZE="TRUE" TITLE="1 Failed"></TD></TR></TABLE>>
    """
    import html

    total = sum(n for _, _, n in parts)
    widths = [max(2, round(STRIPE_WIDTH * n / total)) for _, _, n in parts]
    cells = "".join(
        f'<TD BGCOLOR="{color}" WIDTH="{w}" HEIGHT="7" FIXEDSIZE="TRUE" '
        f'TITLE="{n} {html.escape(state)}"></TD>'
        for (state, color, n), w in zip(parts, widths, strict=True)
    )
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
        f'<TR><TD COLSPAN="{len(parts)}" CELLPADDING="3">{html.escape(name)}</TD></TR>'
        f"<TR>{cells}</TR></TABLE>>"
    )


def visualize(
    flow: Flow,
    flow_state: State | None = None,
    filename: str | os.PathLike[str] | None = None,
    format: str = "svg",
) -> Any:
    """Draw ``flow`` with Graphviz: tasks as nodes, mapped tasks as stacks, colored by
    their final states when a run's State is given.

    Args:
        flow: the flow.
        flow_state: a run's State (what ``flow.run()`` returned), to color the tasks.
        filename: write the picture to this file (exactly this name).
        format: the picture's format when written: ``svg``, ``png``, ``pdf``, ``dot``...

    Returns:
        The ``graphviz.Digraph``; Jupyter displays it as a picture.

    Raises:
        GraphvizNotFoundError: when the ``dot`` program is not installed.
        TypeError: when ``flow_state`` is not a flow run's State.
    """
    graph = build_graph(flow, flow_state)
    check_dot()
    if filename is not None:
        data = graph.pipe(format=format)
        Path(filename).write_bytes(data)
    return graph


def svg(flow: Flow, flow_state: State | None = None) -> str:
    """Return the flow's picture as SVG text (for embedding in HTML).

    Raises:
        GraphvizNotFoundError: when the ``dot`` program is not installed.
    """
    graph = build_graph(flow, flow_state)
    check_dot()
    text: str = graph.pipe(format="svg", encoding="utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


__all__ = ["INSTALL_HINT", "build_graph", "check_dot", "dot_available", "svg", "visualize"]
