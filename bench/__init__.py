"""Benchmarks at production scale (see bench/README.md). Run from the repository root: python -m bench.<name>."""
