"""Benchmarks: each runs on an engine and returns data; the CLI renders it."""
