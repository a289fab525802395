"""Storage servers for the trust tests: the same session fixtures as tests/results (moto's S3
server and the GCS emulator, started only when a test asks for them)."""

from __future__ import annotations

from tests.results.conftest import cloud_env, gcs, moto

__all__ = ["cloud_env", "gcs", "moto"]
