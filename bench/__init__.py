"""Benchmark scripts that print figures; tests never assert on time (docs/architecture.md)."""
