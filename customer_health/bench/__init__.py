"""Benchmark harness (issue #7): workloads, stage timings, peers, incremental run, report.

``run_bench(customers, events, repeat, out)`` is what ``customer-health bench`` calls;
``print_bench(console, report)`` prints its targets table.
"""

from customer_health.bench.bench import run_bench
from customer_health.bench.report import BenchReport, print_bench

__all__ = ["BenchReport", "print_bench", "run_bench"]
