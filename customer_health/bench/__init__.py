"""Benchmark harness (issue #7): workloads, stage timings, peers, incremental run, report."""
