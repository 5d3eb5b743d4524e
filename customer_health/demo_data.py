"""Demo data generator (public entry point; the implementation lives in ``customer_health.demo``)."""

from customer_health.demo import DemoSummary, SimParams, generate_demo_data

__all__ = ["DemoSummary", "SimParams", "generate_demo_data"]
