"""Benchmarks of the task queue (issue 7): cost, depth scaling, contention, cold start and
handler overhead, each beside a naive baseline where one applies. Run with `make bench`."""
