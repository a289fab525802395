"""The engine that runs a flow: the runner pipeline, the planner, the flow runner, graph nodes,
batches, caching (docs/notices/0011-layout.md)."""
