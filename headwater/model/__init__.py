"""What a user writes: tasks, flows, parameters, control flow, states, signals, triggers,
secrets, and the run context a task reads (docs/notices/0011-layout.md)."""
