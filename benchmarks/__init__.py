"""Benchmarks: the suite (``python benchmarks/suite.py``), its workloads, and single studies."""
