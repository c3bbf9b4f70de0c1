"""Benchmarks: ``python -m benchmarks`` prints one table (see harness.py)."""
