"""The runtime around a run: choosing the executor, run hooks (progress, journal, redaction),
the schedule loop, logs (docs/notices/0011-layout.md)."""
