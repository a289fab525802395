"""Tests of headwater.results: one conformance suite over every backend, and the parts."""
