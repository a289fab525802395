"""Looking at flows and runs: DAG pictures (Graphviz), timelines, and HTML for Jupyter.

Nothing here is imported by ``import headwater``; ``Flow.visualize`` and the ``_repr_html_``
hooks import it when first used.
"""

from __future__ import annotations

from headwater.viz.graph import build_graph, visualize
from headwater.viz.html import flow_html, run_html, state_html
from headwater.viz.timeline import HTMLDocument, timeline

__all__ = [
    "HTMLDocument",
    "build_graph",
    "flow_html",
    "run_html",
    "state_html",
    "timeline",
    "visualize",
]
