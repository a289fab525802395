"""An executor wrapper that keeps a copy of every graph batch the flow runner submits, so
tests can check the compiled graph's shape (never its timing)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager
from typing import Any

from headwater.taskgraph import is_node


class RecordingExecutor:
    """Wraps an executor and keeps a copy of every batch the flow runner submits."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[dict[str, Any]] = []
        self.ships_values = getattr(inner, "ships_values", False)

    def start(self, setup: Any = None) -> AbstractContextManager[Any]:
        return self.inner.start(setup=setup)

    def submit(self, graph: Mapping[str, Any], annotations: Any = None) -> None:
        self.batches.append(dict(graph))
        self.inner.submit(graph, annotations)

    def wait_any(self, keys: Collection[str]) -> set[str]:
        return self.inner.wait_any(keys)

    def gather(self, keys: Collection[str]) -> dict[str, Any]:
        return self.inner.gather(keys)

    def release(self, keys: Collection[str]) -> None:
        self.inner.release(keys)

    def __getattr__(self, name: str) -> Any:
        # everything else (parallelism, gather_summaries, watch...) is the inner executor's,
        # so that a recorded run is planned as an unrecorded one
        return getattr(self.inner, name)

    def nodes(self) -> dict[str, tuple[Any, ...]]:
        """Every graph node submitted so far, by key (literals left out)."""
        return {k: v for b in self.batches for k, v in b.items() if is_node(v)}
