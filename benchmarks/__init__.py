"""Benchmarks against the alternatives; not part of the test suite."""
