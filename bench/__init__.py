"""Benchmarks: scripts that print their figures and the command that made them (see docs/benchmarks.md)."""
