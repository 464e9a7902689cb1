"""The benchmark harness behind `make bench` and `make bench-smoke` (see BENCHMARKS.md)."""
