"""Benchmark peers: other software doing the same job, each in its own virtual environment (never a dependency)."""
